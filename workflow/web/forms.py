"""WTForms for the foundation pages. Messages are Chinese; commands re-check every rule."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
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
from ..orgtree import KINDS, LEVELS

REQUIRED = "此项为必填项。"


class LoginForm(FlaskForm):
    username = StringField("用户名", validators=[DataRequired(REQUIRED), Length(max=40)])
    password = PasswordField("密码", validators=[DataRequired(REQUIRED), Length(max=200)])


class UnitForm(FlaskForm):
    code = StringField("组织编码", validators=[DataRequired(REQUIRED), Length(max=40)])
    name = StringField("组织名称", validators=[DataRequired(REQUIRED), Length(max=60)])
    level = SelectField("层级", choices=list(LEVELS.items()))
    kind = SelectField("支部类型", choices=[("", "（非党支部不填）"), *KINDS.items()],
                       validators=[Optional()])  # fmt: skip
    parent = SelectField("上级组织", choices=[], validators=[Optional()], validate_choice=False)


class ImportOrgForm(FlaskForm):
    file = FileField("CSV 文件", validators=[FileRequired("请选择要导入的 CSV 文件。")])


class UserForm(FlaskForm):
    username = StringField("用户名", validators=[DataRequired(REQUIRED), Length(max=40)])
    display_name = StringField("姓名", validators=[DataRequired(REQUIRED), Length(max=40)])
    roles = SelectMultipleField("角色", choices=list(ROLES.items()),
                                validators=[DataRequired("请至少选择一个角色。")])  # fmt: skip
    unit = SelectField("所属组织", choices=[], validators=[Optional()], validate_choice=False)
    password = PasswordField("初始密码", validators=[DataRequired(REQUIRED), Length(min=8, max=200,
                             message="密码长度须为 8–200 个字符。")])  # fmt: skip


class ReasonForm(FlaskForm):
    reason = TextAreaField("原因", validators=[DataRequired(REQUIRED), Length(max=500)])


class OpinionForm(FlaskForm):
    decision = RadioField("意见", choices=[("agree", "同意"), ("return", "退回修改")], default="agree",
                          validate_choice=False)  # fmt: skip
    text = TextAreaField("意见内容", render_kw={"data-maxchars": 1000, "rows": 4})
    signer = StringField("签字人")
    signed_on = StringField("日期", render_kw={"type": "date"})
    version = HiddenField()


class PaperCopyForm(FlaskForm):
    level = SelectField("对应的意见", choices=[], validate_choice=False)
    file = FileField("签字盖章的纸质版扫描件（PDF/JPG/PNG，不超过 10 MB）")
