"""UI language: Chinese first, English on request. Generated documents stay Chinese.

The choice is kept in the session and, for a logged-in user, in the user_preference side table
(a preference is not history, so it is not an event). Order: the user's preference, the session,
then Accept-Language only when it puts English first; otherwise zh_CN.
"""

from babel import Locale
from flask import g, request, session
from flask_babel import get_translations
from flask_login import current_user

from . import db

LOCALES = ("zh_CN", "en")
DEFAULT = "zh_CN"
# Parsed once: Flask-Babel parses whatever the selector returns on every request (a Locale
# passes through), and parsing checks the locale data files on disk each time.
_PARSED = {code: Locale.parse(code) for code in LOCALES}


def N_(message: str) -> str:
    """Mark a string for the catalogue without translating it (usable without a request)."""
    return message


def preference(username: str) -> str | None:
    row = db.fetchone("SELECT locale FROM user_preference WHERE username = ?", (username,))
    return row[0] if row and row[0] in LOCALES else None


def set_preference(username: str, locale: str, at: str) -> None:
    with db.writer_transaction():
        db.execute("DELETE FROM user_preference WHERE username = ?", (username,))
        db.execute(
            "INSERT INTO user_preference (username, locale, updated_at) VALUES (?, ?, ?)",
            (username, locale, at),
        )


def select_locale() -> Locale:
    try:
        if current_user and current_user.is_authenticated:
            chosen = preference(current_user.get_id())
            if chosen:
                return _PARSED[chosen]
    except Exception:  # no request user yet (e.g. during error pages)
        pass
    if session.get("lang") in LOCALES:
        return _PARSED[session["lang"]]
    best = request.accept_languages.best if request else None
    if best and best.lower().startswith("en"):
        return _PARSED["en"]
    return _PARSED[DEFAULT]


def install_template_gettext(jinja_env) -> None:
    """Templates look the catalogue up once per request: Flask-Babel's own callables find the
    context, the locale and the cached catalogue again for every string (about half the time
    of rendering a page with a hundred strings). The one request that changes the language,
    the switch, renders nothing after the change: it redirects."""

    def translations():
        found = g.get("_translations")
        if found is None:
            found = g._translations = get_translations()
        return found

    jinja_env.install_gettext_callables(
        gettext=lambda s: translations().ugettext(s),
        ngettext=lambda s, p, n: translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: translations().unpgettext(c, s, p, n),
    )


def html_lang(locale) -> str:
    return "en" if str(locale) == "en" else "zh-CN"


def ensure_compiled(root) -> None:
    """Compile translations/*/LC_MESSAGES/messages.po to .mo when missing or older (make does it too)."""
    from pathlib import Path

    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in Path(root, "translations").glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        try:
            with open(po, "rb") as f:
                catalog = read_po(f)
            tmp = mo.with_suffix(".mo.tmp")
            with open(tmp, "wb") as f:
                write_mo(f, catalog)
            tmp.replace(mo)
        except OSError:  # a read-only install: make compiled it beforehand
            pass
