"""UI language: Chinese first, English on request. Generated documents stay Chinese.

The choice is kept in the session and, for a logged-in user, in the user_preference side table
(a preference is not history, so it is not an event). Order: the user's preference, the session,
then Accept-Language only when it puts English first; otherwise zh_CN.
"""

from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel import Locale
from babel.support import NullTranslations, Translations
from flask import g, has_request_context, request, session
from flask_babel import get_locale
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


def _(message: str, **params) -> str:
    """A message in the current language, its %(name)s places filled from `params`.

    The current language is the request's, or the one a `language()` block sets; outside both
    (the CLI, background jobs) it is Chinese: the catalogue's msgids are the Chinese text. Use
    N_ for module-level constants and translate them where they are shown."""
    message = _active().ugettext(message)
    return message % params if params else message


def later(message: str, **params) -> dict:
    """A message to translate when it is shown, not when it is made: for text stored in a
    projection (inbox notifications), which is written during one user's request and read by
    others in their own language. A parameter may itself be a `later` message."""
    return {"id": message, "params": params}


def render(message: dict, translate: bool = True) -> str:
    """A `later` message as text: in the current language, or (translate=False) the Chinese it
    was written in, which is what the stored text carries."""
    params = {
        key: render(value, translate) if isinstance(value, dict) else value
        for key, value in message["params"].items()
    }
    msgid = message["id"]
    text = _(msgid) if translate else msgid
    return text % params if params else text


def pgettext(context: str, message: str, **params) -> str:
    """`_` for a msgid that means different things in different places (e.g. 活动: a campaign,
    or, in the evidence context, an activity record)."""
    message = _active().upgettext(context, message)
    return message % params if params else message


# The language a `language()` block chose: (code, catalogue), or None to follow the request.
_CHOSEN: ContextVar[tuple[str, NullTranslations] | None] = ContextVar("language", default=None)


@contextmanager
def language(code: str):
    """Translate into `code` inside the block, with or without a request: an e-mail in its
    recipient's language, a document in Chinese."""
    token = _CHOSEN.set((code, _catalogue(code)))
    try:
        yield
    finally:
        _CHOSEN.reset(token)


def documents_language():
    """Generated documents (PDF, Word, spreadsheets) stay Chinese whatever the UI language.
    Every route that returns a file is decorated with it (`@documents_language()`), as is a
    builder that pages read too (the booklet's cache key)."""
    return language(DEFAULT)


def current_language() -> str:
    chosen = _CHOSEN.get()
    if chosen is not None:
        return chosen[0]
    if has_request_context():
        return str(get_locale())
    return DEFAULT


def is_english() -> bool:
    return current_language() == "en"


def _active() -> NullTranslations:
    chosen = _CHOSEN.get()
    if chosen is not None:
        return chosen[1]
    if has_request_context():
        return _translations()
    return _catalogue(DEFAULT)


def _translations():
    """The request's catalogue, looked up once per request."""
    found = g.get("_translations")
    if found is None:
        found = g._translations = _catalogue(str(get_locale()))
    return found


@cache
def _catalogue(code: str) -> NullTranslations:
    """A language's catalogue read from translations/ (Chinese has none: the msgids are it)."""
    if code == DEFAULT:
        return NullTranslations()
    return Translations.load(str(Path(__file__).resolve().parent.parent / "translations"), [code])


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

    jinja_env.install_gettext_callables(
        gettext=lambda s: _active().ugettext(s),
        ngettext=lambda s, p, n: _active().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: _active().upgettext(c, s),
        npgettext=lambda c, s, p, n: _active().unpgettext(c, s, p, n),
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
