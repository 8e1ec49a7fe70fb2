"""Optional e-mail for inbox notifications, over SMTP; every message is logged in `mail_log`.

Configured by the app config or the environment: MAIL_SERVER (unset: mail is off and nothing
else changes), MAIL_PORT (25), MAIL_USE_TLS (STARTTLS), MAIL_USE_SSL, MAIL_USERNAME,
MAIL_PASSWORD, MAIL_FROM, MAIL_DOMAIN (accounts have no address of their own: a user's address
is username@MAIL_DOMAIN; without it every message is logged as skipped), MAIL_BASE_URL (makes
the links absolute), MAIL_MAX_AGE_DAYS (3: older notifications are never mailed, so turning
mail on does not send the whole history).

`send_pending` mails the notifications that are still unread and have not been mailed (a
failed attempt is retried on the next run), each in its recipient's UI language. Run it from
cron: `flask --app app send-mail`.
"""

from __future__ import annotations

import json
import os
import smtplib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr

from . import db, log
from .i18n import DEFAULT, N_, _, language, render

SUBJECT_PREFIX = N_("【党建品牌创建】")
# Refusals of one message; anything else (connection lost, timeout) stops this run.
PER_MESSAGE = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)
SETTINGS = ("MAIL_SERVER", "MAIL_PORT", "MAIL_USE_TLS", "MAIL_USE_SSL", "MAIL_USERNAME",
            "MAIL_PASSWORD", "MAIL_FROM", "MAIL_DOMAIN", "MAIL_BASE_URL", "MAIL_MAX_AGE_DAYS")  # fmt: skip


@dataclass
class MailResult:
    configured: bool
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if not self.configured:
            return "未配置 MAIL_SERVER：不发送邮件（站内消息不受影响）。"
        text = f"邮件：已发送 {self.sent} 封，跳过 {self.skipped} 封（无邮箱地址），失败 {self.failed} 封"
        return text + (f"：{self.errors[0]}" if self.errors else "")


def settings(app) -> dict:
    """Mail settings from the app config, else the environment."""
    config = app.config if app is not None else {}
    out = {key: config.get(key, os.environ.get(key)) for key in SETTINGS}
    for key in ("MAIL_USE_TLS", "MAIL_USE_SSL"):
        value = out[key]
        out[key] = (
            value
            if isinstance(value, bool)
            else str(value or "").lower() in ("1", "true", "yes", "on")
        )
    out["MAIL_PORT"] = int(out["MAIL_PORT"] or (465 if out["MAIL_USE_SSL"] else 25))
    out["MAIL_MAX_AGE_DAYS"] = float(out["MAIL_MAX_AGE_DAYS"] or 3)
    return out


def address_of(username: str, conf: dict) -> str | None:
    domain = (conf.get("MAIL_DOMAIN") or "").strip().lstrip("@")
    return f"{username}@{domain}" if domain else None


def pending(conf: dict, now: datetime) -> list[tuple]:
    """Unread notifications not mailed yet (nor skipped), newer than MAIL_MAX_AGE_DAYS."""
    since = log.format_time(now - timedelta(days=conf["MAIL_MAX_AGE_DAYS"]))
    return db.fetchall(
        "SELECT n.position, n.recipient, a.display_name, n.text, n.message, n.link, "
        "COALESCE(u.locale, ?) FROM notification n "
        "LEFT JOIN user_account a ON a.username = n.recipient "
        "LEFT JOIN user_preference u ON u.username = n.recipient "
        "WHERE n.at >= ? "
        "AND n.position > COALESCE((SELECT position FROM inbox_read_upto r "
        "WHERE r.username = n.recipient), 0) "
        "AND NOT EXISTS (SELECT 1 FROM inbox_read r WHERE r.username = n.recipient "
        "AND r.position = n.position) "
        "AND NOT EXISTS (SELECT 1 FROM mail_log m WHERE m.position = n.position "
        "AND m.recipient = n.recipient AND m.status IN ('sent', 'skipped')) "
        "ORDER BY n.position",
        (DEFAULT, since),
    )


def build(conf: dict, display_name: str | None, address: str, text: str, link: str):
    """The e-mail, in the current language (send_pending sets the recipient's)."""
    subject = _(SUBJECT_PREFIX) + (text if len(text) <= 40 else text[:39] + "…")
    sender = conf.get("MAIL_FROM") or f"brandflow@{(conf.get('MAIL_DOMAIN') or 'localhost')}"
    base = (conf.get("MAIL_BASE_URL") or "").rstrip("/")
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = formataddr((display_name or "", address))
    msg.set_content(
        _("%(name)s您好：", name=display_name or "") + f"\n\n{text}\n\n"
        + _("查看：%(url)s", url=base + link) + "\n"
        + _("全部消息：%(url)s", url=base + "/inbox") + "\n\n"
        + _("—— 党建品牌创建系统（BrandFlow），本邮件由系统自动发送，请勿回复。") + "\n"
    )  # fmt: skip
    return subject, msg


def _log(position, recipient, address, subject, status, error, at):
    db.execute(
        "INSERT INTO mail_log (position, recipient, address, subject, status, error, at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (position, recipient, address or "", subject, status, error[:500], at),
    )


def _connect(conf: dict):
    host, port = conf["MAIL_SERVER"], conf["MAIL_PORT"]
    if conf["MAIL_USE_SSL"]:
        smtp = smtplib.SMTP_SSL(host, port, timeout=20)
    else:
        smtp = smtplib.SMTP(host, port, timeout=20)
        if conf["MAIL_USE_TLS"]:
            smtp.starttls()
    if conf.get("MAIL_USERNAME"):
        smtp.login(conf["MAIL_USERNAME"], conf.get("MAIL_PASSWORD") or "")
    return smtp


def send_pending(app=None, now: datetime | None = None) -> MailResult:
    """E-mail what is pending; with MAIL_SERVER unset, do nothing and say so."""
    conf = settings(app)
    if not conf["MAIL_SERVER"]:
        return MailResult(configured=False)
    now = now or datetime.now(UTC)
    result = MailResult(configured=True)
    smtp = None
    try:
        for position, recipient, name, text, message, link, locale in pending(conf, now):
            at = log.format_time(None)
            address = address_of(recipient, conf)
            if address is None:
                subject = SUBJECT_PREFIX + text[:40]
                _log(position, recipient, "", subject, "skipped", "无邮箱地址", at)
                result.skipped += 1
                continue
            with language(locale):  # rows from before messages were stored keep their text
                text = render(json.loads(message)) if message else text
                subject, msg = build(conf, name, address, text, link)
            try:
                if smtp is None:
                    smtp = _connect(conf)
                smtp.send_message(msg)
            except (smtplib.SMTPException, OSError) as exc:
                error = f"{type(exc).__name__}: {exc}"
                _log(position, recipient, address, subject, "failed", error, at)
                result.failed += 1
                result.errors.append(f"{address}: {exc}")
                if smtp is None or not isinstance(exc, PER_MESSAGE):
                    break  # the server is unreachable: the rest waits for the next run
                continue
            _log(position, recipient, address, subject, "sent", "", at)
            result.sent += 1
    finally:
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
    return result
