"""Web layer: blueprints, the one access decorator, error pages, and the login user."""

from __future__ import annotations

from functools import wraps

import peewee
from flask import Flask, render_template
from flask_login import UserMixin, current_user
from flask_wtf.csrf import CSRFError

from .. import authz
from ..errors import DomainError
from ..i18n import N_, _
from ..log import ConcurrencyError

PUBLIC = "public"


class User(UserMixin):
    """Flask-Login's view of an Actor."""

    def __init__(self, actor: authz.Actor):
        self.actor = actor

    def get_id(self):
        return self.actor.username


def current_actor() -> authz.Actor | None:
    return current_user.actor if current_user.is_authenticated else None


def allow(permission: str):
    """Declare who may call a view: a permission from authz.PERMISSIONS, or PUBLIC.

    Every view carries this mark; the security test fails on a view without one.
    """

    def decorate(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            if permission != PUBLIC:
                if not current_user.is_authenticated:
                    from flask import current_app

                    return current_app.login_manager.unauthorized()
                authz.require(current_actor(), permission)
            return view(*args, **kwargs)

        guarded.permission = permission
        return guarded

    return decorate


def form_int(value, default=-1) -> int:
    """A number posted by a form (a version, an edit count); `default` when it is not one,
    which the command then refuses as stale or invalid."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def is_htmx() -> bool:
    from flask import request

    return (
        request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"
    )


def render(page: str, fragment: str, **context):
    """An htmx request gets the fragment alone; a normal request the page that includes it."""
    return render_template(fragment if is_htmx() else page, **context)


def error_response(status: int, title: str, message: str, **extra):
    return render("error.html", "fragments/error.html", status=status, title=title,
                  message=message, error_page=True, **extra), status  # fmt: skip


TITLES = {
    400: N_("输入有误"),
    401: N_("未登录"),
    403: N_("没有权限"),
    404: N_("页面不存在"),
    405: N_("请求方式不被允许"),
    409: N_("内容已被他人修改"),
    413: N_("上传的文件太大"),
    429: N_("操作过于频繁"),
    500: N_("服务器出错了"),
}
OTHER_TITLE = N_("出错了")


def register(app: Flask) -> None:
    from . import (
        admin,
        audit,
        auth,
        campaign_settings,
        campaigns,
        certification,
        comments,
        evidence,
        inbox,
        main,
        projects,
        reports,
        results,
        review,
        scoring,
        showcase,
        trails,
    )

    blueprints = (main, auth, admin, audit, campaigns, campaign_settings, projects, review,
                  comments, inbox, evidence, trails, scoring, certification, results,
                  showcase, reports)  # fmt: skip
    for bp in (module.bp for module in blueprints):
        app.register_blueprint(bp)

    from app import login_manager

    @login_manager.user_loader
    def load_user(username):
        from ..commands.accounts import get_account

        actor = get_account(username)
        return User(actor) if actor else None

    @login_manager.unauthorized_handler
    def unauthorized():
        from flask import redirect, request, url_for

        if is_htmx():
            response = app.make_response(error_response(401, _(TITLES[401]), _("请先登录。")))
            response.headers["HX-Redirect"] = url_for("auth.login")
            return response
        return redirect(url_for("auth.login", next=request.full_path))

    @app.before_request
    def _upload_quota():
        """Every request that carries files counts against its account's upload budget
        (after the CSRF check, which Flask-WTF registered first)."""
        from flask import request

        from .. import upload_quota

        files = [f for _key, f in request.files.items(multi=True) if f.filename]
        if files and current_user.is_authenticated:
            limits = upload_quota.Limits.from_config(app.config)
            upload_quota.admit(
                current_user.actor.username, len(files), request.content_length or 0, limits
            )

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        response = app.make_response(
            error_response(exc.status, _(TITLES.get(exc.status, OTHER_TITLE)), exc.message)
        )
        if getattr(exc, "retry_after", None):
            response.headers["Retry-After"] = str(exc.retry_after)
            if is_htmx():  # above the page, leaving the form and what was typed in it
                response.headers.update({"HX-Retarget": "#alerts", "HX-Reswap": "innerHTML"})
        return response

    @app.errorhandler(ConcurrencyError)
    def conflict(exc: ConcurrencyError):
        return error_response(
            409, _(TITLES[409]), _("您提交前，这条记录已被他人修改。请查看最新内容后再操作。")
        )

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        return error_response(
            400, _("页面已过期"), _("安全令牌缺失或无效（CSRF），请刷新页面后重试。")
        )

    for status in (403, 404, 405, 413):

        @app.errorhandler(status)
        def http_error(exc, status=status):
            messages = {
                403: N_("您没有权限访问此页面。"),
                404: N_("您要找的页面不存在。"),
                405: N_("该地址不接受这种请求方式。"),
                413: N_("上传的内容超过了大小限制。"),
            }
            return error_response(status, _(TITLES[status]), _(messages[status]))

    @app.errorhandler(peewee.OperationalError)
    @app.errorhandler(peewee.InterfaceError)
    def database_unavailable(exc):
        """The database is unreachable (restarting, or gone): a plain page that asks nothing of
        it (the usual layout would look up the signed-in user there and fail again)."""
        app.logger.warning("database unavailable: %s", exc)
        body = (
            '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
            "<title>服务暂时不可用</title></head><body><main><h1>服务暂时不可用</h1>"
            "<p>数据库暂时无法连接，请稍后刷新重试；刚才提交的内容，请在恢复后核对是否已保存。</p></main></body></html>"
        )
        return app.response_class(body, 503, {"Retry-After": "5"}, mimetype="text/html")

    @app.errorhandler(500)
    def server_error(exc):
        return error_response(
            500, _(TITLES[500]), _("请稍后重试；如果问题仍然存在，请联系系统管理员。")
        )

    @app.context_processor
    def inject():
        return {"actor": current_actor(), "can": lambda p: authz.can(current_actor(), p),
                "ROLES": authz.ROLES}  # fmt: skip
