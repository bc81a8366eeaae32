"""Languages: Flask-Babel with English (the source strings) and German.

The locale of a request is, in this order: the logged-in member's setting, a
`lang` query parameter, the `lang` cookie set by the language switcher, the
browser's Accept-Language, English.

Catalogues live as .po files in portal/translations/ (edited by people) and are
compiled to .mo files under the instance folder when the app starts and a .po
is newer than its .mo, so `make run`, `make test` and a fresh checkout need no
extra step (`pybabel compile` is not required).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, request
from flask_babel import Babel
from flask_login import current_user

LANGUAGES = {"en": "English", "de": "Deutsch"}
LANG_COOKIE = "lang"
SOURCE_DIR = Path(__file__).parent / "translations"

babel = Babel()


def select_locale() -> str:
    member_locale = getattr(current_user, "locale", None) if _member_logged_in() else None
    if member_locale in LANGUAGES:
        return member_locale
    for candidate in (request.args.get("lang"), request.cookies.get(LANG_COOKIE)):
        if candidate in LANGUAGES:
            return candidate
    return request.accept_languages.best_match(list(LANGUAGES)) or "en"


def _member_logged_in() -> bool:
    try:
        return bool(current_user and current_user.is_authenticated and getattr(current_user, "kind", "") == "member")
    except Exception:  # outside a request or before login is set up
        return False


def compile_catalogs(source: Path, target: Path) -> list[str]:
    """Compile every <lang>/LC_MESSAGES/messages.po under source into target when stale."""
    compiled = []
    for po_path in sorted(source.glob("*/LC_MESSAGES/*.po")):
        mo_path = target / po_path.relative_to(source).with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=po_path.parts[-3])
        # Write aside and rename: several workers may start at once.
        fd, tmp_name = tempfile.mkstemp(dir=mo_path.parent, suffix=".mo.tmp")
        with os.fdopen(fd, "wb") as handle:
            write_mo(handle, catalog, use_fuzzy=False)
        os.replace(tmp_name, mo_path)
        compiled.append(str(mo_path))
    return compiled


def init_app(app: Flask) -> None:
    target = Path(app.instance_path) / "translations"
    compile_catalogs(SOURCE_DIR, target)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(target))
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    babel.init_app(app, locale_selector=select_locale)

    @app.context_processor
    def languages():
        return {"LANGUAGES": LANGUAGES}
