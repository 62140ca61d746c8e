"""Chinese first, English switch: every text a template marks for translation has an English form."""

from __future__ import annotations

import re
from pathlib import Path

from gongshu.web.i18n import catalog

SRC = Path(__file__).resolve().parents[2] / "src" / "gongshu"
MARKED = re.compile(r"""_\(\s*(["'])(.+?)\1\s*\)""")


def test_every_template_text_has_english():
    english = catalog("en")
    missing = set()
    for tpl in SRC.glob("**/templates/**/*.html"):
        for _q, msg in MARKED.findall(tpl.read_text(encoding="utf-8")):
            if msg not in english:
                missing.add(f"{tpl.relative_to(SRC)}: {msg}")
    assert not missing, "add these to locale/en/LC_MESSAGES/messages.po:\n" + "\n".join(sorted(missing))
