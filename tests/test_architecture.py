"""House rules checked by the suite: import contracts, lint, documented actions and commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from gongshu.app import create_app
from gongshu.auth.actions import ACTIONS
from gongshu.cli import main

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_import_contracts():
    r = subprocess.run([str(BIN / "lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_ruff_clean():
    r = subprocess.run([str(BIN / "ruff"), "check", "src", "tests", "benchmarks"], cwd=ROOT, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_action_is_documented():
    create_app(check_db=False, run_jobs=False)  # imports every domain, so every action is declared
    doc = (ROOT / "docs" / "actions.md").read_text(encoding="utf-8")
    missing = [a for a in ACTIONS if f"`{a}`" not in doc and not a.startswith("test.")]
    assert not missing, f"actions missing from docs/actions.md: {missing}"


def _commands(group: click.Group, prefix: str = "gongshu") -> list[str]:
    out = []
    for name, cmd in group.commands.items():
        full = f"{prefix} {name}"
        out.append(full)
        if isinstance(cmd, click.Group):
            out.extend(_commands(cmd, full))
    return out


def test_every_cli_command_is_documented():
    doc = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    missing = [c for c in _commands(main) if f"`{c}" not in doc]
    assert not missing, f"commands missing from docs/cli.md: {missing}"


def test_every_setting_is_documented():
    from gongshu.config import Settings

    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = [n for n in Settings.model_fields if f"GONGSHU_{n.upper()}" not in doc]
    assert not missing, f"settings missing from docs/configuration.md: {missing}"
