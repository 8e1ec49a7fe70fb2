"""WTForms for the foundation pages. Messages are Chinese; commands re-check every rule.

Labels, choices and validator messages are built at import time, so they are lazy strings:
translated into the request's language when a page prints them."""

from flask_babel import LazyString
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from markupsafe import escape
from wtforms import (
    HiddenField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from ..authz import ROLES
from ..i18n import _
from ..orgtree import KINDS, LEVELS


class _Lazy(LazyString):
    """A message translated when shown; escaped like any text when a template prints it."""

    def __html__(self):
        return str(escape(str(self)))


def lazy_gettext(message: str) -> _Lazy:
    """Mark a literal for the catalogue (a keyword of `make messages`), translated when shown."""
    return _Lazy(_, message)


def _choices(labels: dict) -> list:
    """(value, label) pairs of a dict of N_-marked labels, each translated when shown."""
    return [(value, _Lazy(_, label)) for value, label in labels.items()]


REQUIRED = lazy_gettext("此项为必填项。")


class LoginForm(FlaskForm):
    username = StringField(
        lazy_gettext("用户名"), validators=[DataRequired(REQUIRED), Length(max=40)]
    )
    password = PasswordField(
        lazy_gettext("密码"), validators=[DataRequired(REQUIRED), Length(max=200)]
    )


class UnitForm(FlaskForm):
    code = StringField(
        lazy_gettext("组织编码"), validators=[DataRequired(REQUIRED), Length(max=40)]
    )
    name = StringField(
        lazy_gettext("组织名称"), validators=[DataRequired(REQUIRED), Length(max=60)]
    )
    level = SelectField(lazy_gettext("层级"), choices=_choices(LEVELS))
    kind = SelectField(
        lazy_gettext("支部类型"),
        choices=[("", lazy_gettext("（非党支部不填）")), *_choices(KINDS)],
        validators=[Optional()],
    )
    parent = SelectField(
        lazy_gettext("上级组织"), choices=[], validators=[Optional()], validate_choice=False
    )


class ImportOrgForm(FlaskForm):
    file = FileField(
        lazy_gettext("CSV 文件"),
        validators=[FileRequired(lazy_gettext("请选择要导入的 CSV 文件。"))],
    )


class UserForm(FlaskForm):
    username = StringField(
        lazy_gettext("用户名"), validators=[DataRequired(REQUIRED), Length(max=40)]
    )
    display_name = StringField(
        lazy_gettext("姓名"), validators=[DataRequired(REQUIRED), Length(max=40)]
    )
    roles = SelectMultipleField(
        lazy_gettext("角色"),
        choices=_choices(ROLES),
        validators=[DataRequired(lazy_gettext("请至少选择一个角色。"))],
    )
    unit = SelectField(
        lazy_gettext("所属组织"), choices=[], validators=[Optional()], validate_choice=False
    )
    password = PasswordField(
        lazy_gettext("初始密码"),
        validators=[
            DataRequired(REQUIRED),
            Length(min=8, max=200, message=lazy_gettext("密码长度须为 8–200 个字符。")),
        ],
    )


class ReasonForm(FlaskForm):
    reason = TextAreaField(
        lazy_gettext("原因"), validators=[DataRequired(REQUIRED), Length(max=500)]
    )


class OpinionForm(FlaskForm):
    decision = RadioField(
        lazy_gettext("意见"),
        choices=[("agree", lazy_gettext("同意")), ("return", lazy_gettext("退回修改"))],
        default="agree",
        validate_choice=False,
    )
    text = TextAreaField(lazy_gettext("意见内容"), render_kw={"data-maxchars": 1000, "rows": 4})
    signer = StringField(lazy_gettext("签字人"))
    signed_on = StringField(lazy_gettext("日期"), render_kw={"type": "date"})
    version = HiddenField()


class PaperCopyForm(FlaskForm):
    level = SelectField(lazy_gettext("对应的意见"), choices=[], validate_choice=False)
    file = FileField(lazy_gettext("签字盖章的纸质版扫描件（PDF/JPG/PNG，不超过 10 MB）"))
