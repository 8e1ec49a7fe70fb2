"""UI language: Chinese first, English on request. Generated documents stay Chinese.

The choice is kept in the session and, for a logged-in user, in the user_preference side table
(a preference is not history, so it is not an event). Order: the user's preference, the session,
then Accept-Language only when it puts English first; otherwise zh_CN.
"""

from flask import request, session
from flask_login import current_user

from . import db

LOCALES = ("zh_CN", "en")
DEFAULT = "zh_CN"


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


def select_locale() -> str:
    try:
        if current_user and current_user.is_authenticated:
            chosen = preference(current_user.get_id())
            if chosen:
                return chosen
    except Exception:  # no request user yet (e.g. during error pages)
        pass
    if session.get("lang") in LOCALES:
        return session["lang"]
    best = request.accept_languages.best if request else None
    if best and best.lower().startswith("en"):
        return "en"
    return DEFAULT


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
