"""Login and logout."""

from urllib.parse import urlparse

from flask import Blueprint, redirect, request, session, url_for
from flask_login import login_user, logout_user

from ..commands.accounts import LoginError, authenticate
from ..i18n import _
from . import PUBLIC, User, allow, error_response, render
from .forms import LoginForm

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never redirect a fresh login to another host."""
    if (
        target
        and urlparse(target).netloc == ""
        and target.startswith("/")
        and not target.startswith("//")
    ):
        return target
    return url_for("main.home")


@bp.route("/login", methods=["GET", "POST"])
@allow(PUBLIC)
def login():
    """The login page; five failures per account and address lock it for 15 minutes."""
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        try:
            actor = authenticate(form.username.data, form.password.data, request.remote_addr or "-")
        except LoginError as exc:
            error = exc.message
        else:
            target = _safe_next(request.args.get("next"))
            lang = session.get("lang")
            session.clear()  # a fresh session on login: no fixation
            if lang:
                session["lang"] = lang
            login_user(User(actor))
            return redirect(target)
    status = 401 if error else 200
    return render("login.html", "login.html", form=form, error=error), status


@bp.post("/logout")
@allow(PUBLIC)
def logout():
    """Log out (POST with CSRF, so another site cannot log a user out)."""
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


@bp.post("/lang")
@allow(PUBLIC)
def set_language():
    """Switch the UI language (POST with CSRF); kept in the session and as the user's preference."""
    from datetime import UTC, datetime

    from flask_babel import refresh
    from flask_login import current_user

    from .. import i18n

    locale = request.form.get("lang", "")
    if locale not in i18n.LOCALES:
        return error_response(400, _("请求有误"), _("不支持这种界面语言，请选择中文或 English。"))
    session["lang"] = locale
    if current_user.is_authenticated:
        i18n.set_preference(current_user.get_id(), locale, datetime.now(UTC).isoformat())
    refresh()
    return redirect(_safe_next(request.form.get("next")))
