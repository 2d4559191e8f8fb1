"""The dashboard's messages: extract them, check the catalogs, add what one is missing.

Usage::

    python tools/ui_messages.py check              # every message translated in zh_CN and en
    python tools/ui_messages.py add AREA FILE...   # append FILEs' untranslated messages to
                                                   # locale/<lang>/LC_MESSAGES/AREA.po (empty)

Messages are found in the templates (``_()``, ``gettext``, ``ngettext``) and in the dashboard's
Python modules (``N_()``, ``gettext()``, ``page.gettext()``). A catalog entry counts as
translated when its ``msgstr`` is not empty and it is not fuzzy; the English catalogs repeat the
English message (complete catalogs in both languages: no page falls back silently).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
UI = ROOT / "src" / "shuangtan" / "web" / "ui"
LOCALES = ("zh_CN", "en")
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}


def sources() -> list[Path]:
    """The files messages are extracted from."""
    return sorted(UI.glob("templates/**/*.html")) + sorted(UI.glob("*.py"))


def extract(paths: Iterable[Path]) -> dict[str, list[str]]:
    """Message id → where it is used (``file:line``)."""
    found: dict[str, list[str]] = {}
    for path in paths:
        method = "jinja2.ext:babel_extract" if path.suffix == ".html" else "python"
        options = {"extensions": "jinja2.ext.i18n"} if path.suffix == ".html" else {}
        for line, message, _comments, _context in extract_from_file(
            method, str(path), keywords=KEYWORDS, options=options
        ):
            ids = message if isinstance(message, tuple) else (message,)
            for msgid in ids:
                if msgid:
                    found.setdefault(msgid, []).append(f"{path.relative_to(ROOT)}:{line}")
    return found


def catalog_entries(locale: str) -> dict[str, str]:
    """Message id → translation, over every ``.po`` of ``locale`` (fuzzy ones left out)."""
    out: dict[str, str] = {}
    for po in sorted((UI / "locale" / locale / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as f:
            catalog = read_po(f, locale=locale)
        for message in catalog:
            if message.id and not message.fuzzy:
                raw = message.string
                text = raw if isinstance(raw, str) else (raw[0] if raw else "")
                if text:
                    out[str(message.id)] = text
    return out


def missing() -> dict[str, list[str]]:
    """Locale → message ids used but not translated in it."""
    used = extract(sources())
    out = {}
    for locale in LOCALES:
        have = catalog_entries(locale)
        out[locale] = sorted(m for m in used if m not in have)
    return out


def add(area: str, paths: list[Path]) -> None:
    """Append the untranslated messages of ``paths`` to each locale's ``area.po``."""
    used = extract(paths)
    for locale in LOCALES:
        po = UI / "locale" / locale / "LC_MESSAGES" / f"{area}.po"
        if po.exists():
            with po.open("rb") as f:
                catalog = read_po(f, locale=locale)
        else:
            catalog = Catalog(locale=locale, project="shuangtan", charset="utf-8")
        have = catalog_entries(locale)
        for msgid, where in used.items():
            if msgid not in have and msgid not in catalog:
                catalog.add(
                    msgid,
                    msgid if locale == "en" else "",
                    locations=[(w.rsplit(":", 1)[0], int(w.rsplit(":", 1)[1])) for w in where],
                )
        po.parent.mkdir(parents=True, exist_ok=True)
        with po.open("wb") as f:
            write_po(f, catalog, width=100, omit_header=False, sort_output=False)


def main(argv: list[str]) -> int:
    if argv[:1] == ["check"]:
        gaps = missing()
        for locale, ids in gaps.items():
            for msgid in ids:
                print(f"{locale}: not translated: {msgid!r}")
        return 1 if any(gaps.values()) else 0
    if len(argv) >= 3 and argv[0] == "add":
        add(argv[1], [Path(p).resolve() for p in argv[2:]])
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
