"""Chinese first, English on request.

Message ids are the Chinese texts; ``locale/en/LC_MESSAGES/messages.po`` holds the
English.  Babel reads the catalogue at start-up (no compile step), and Jinja's i18n
extension uses it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from babel.messages.pofile import read_po

LOCALES = ("zh_CN", "en")
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"


@lru_cache
def catalog(locale: str) -> dict[str, str]:
    if locale == "zh_CN":
        return {}
    path = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        po = read_po(fh, locale=locale)
    return {m.id: m.string for m in po if m.id and m.string and isinstance(m.id, str)}


class Translator:
    def __init__(self, locale: str) -> None:
        self.locale = locale if locale in LOCALES else "zh_CN"
        self._msgs = catalog(self.locale)

    def gettext(self, message: str) -> str:
        return self._msgs.get(message, message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.gettext(singular if n == 1 else plural)

    def pick(self, zh: str, en: str) -> str:
        """Choose between a pair of texts (e.g. an error's message and message_en)."""
        return en if self.locale == "en" else zh
