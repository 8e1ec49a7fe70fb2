"""BrandFlow: the app factory. The CLI commands live in workflow/cli.py."""

from __future__ import annotations

import os
import secrets

from flask import Flask, g, request
from flask_babel import Babel, get_locale
from flask_htmx import HTMX
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from workflow import db, schema
from workflow.commands import accounts

HERE = os.path.dirname(os.path.abspath(__file__))
csrf = CSRFProtect()
login_manager = LoginManager()
babel = Babel()
htmx = HTMX()

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'self'; object-src 'none'"
)


def _instance_secret(instance_path: str) -> str:
    """SECRET_KEY from the environment, else generated once into instance/secret_key."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = os.path.join(instance_path, "secret_key")
    if not os.path.exists(path):
        os.makedirs(instance_path, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    with open(path) as fh:
        return fh.read().strip()


UPLOAD_RATE_SETTINGS = ("UPLOAD_RATE_FILES", "UPLOAD_RATE_MEGABYTES", "UPLOAD_RATE_MINUTES")


def default_config(instance_path: str) -> dict:
    return {
        "DATABASE_URL": os.environ.get(
            "DATABASE_URL", "sqlite:///" + os.path.join(instance_path, "brandflow.db")
        ),
        "UPLOAD_DIR": os.environ.get("UPLOAD_DIR", os.path.join(instance_path, "uploads")),
        "CHECKPOINT_KEY_FILE": os.environ.get(
            "CHECKPOINT_KEY_FILE", os.path.join(instance_path, "checkpoint.key")
        ),
        "DEMO_PASSWORD": os.environ.get("DEMO_PASSWORD", "demo12345"),
        # BRANDFLOW_CREATE_SCHEMA=0: the tables exist (made by `init-db` as the owner role) and the
        # app runs as a role that may only read and append (see deploy/postgresql-roles.sql).
        "CREATE_SCHEMA": os.environ.get("BRANDFLOW_CREATE_SCHEMA", "1") != "0",
        # Behind nginx: how many proxies to trust for X-Forwarded-For/-Proto (login throttling is
        # per client address, which would otherwise be the proxy's for everyone).
        "PROXIES": int(os.environ.get("BRANDFLOW_PROXIES", "0")),
        "PASSWORD_HASH_METHOD": os.environ.get("PASSWORD_HASH_METHOD", "scrypt"),
        "WTF_CSRF_TIME_LIMIT": None,
        "WTF_CSRF_HEADERS": ["X-CSRFToken"],
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "MAX_CONTENT_LENGTH": 25 * 1024 * 1024,
        # Each account's upload budget (workflow/upload_quota.py keeps the defaults).
        **{key: int(os.environ[key]) for key in UPLOAD_RATE_SETTINGS if key in os.environ},
        "BABEL_DEFAULT_LOCALE": "zh_CN",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
    }


def create_app(config: dict | None = None) -> Flask:
    config = dict(config or {})
    instance_path = config.pop("INSTANCE_PATH", None) or os.environ.get(
        "BRANDFLOW_INSTANCE", os.path.join(HERE, "instance")
    )
    app = Flask(
        __name__,
        instance_path=instance_path,
        template_folder=os.path.join(HERE, "templates"),
        static_folder=os.path.join(HERE, "static"),
    )
    app.config.update(default_config(app.instance_path))
    app.config.update(config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(app.instance_path)
    accounts.HASH_METHOD = app.config["PASSWORD_HASH_METHOD"]

    db.bind(app.config["DATABASE_URL"])
    if app.config["CREATE_SCHEMA"]:  # off where the app's database role may not run DDL
        with db.database.connection_context():
            schema.create_all()

    if app.config["PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = app.config["PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    csrf.init_app(app)
    from workflow.i18n import ensure_compiled, html_lang, install_template_gettext, select_locale

    ensure_compiled(app.root_path)

    babel.init_app(app, locale_selector=select_locale)
    install_template_gettext(app.jinja_env)
    app.jinja_env.globals["html_lang"] = html_lang
    app.jinja_env.globals["get_locale"] = get_locale
    htmx.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "请先登录。"

    from workflow.web import register

    register(app)

    @app.before_request
    def _connect():
        db.database.connect(reuse_if_open=True)
        g.nonce = None

    @app.before_request
    def _drop_nul():
        """No field has a use for NUL and PostgreSQL cannot store it in text (a 500 there): it
        is dropped from every field and query value, as comments drop control characters."""
        from werkzeug.datastructures import ImmutableMultiDict

        for name in ("args", "form"):
            source = getattr(request, name)
            if any("\x00" in k + v for k, v in source.items(multi=True)):
                setattr(request, name, ImmutableMultiDict(
                    [(k.replace("\x00", ""), v.replace("\x00", "")) for k, v in source.items(multi=True)]
                ))  # fmt: skip

    @app.teardown_request
    def _close(exc):
        if not db.database.is_closed():
            db.database.close()

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if request.path.startswith("/static/"):
            return response
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    from workflow.cli import register_cli

    register_cli(app)
    return app
