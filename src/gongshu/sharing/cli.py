"""``gongshu sharing …``: sharing commands a consumer can run offline."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gongshu.errors import GongshuError
from gongshu.sharing.service import exchange


@click.group("sharing")
def group() -> None:
    """Data sharing (数据共享)."""


def _key(value: str | None) -> str | None:
    """``@file`` reads the key from a file (PEM or hex); anything else is the key itself."""
    if value and value.startswith("@"):
        try:
            return Path(value[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise click.BadParameter(f"无法读取公钥文件 · cannot read the key file: {exc}") from None
    return value


@group.command("verify-package")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--public-key", "public_key", default=None,
              help="the platform's SM2 public key: hex 04‖x‖y, PEM, or @file (default: the one in the manifest)")
def verify_package(manifest: Path, file: Path, public_key: str | None) -> None:
    """Verify an exchange package offline: the SM2 signature of MANIFEST and the SM3 digest of FILE.

    Exit 0 when both hold, 1 when either fails, 2 when the input cannot be read."""
    try:
        check, pinned = exchange.verify_files(manifest, file, _key(public_key))
    except GongshuError as exc:
        click.echo(f"{exc.message}\n{exc.message_en}", err=True)
        sys.exit(2)
    m = check.manifest
    click.echo(f"数据包 · package {m.get('package_id')}  {m.get('kind')} {m.get('file_format')}  "
               f"{m.get('rows')} 行 · rows  授权 · grant {(m.get('grant') or {}).get('id')}")
    click.echo(f"文件 SM3 · file SM3: {check.file_sm3}")
    if not pinned:
        click.echo("注意：公钥取自清单本身，只证明清单与文件一致；请用平台公布的公钥（--public-key）核对签发者。\n"
                   "Note: the public key was taken from the manifest itself, which proves integrity only; verify "
                   "the signer with the platform's published key (--public-key).")
    if check.ok:
        click.echo(f"验证通过：签名有效（密钥 {(m.get('signer') or {}).get('key_id')}），文件完整。\n"
                   "Verified: the signature is valid and the file is intact.")
        sys.exit(0)
    for p in check.problems:
        click.echo(f"[{p['code']}] {p['message']}\n    {p['message_en']}")
    click.echo("验证失败 · verification FAILED")
    sys.exit(1)
