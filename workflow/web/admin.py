"""The organizer's org tree and user administration."""

from flask import Blueprint, redirect, request, url_for

from .. import queries
from ..commands import accounts, orgs
from ..errors import DomainError
from ..i18n import _
from . import allow, current_actor, render
from .forms import ImportOrgForm, UnitForm, UserForm

bp = Blueprint("admin", __name__, url_prefix="/admin")

MAX_CSV_BYTES = 1024 * 1024


def _unit_form():
    form = UnitForm()
    form.parent.choices = [("", _("（无：这是党委）"))] + queries.unit_choices(
        current_actor(), levels=("committee", "general_branch")
    )
    return form


def _org_page(form=None, import_form=None, error=None, notice=None, status=200):
    return render(
        "admin/org.html",
        "fragments/org_tree.html",
        forest=queries.org_forest(current_actor()),
        form=form or _unit_form(),
        import_form=import_form or ImportOrgForm(),
        error=error,
        notice=notice,
    ), status


@bp.get("/org")
@allow("org.view")
def org():
    """Both notices' org trees: committees, general branches and branches."""
    return _org_page()


@bp.post("/org/units")
@allow("org.manage")
def add_unit():
    """Add one unit; errors come back inline and nothing is written."""
    form = _unit_form()
    if not form.validate_on_submit():
        return _org_page(form=form, error=_("请检查表单中标出的错误。"), status=400)
    try:
        orgs.create_unit(current_actor(), form.code.data.strip(), form.name.data,
                         form.level.data, form.kind.data or None, form.parent.data or None)  # fmt: skip
    except DomainError as exc:
        return _org_page(form=form, error=exc.message, status=400)
    return _org_page(notice=_("已添加：%(name)s", name=form.name.data.strip()))


@bp.post("/org/import")
@allow("org.manage")
def import_org():
    """Import a CSV of units, all or nothing, with per-line errors."""
    form = ImportOrgForm()
    if not form.validate_on_submit():
        return _org_page(import_form=form, error=_("请选择要导入的 CSV 文件。"), status=400)
    raw = form.file.data.read(MAX_CSV_BYTES + 1)
    if len(raw) > MAX_CSV_BYTES:
        return _org_page(error=_("CSV 文件超过 1 MB。"), status=400)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("gb18030")  # Excel on Chinese Windows saves CSV in GBK
        except UnicodeDecodeError:
            return _org_page(error=_("无法识别文件编码，请另存为 UTF-8 编码的 CSV。"), status=400)
    try:
        count = orgs.import_csv(current_actor(), text)
    except DomainError as exc:
        return _org_page(error=exc.message, status=400)
    return _org_page(notice=_("已导入 %(count)s 个组织。", count=count))


def _user_form():
    form = UserForm()
    form.unit.choices = [("", _("（不属于具体组织）"))] + queries.unit_choices(current_actor())
    return form


def _users_page(form=None, error=None, notice=None, status=200):
    return render(
        "admin/users.html",
        "fragments/users.html",
        users=queries.users(current_actor()),
        form=form or _user_form(),
        error=error,
        notice=notice,
    ), status


@bp.get("/users")
@allow("users.view")
def users():
    """Accounts with their roles and units."""
    return _users_page()


@bp.post("/users")
@allow("users.manage")
def create_user():
    """Create an account; the password hash is stored outside the event log."""
    form = _user_form()
    if not form.validate_on_submit():
        return _users_page(form=form, error=_("请检查表单中标出的错误。"), status=400)
    try:
        accounts.create_user(current_actor(), form.username.data, form.display_name.data,
                             form.roles.data, form.unit.data or None, form.password.data)  # fmt: skip
    except DomainError as exc:
        return _users_page(form=form, error=exc.message, status=400)
    if request.headers.get("HX-Request"):
        return _users_page(
            notice=_("已创建账号 %(username)s。", username=form.username.data.strip().lower())
        )
    return redirect(url_for("admin.users"))
