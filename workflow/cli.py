"""Flask CLI: `.venv/bin/flask --app app COMMAND`."""

from __future__ import annotations

import sys

import click
from flask import Flask, current_app

from . import backup as backups
from . import checkpoint, db, log, projections, schema
from .authz import ROLES, SYSTEM
from .errors import DomainError


def _fail(message: str, code: int = 1):
    click.echo(message, err=True)
    sys.exit(code)


def register_cli(app: Flask) -> None:
    @app.cli.command("init-db")
    def init_db():
        """Create the tables and the append-only triggers (idempotent)."""
        with db.database.connection_context():
            schema.create_all()
        click.echo(f"数据库已就绪：{current_app.config['DATABASE_URL']}")

    @app.cli.command("create-user")
    @click.argument("username")
    @click.option("--name", "display_name", required=True, help="姓名")
    @click.option("--role", "roles", multiple=True, required=True, type=click.Choice(sorted(ROLES)))
    @click.option("--unit", default=None, help="所属组织编码")
    @click.password_option("--password", prompt="密码")
    def create_user(username, display_name, roles, unit, password):
        """Create an account (the password never enters the event log)."""
        from .commands.accounts import create_user as create

        with db.database.connection_context():
            try:
                create(SYSTEM, username, display_name, list(roles), unit, password)
            except DomainError as exc:
                _fail(exc.message)
        click.echo(f"已创建账号 {username}")

    @app.cli.command("import-org")
    @click.argument("csv_file", type=click.Path(exists=True, dir_okay=False))
    def import_org(csv_file):
        """Import org units from CSV: 编码,名称,层级,类型,上级编码 (all or nothing)."""
        from .commands.orgs import import_csv

        with open(csv_file, "rb") as fh:
            raw = fh.read()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("gb18030", errors="strict")
        with db.database.connection_context():
            try:
                count = import_csv(SYSTEM, text)
            except DomainError as exc:
                _fail(exc.message)
        click.echo(f"已导入 {count} 个组织")

    @app.cli.command("seed-demo")
    @click.option("--campaign", default="all",
                  type=click.Choice(["all", "ncut-info-2023", "minbei-2025"]))  # fmt: skip
    @click.option("--through", default=None, help="把演示项目推进到该阶段")
    @click.option("--if-empty", is_flag=True, help="数据库已有数据时什么也不做（make run 用）")
    def seed_demo(campaign, through, if_empty):
        """Demo org trees and accounts of both notices (idempotent)."""
        from . import demo

        slugs = list(demo.TREES) if campaign == "all" else [campaign]
        with db.database.connection_context():
            if if_empty and log.head()[0] > 0:
                click.echo("数据库已有数据，跳过演示数据。")
                return
            try:
                demo.seed(slugs, current_app.config["DEMO_PASSWORD"], through, echo=click.echo)
            except ValueError as exc:
                _fail(str(exc))

    @app.cli.command("list-projects")
    @click.option("--campaign", "slug", required=True)
    def list_projects(slug):
        """One line per project: id, unit, category, state code (tab-separated)."""
        with db.database.connection_context():
            rows = db.fetchall(
                "SELECT id, unit, category, state FROM project WHERE campaign = ? ORDER BY id",
                (slug,),
            )
        for row in rows:
            click.echo("\t".join(row))

    @app.cli.command("export-pdf")
    @click.argument(
        "kind", type=click.Choice(["application", "report", "booklet", "certificate", "audit"])
    )
    @click.option("--campaign", "slug", required=True)
    @click.option("--project", "pid", default=None, help="项目编号；申报表不填时输出空白表")
    @click.option("-o", "output", required=True, type=click.Path(dir_okay=False))
    @click.option(
        "--include-passed", is_flag=True, help="汇编：认定优秀的项目之后收入验收通过的项目"
    )
    @click.option("--foreword-file", type=click.Path(exists=True, dir_okay=False),
                  help="汇编：前言文本文件（UTF-8）")  # fmt: skip
    def export_pdf(kind, slug, pid, output, include_passed, foreword_file):
        """Write a PDF document (Chinese text embedded with the CJK font)."""
        if kind == "audit":  # the audit trail report of the campaign (or of one project)
            from .documents.audit_report import export

            with db.database.connection_context():
                try:
                    data = export(slug, pid)
                except DomainError as exc:
                    _fail(exc.message)
            with open(output, "wb") as fh:
                fh.write(data)
            click.echo(f"已写入 {output}")
            return
        if kind in ("report", "booklet", "certificate"):
            with db.database.connection_context():
                try:
                    data = _results_document(kind, slug, pid, include_passed, foreword_file)
                except (DomainError, ValueError) as exc:
                    _fail(getattr(exc, "message", str(exc)))
            with open(output, "wb") as fh:
                fh.write(data)
            click.echo(f"已写入 {output}")
            return
        if kind != "application":
            _fail(f"{kind}: 该文档尚未提供。")
        from .documents.application import render_application
        from .documents.application_doc import build

        with db.database.connection_context():
            try:
                doc = build(slug, pid)
            except (DomainError, ValueError) as exc:
                _fail(getattr(exc, "message", str(exc)))
        with open(output, "wb") as fh:
            fh.write(render_application(doc))
        click.echo(f"已写入 {output}")

    def _results_document(kind, slug, pid, include_passed, foreword_file) -> bytes:
        from .documents import results_doc

        if kind == "report":
            if not pid:
                raise DomainError("总结报告须指定 --project。")
            from .documents.report import render_report

            return render_report(results_doc.report_doc(slug, pid))
        if kind == "certificate":
            from .documents.certificate import render_certificates

            return render_certificates(results_doc.certificate_docs(slug, pid))
        foreword = None  # the one the organizer wrote
        if foreword_file:
            with open(foreword_file, encoding="utf-8") as fh:
                foreword = fh.read()

        def progress(done, total):
            width = 30
            filled = width * done // max(total, 1)
            bar = "#" * filled + "-" * (width - filled)
            percent = 100 * done // max(total, 1)
            click.echo(f"\r汇编进度 [{bar}] {percent:3d}%", err=True, nl=done >= total)

        data, cached = results_doc.booklet_pdf(slug, include_passed, foreword, progress)
        if cached:
            click.echo("内容未变，使用已生成的汇编（缓存）", err=True)
        return data

    @app.cli.command("verify-log")
    @click.option("--checkpoint", "checkpoint_file", type=click.Path(dir_okay=False))
    def verify_log(checkpoint_file):
        """Check every hash and link; exit non-zero at the first broken position."""
        checkpoints = []
        if checkpoint_file:
            key = checkpoint.load_key(current_app.config["CHECKPOINT_KEY_FILE"])
            try:
                cp = checkpoint.read(checkpoint_file, key)
            except checkpoint.CheckpointError as exc:
                _fail(f"BROKEN checkpoint: {exc}", 2)
            checkpoints.append((cp["position"], cp["hash"]))
        with db.database.connection_context():
            result = log.verify(checkpoints)
        click.echo(result.summary())
        if not result.ok:
            sys.exit(1)

    @app.cli.command("checkpoint")
    @click.option("-o", "output", default=None, type=click.Path(dir_okay=False),
                  help="默认写入检查点目录（完整性页面列出），供每日定时任务使用")  # fmt: skip
    def write_checkpoint(output):
        """Write the head position and hash, signed with CHECKPOINT_KEY_FILE."""
        key = checkpoint.load_key(current_app.config["CHECKPOINT_KEY_FILE"])
        with db.database.connection_context():
            if output is None:
                cp = checkpoint.write_now(SYSTEM.username)
                output = checkpoint.directory()
            else:
                cp = checkpoint.write(output, key, SYSTEM.username)
        click.echo(f"checkpoint {cp['position']} {cp['hash']} -> {output}")

    @app.cli.command("rebuild-projections")
    def rebuild():
        """Empty every projection table and replay the whole log."""
        with db.database.connection_context():
            count = projections.rebuild(progress=lambda n: click.echo(f"  {n} …", err=True))
        click.echo(f"已重建投影：重放 {count} 条事件")

    @app.cli.command("backup")
    @click.argument("directory", type=click.Path(file_okay=False))
    def backup(directory):
        """Back up the log, credentials and uploads into an empty DIRECTORY."""
        with db.database.connection_context():
            try:
                manifest = backups.backup(directory, current_app.config["UPLOAD_DIR"])
            except DomainError as exc:
                _fail(exc.message)
        click.echo(f"已备份 {manifest['events']} 条事件到 {directory}")

    @app.cli.command("restore")
    @click.argument("directory", type=click.Path(exists=True, file_okay=False))
    def restore(directory):
        """Restore a backup into an empty database; refuses a log that does not verify."""
        with db.database.connection_context():
            try:
                manifest = backups.restore(directory, current_app.config["UPLOAD_DIR"])
            except DomainError as exc:
                _fail(exc.message)
        click.echo(f"已恢复 {manifest['events']} 条事件，投影已重建")

    @app.cli.command("send-reminders")
    @click.option("--campaign", "slug", default=None, help="只处理该创建活动（默认全部）")
    @click.option(
        "--now", "now_text", default=None, help="按该时刻计算（活动时区，如 2025-06-13 09:00）"
    )
    def send_reminders(slug, now_text):
        """Remind units of items due soon or overdue (run from cron; idempotent)."""
        from .commands.reminders import send_reminders as send
        from .deadlines import parse_local

        with db.database.connection_context():
            try:
                now = parse_local(now_text) if now_text else None
                sent = send(SYSTEM, now, slug)
            except DomainError as exc:
                _fail(exc.message)
        click.echo(f"已发送 {len(sent)} 条提醒")

    @app.cli.command("send-mail")
    def send_mail():
        """E-mail unread inbox notifications when MAIL_SERVER is configured (run from cron)."""
        from .mail import send_pending

        with db.database.connection_context():
            result = send_pending(current_app)
        click.echo(result.summary())
        if result.failed:
            sys.exit(1)
