"""The event catalogue: every event type, its payload fields and its schema version.

An event type is declared once here. `NewEvent` is what a command produces; `Event` is what the
log gives back, with its payload upcast to the current schema version. Stored events are never
rewritten: an old version is upgraded on read by the upcasters registered for its type.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .i18n import N_


class UnknownEventType(ValueError):
    pass


class InvalidPayload(ValueError):
    pass


# A field spec is a type, or a tuple of types (e.g. (str, type(None)) for an optional field).
FieldSpec = type | tuple


@dataclass(frozen=True)
class EventType:
    name: str
    fields: dict[str, FieldSpec]
    version: int = 1
    # upcasters[n] turns a version-n payload into version n+1.
    upcasters: dict[int, Callable[[dict], dict]] = field(default_factory=dict)
    # How an auditor reads it, in Chinese (an N_ msgid: translate it with _() where shown).
    label: str = ""

    def check(self, payload: dict) -> None:
        missing = set(self.fields) - set(payload)
        extra = set(payload) - set(self.fields)
        if missing or extra:
            raise InvalidPayload(f"{self.name}: missing {sorted(missing)} extra {sorted(extra)}")
        for name, spec in self.fields.items():
            value = payload[name]
            # bool is an int in Python; a field declared int must not silently take True.
            if spec is int and isinstance(value, bool):
                raise InvalidPayload(f"{self.name}.{name}: expected int")
            if not isinstance(value, spec):
                raise InvalidPayload(f"{self.name}.{name}: {type(value).__name__}")

    def upcast(self, payload: dict, from_version: int) -> dict:
        for v in range(from_version, self.version):
            payload = self.upcasters[v](payload)
        return payload


CATALOGUE: dict[str, EventType] = {}


def declare(name: str, fields: dict[str, FieldSpec], **kwargs) -> EventType:
    if name in CATALOGUE:
        raise ValueError(f"event type {name} declared twice")
    et = EventType(name, fields, **kwargs)
    CATALOGUE[name] = et
    return et


def lookup(name: str) -> EventType:
    try:
        return CATALOGUE[name]
    except KeyError:
        raise UnknownEventType(name) from None


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 kept as is: the exact text that is stored and hashed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass
class NewEvent:
    """An event a command wants appended; the log gives it a position, time and hash."""

    type: str
    payload: dict
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def __post_init__(self):
        lookup(self.type).check(self.payload)


@dataclass(frozen=True)
class Event:
    position: int
    event_id: str
    stream: str
    version: int
    type: str
    schema_version: int
    payload: dict
    actor: str
    occurred_at: str  # ISO 8601 UTC, e.g. 2025-06-10T02:00:00.000000Z
    prev_hash: str
    hash: str

    @property
    def label(self) -> str:
        """The type's Chinese label (a msgid): pages show `_(event.label)`; exports keep it."""
        et = CATALOGUE.get(self.type)
        return et.label if et and et.label else self.type


def from_row(row) -> Event:
    """Build an Event from a stored row, upcasting its payload to the current schema."""
    position, event_id, stream, version, type_, schema_version, payload, actor, at, prev, h = row
    data = json.loads(payload)
    et = CATALOGUE.get(type_)
    if et is not None and schema_version < et.version:
        data = et.upcast(data, schema_version)
        schema_version = et.version
    return Event(
        position, event_id, stream, version, type_, schema_version, data, actor, at, prev, h
    )


# --- The catalogue -------------------------------------------------------------------------
# Types are grouped by the stream they live on. Payloads carry no secrets.

OPT_STR = (str, type(None))

# Org tree (stream "unit:<code>")
declare(
    "OrgUnitCreated",
    {"code": str, "name": str, "level": str, "kind": OPT_STR, "parent": OPT_STR},
    label=N_("创建组织"),
)
declare(
    "OrgUnitRenamed",
    {"code": str, "name": str, "reason": str},
    label=N_("组织更名"),
)
declare(
    "OrgUnitMoved",
    {"code": str, "parent": OPT_STR, "kind": OPT_STR, "reason": str},
    label=N_("调整组织隶属"),
)

# Accounts (stream "user:<username>"): the password hash lives in the credential table only.
declare(
    "AccountCreated",
    {"username": str, "display_name": str, "roles": list, "unit": OPT_STR},
    label=N_("创建账号"),
)
declare(
    "AccountRolesChanged",
    {"username": str, "roles": list, "unit": OPT_STR, "reason": str},
    label=N_("调整账号角色"),
)
declare("AccountDeactivated", {"username": str, "reason": str}, label=N_("停用账号"))
declare("AccountReactivated", {"username": str, "reason": str}, label=N_("启用账号"))
declare("PasswordChanged", {"username": str, "by": str}, label=N_("修改密码"))

# Integrity (stream "system")
declare(
    "CheckpointWritten",
    {"position": int, "hash": str, "file": str},
    label=N_("写入检查点"),
)

# Campaigns (stream "campaign:<slug>"): the configuration is data, carried whole by the events.
declare(
    "CampaignCreated",
    {"slug": str, "template": str, "config": dict},
    label=N_("创建品牌创建活动"),
)
declare(
    "CampaignStageRescheduled",
    {"stage": str, "opens": str, "due": str, "reason": str},
    label=N_("调整阶段时间"),
)
declare("CampaignFormChanged", {"form": list, "reason": str}, label=N_("修改申报表字段"))
declare(
    "CampaignSettingChanged",
    {"key": str, "value": (str, int, float, bool, dict, list, type(None)), "reason": str},
    label=N_("修改活动设置"),
)
declare(
    "DeadlineExtended",
    {"unit": str, "stage": str, "due": str, "reason": str},
    label=N_("为单位延长期限"),
)

# Projects (stream "project:<campaign>.<unit>.<category>")
FILE_REF = dict  # {"sha256", "name", "mime", "size"}
declare(
    "ApplicationSubmitted",
    {
        "campaign": str,
        "unit": str,
        "category": str,
        "revision": int,
        "fields": dict,
        "late": bool,
        "approvals": list,  # [{"level", "unit"}]: the opinions still needed, in order
    },
    label=N_("提交申报"),
)
declare(
    "UnitOpinionRecorded",
    {
        "level": str,
        "unit": str,
        "decision": str,
        "text": str,
        "signer": str,
        "date": str,
        "revision": int,
    },
    label=N_("填写单位意见"),
)
declare(
    "PaperCopyUploaded",
    {"level": str, "revision": int, "file": FILE_REF},
    label=N_("上传签章纸质版扫描件"),
)

# Review and argumentation (审核论证), on the project stream.
declare("ReviewReturned", {"revision": int, "reason": str}, label=N_("组织部退回修改"))
declare("ProjectApproved", {"revision": int, "note": str}, label=N_("审核通过（立项）"))
declare("ProjectRejected", {"revision": int, "reason": str}, label=N_("不予立项"))

# Threaded comments (stream "comments:<project id>"). target: {"kind": "project"|"revision"|
# "field"|"evidence"|"score", "revision": int|None, "field": str|None, "ref": str|None}
declare(
    "CommentPosted",
    {
        "comment_id": str,
        "parent_id": OPT_STR,
        "project": str,
        "revision": int,
        "target": dict,
        "visibility": str,  # "internal" (organizer and reviewers) or "unit"
        "body": str,
        "mentions": list,
    },
    label=N_("发表评论"),
)
declare("CommentEdited", {"comment_id": str, "body": str, "mentions": list}, label=N_("修改评论"))
declare("CommentResolved", {"comment_id": str}, label=N_("标记评论已解决"))
declare("CommentReopened", {"comment_id": str}, label=N_("重新打开评论"))

# Reminders (campaign stream): a unit was reminded of a due or overdue item.
declare(
    "ReminderSent",
    {"unit": str, "stage": str, "kind": str, "due": str, "note": str},
    label=N_("发送提醒"),
)

# --- Cultivation (培育创建): evidence, funding, deferrals ------------------------------------
# Evidence lives on its own stream "evidence:<project id>" so that adding a photo never makes a
# reviewer's or scorer's page on the project stream stale. The first evidence on an approved
# project also appends CultivationStarted to the project stream (same transaction): the
# project's state moves to `cultivating` by an explicit event. `late` is decided by the command
# from the evidence stage's window (per-unit extensions included).
declare(
    "CultivationStarted",
    {"revision": int, "trigger": str},  # trigger: the evidence kind that started it
    label=N_("进入培育创建"),
)
declare(
    "NewsArticleAdded",
    {
        "news_id": str,
        "title": str,
        "url": str,
        "platform": str,
        "level": str,  # a campaign_templates.NEWS_LEVELS code
        "published_on": str,  # ISO date
        "screenshot": (dict, type(None)),  # {"file": FILE_REF, "thumb": FILE_REF} or None
        "late": bool,
    },
    label=N_("登记宣传报道"),
)
declare(
    "ActivityRecorded",
    {
        "activity_id": str,
        "kind": str,
        "title": str,
        "held_on": str,
        "place": str,
        "participants": int,
        "summary": str,
        "late": bool,
    },
    label=N_("登记活动记录"),
)
declare(
    "PhotoAdded",
    {
        "photo_id": str,
        "activity": OPT_STR,  # the activity it belongs to, if any
        "caption": str,
        "file": FILE_REF,  # the processed image (EXIF stripped, orientation applied)
        "thumb": FILE_REF,
        "width": int,
        "height": int,
        "late": bool,
    },
    label=N_("上传照片"),
)
declare("PhotoCaptionChanged", {"photo_id": str, "caption": str}, label=N_("修改照片注释"))
declare(
    "EvidenceWithdrawn",
    {"kind": str, "item_id": str, "reason": str},  # kind: news, activity, photo, expense
    label=N_("撤回培育材料"),
)
declare("BudgetSet", {"amount": str, "note": str}, label=N_("核定项目经费预算"))
declare(
    "ExpenseRecorded",
    {
        "expense_id": str,
        "spent_on": str,
        "item": str,
        "amount": str,  # Decimal text with two places, e.g. "1200.50"
        "receipt": (dict, type(None)),  # FILE_REF or None
    },
    label=N_("填报经费支出"),
)
declare(
    "DeferralRequested",
    {"request_id": str, "stage": str, "due": str, "reason": str},  # due: local "YYYY-MM-DD HH:MM"
    label=N_("申请延期"),
)
declare(
    "DeferralGranted",
    {"request_id": str, "stage": str, "due": str, "note": str},
    label=N_("批准延期"),
)
declare("DeferralRefused", {"request_id": str, "reason": str}, label=N_("不予延期"))

# --- Audit (审计): reads that matter, on streams "access:<kind>:<key>" -------------------------
# kind/key name what was read: "project:<id>", "unit:<code>", "campaign:<slug>", "user:<name>",
# or "system". An auditor's or organizer's download of a document, and every audit export, is
# itself logged (who, what, when, and the SHA-256 of the bytes handed out).
declare(
    "DocumentDownloaded",
    {"document": str, "scope": str, "name": str, "path": str, "sha256": str, "size": int},
    label=N_("下载文件"),
)
declare(
    "ExportMade",
    {
        "export": str,  # "bundle" | "csv" | "pdf"
        "scope": str,  # e.g. "campaign:minbei-2025", "unit:mb-jd", "project:<id>"
        "upto": int,  # the log head the export was made at
        "events": int,  # how many events it carries
        "name": str,  # file name handed out
        "sha256": str,  # of the file handed out
        "filters": dict,
    },
    label=N_("导出审计材料"),
)

# --- Scoring (中期评估 / 评估认定) and certification (公示, 认定) ----------------------------
# The rubric is versioned on the campaign stream; every change carries the whole new rubric.
declare(
    "RubricChanged",
    {"version": int, "rubric": dict, "reason": str, "source": str},  # source: edit, csv, json
    label=N_("修改评分细则"),
)
# Rounds, panels and conflicts on "panel:<campaign>" (one stream per campaign: two organizers
# acting at once conflict); round is "midterm" or "final".
declare("ScoringRoundOpened", {"round": str, "late": bool, "note": str}, label=N_("开启评分轮次"))
declare(
    "ScoringRoundClosed",
    {"round": str, "scored": list, "unscored": list},  # project ids
    label=N_("结束评分轮次"),
)
declare(
    "ReviewerAssigned",
    {"round": str, "project": str, "reviewer": str, "source": str},  # manual, csv, auto
    label=N_("分配评审专家"),
)
declare(
    "ReviewerUnassigned",
    {"round": str, "project": str, "reviewer": str, "reason": str},
    label=N_("取消评审分配"),
)
# Declared by the reviewer, or recorded by the organizer.
declare(
    "ConflictDeclared",
    {"project": str, "reviewer": str, "reason": str},
    label=N_("登记利益冲突（回避）"),
)
# One reviewer's score on one project in one round: stream "score:<project>:<round>:<reviewer>";
# a later event on the same stream is a revision. It names the project revision and rubric
# version it was made on; `inputs` and `comments` are keyed by criterion code.
declare(
    "ScoreSubmitted",
    {
        "project": str,
        "round": str,
        "reviewer": str,
        "revision": int,
        "rubric_version": int,
        "inputs": dict,
        "comments": dict,
        "total": str,  # Decimal text
        "base": str,
        "bonus": str,
        "failed": bool,
        "vetoed": list,
    },
    label=N_("提交评分"),
)
# On the project stream: the round's result moves the state (midterm_scored / final_scored).
declare(
    "ProjectScored",
    {"round": str, "score": OPT_STR, "reviewers": int, "grade": str},
    label=N_("评分结果确定"),
)
# Certification on "certification:<campaign>": proposals (outcome: excellent, passed,
# not_passed), the 公示 period with its objections, and the conclusion.
declare(
    "OutcomeProposed",
    {"project": str, "outcome": str, "score": OPT_STR, "rank": (int, type(None)), "note": str},
    label=N_("提出认定建议"),
)
declare("ProposalWithdrawn", {"project": str, "reason": str}, label=N_("撤回认定建议"))
declare(
    "PublicityStarted",
    {"publicity": int, "starts": str, "ends": str, "projects": dict},  # local times; pid -> outcome
    label=N_("开始公示"),
)
declare(
    "ObjectionLodged",
    {"objection_id": str, "publicity": int, "project": OPT_STR, "text": str, "on_behalf_of": str},
    label=N_("提出异议"),
)
declare(
    "ObjectionAnswered",
    {"objection_id": str, "verification": str, "answer": str, "upheld": bool},
    label=N_("核实并答复异议"),
)
declare("PublicityConcluded", {"publicity": int, "outcomes": dict}, label=N_("公示结束，认定结果"))
# On the project stream: entering 公示, the final outcome, and a revocation (frees the place).
declare("ProjectPublicized", {"publicity": int, "ends": str}, label=N_("进入公示"))
declare("OutcomeFinalised", {"outcome": str, "publicity": int}, label=N_("认定结果确定"))
declare("CertificationRevoked", {"reason": str, "outcome": str}, label=N_("撤销认定"))
# --- Results (成果应用展示): the compiled booklet's foreword, on "booklet:<campaign>" ----------
declare("BookletForewordSet", {"text": str}, label=N_("修改成果汇编前言"))
# --- Showcase (成果展示, 专题交流展览) on "showcase:<campaign>" (workflow/commands/showcase.py) ---
declare("ShowcasePublished", {"audience": str}, label=N_("发布成果展示"))  # college | intranet
declare("ShowcaseWithdrawn", {"published": bool}, label=N_("撤回成果展示"))
declare(
    "ShowcaseBrandSet",
    {"project": str, "cover": OPT_STR, "intro": str},  # cover: a photo's sha256
    label=N_("设置展示封面与简介"),
)
# --- Reports (中期报告、总结报告) on the project stream (workflow/commands/reports.py) ----------
# One event per submitted revision with the full content; drafts are kept outside the log.
declare(
    "ReportSubmitted",
    {
        "kind": str,  # final | midterm
        "revision": int,
        "sections": list,  # [{"code", "title", "text"}] in the campaign's order
        "chars": int,
        "photos": list,  # [{"photo_id", "sha256", "caption", "width", "height", "mime"}]
        "attachments": list,  # [{"sha256", "name", "mime", "size"}]
        "late": bool,
    },
    label=N_("提交报告"),
)
