"""Audit trails: which events concern a campaign, a unit (with the units under it), a project or
a user; the filters an auditor narrows them with; who may read which events; and each event told
in plain Chinese, with what it changed.

Everything here reads the event log itself (not the projections), apart from current names
(people, units, brands) used to make the sentences readable.

Selection. A stream is named "<kind>:<owner>[:more]" (audit reads: "access:<kind>:<owner>");
owners never contain ":". A trail is the streams owned by what it covers, plus the events of
campaign-level streams ("campaign:", "panel:", "certification:" of a campaign) that name one of
its units or projects, plus for a user the events they did:
- project P: every stream P owns (project:, comments:, evidence:, score:P:..., access:project:)
  and the campaign-level events naming P (reviewer assignments, proposals, 公示, objections);
- campaign C: every stream C or one of its projects owns;
- unit U: U and every unit under it (a general branch with its branches, a committee with its
  whole tree): their unit streams, their projects' streams, the account streams of everyone
  who ever belonged to them, and the campaign-level events naming them or their projects (a
  committee: its campaigns' streams whole);
- user X: their account stream, the audit reads of their trail, and every event X did.

Who reads what. Organizers, auditors and admins (permission "audit.trail") read every event,
internal comments and audit reads included, within their committee when they belong to one.
Unit members (applicants, secretaries: "trail.view") read their own unit's and project's trail
(a general-branch secretary: the branches under it too), limited to the event types in
UNIT_VISIBLE and to comments shared with the unit. A type added later stays hidden from unit
members until it is listed there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from . import authz, db, diff, log
from .campaign_templates import CATEGORIES, NEWS_LEVELS
from .commands.applications import OPINION_LEVELS
from .errors import DomainError, Forbidden, NotFound
from .events import CATALOGUE, Event, NewEvent, from_row
from .exports import spreadsheet_safe
from .i18n import N_, _, later, render
from .lifecycle import STATES
from .orgtree import LEVELS

TZ = "Asia/Shanghai"
PAGE = 50
USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")
KINDS = {"campaign": N_("创建活动"), "unit": N_("组织"), "project": N_("项目"), "user": N_("账号")}
SYSTEM = N_("系统")  # how the "system" actor is named
ACCOUNT_TYPES = ("AccountCreated", "AccountRolesChanged")
COMMENT_TYPES = ("CommentPosted", "CommentEdited", "CommentResolved", "CommentReopened")

# What a unit member sees of their own unit's trail (comments: only those shared with the unit).
UNIT_VISIBLE = {
    "OrgUnitCreated", "OrgUnitRenamed", "OrgUnitMoved",
    "AccountCreated", "AccountRolesChanged", "AccountDeactivated", "AccountReactivated",
    "PasswordChanged", "DeadlineExtended", "ReminderSent",
    "ApplicationSubmitted", "UnitOpinionRecorded", "PaperCopyUploaded",
    "ReviewReturned", "ProjectApproved", "ProjectRejected", *COMMENT_TYPES,
    "CultivationStarted", "NewsArticleAdded", "ActivityRecorded", "PhotoAdded",
    "PhotoCaptionChanged", "EvidenceWithdrawn", "BudgetSet", "ExpenseRecorded",
    "DeferralRequested", "DeferralGranted", "DeferralRefused",
    "ProjectScored", "PublicityStarted", "ProjectPublicized", "PublicityConcluded",
    "OutcomeFinalised", "CertificationRevoked", "ReportSubmitted",
}  # fmt: skip


# --- Time ------------------------------------------------------------------------------------


def local(text: str, tz: str = TZ, seconds: bool = True) -> str:
    """An occurred_at text shown in Beijing time: '2025-06-10 10:00:05'."""
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return log.parse_time(text).astimezone(ZoneInfo(tz)).strftime(fmt)


def utc_text(moment: datetime) -> str:
    return log.format_time(moment)


LOCAL_INPUTS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")


def parse_local_input(text: str, end_of_day: bool, label: str, tz: str = TZ) -> datetime:
    """'2025-06-16', '2025-06-16 18:00' or the browser's '2025-06-16T18:00', in Beijing time.
    A date alone means the start of that day, or with `end_of_day` the end of it. `label` names
    the input in a message (an N_ msgid, translated here)."""
    raw = (text or "").strip()
    if len(raw) > 19:
        raise DomainError(
            _("%(label)s格式不正确：应为 2025-06-16 或 2025-06-16 18:00。", label=_(label))
        )
    try:
        day = datetime.strptime(raw, "%Y-%m-%d")
        moment = day + timedelta(days=1, microseconds=-1) if end_of_day else day
    except ValueError:
        moment = None
        for fmt in LOCAL_INPUTS:
            try:
                moment = datetime.strptime(raw, fmt)
                break
            except ValueError:
                continue
        if moment is None:
            raise DomainError(
                _(
                    "%(label)s格式不正确：应为 2025-06-16 或 2025-06-16 18:00，收到“%(raw)s”。",
                    label=_(label),
                    raw=raw[:19],
                )
            ) from None
    return moment.replace(tzinfo=ZoneInfo(tz))


# --- Scopes ----------------------------------------------------------------------------------


@dataclass
class Scope:
    kind: str
    key: str
    heading: str | dict  # the title: a name, or an i18n.later message
    unit: str | None  # the unit whose scope rules decide access (committee for a campaign)
    campaigns: list[str] = field(default_factory=list)  # for the stage filter
    streams: set[str] = field(default_factory=set)  # taken whole
    mention_streams: set[str] = field(default_factory=set)  # campaign-level streams whose ...
    mention_units: set[str] = field(default_factory=set)  # ... events naming these units
    mention_projects: set[str] = field(default_factory=set)  # ... or these projects count
    actor: str | None = None  # a user trail: everything this user did

    @property
    def title(self) -> str:
        """Translated when read: a page shows it in the UI's language, a document in Chinese."""
        return render(self.heading) if isinstance(self.heading, dict) else self.heading

    @property
    def ref(self) -> str:
        return f"{self.kind}:{self.key}"

    def accepts(self, event: Event, names: Names) -> bool:
        if event.stream in self.streams or (self.actor and event.actor == self.actor):
            return True
        if event.stream not in self.mention_streams:
            return False
        units, projects = names.mentioned(event)
        return bool(units & self.mention_units or projects & self.mention_projects)


def split_stream(stream: str) -> tuple[str, str]:
    """(kind, owner): 'project:x' -> ('project', 'x'); 'access:unit:u' -> ('access:unit', 'u');
    'score:<pid>:<round>:<reviewer>' -> ('score', '<pid>')."""
    kind, _sep, rest = stream.partition(":")
    if kind == "access" and ":" in rest:
        sub, _sep, rest = rest.partition(":")
        kind = f"access:{sub}"
    return kind, rest.partition(":")[0]


def all_streams() -> list[str]:
    return [r[0] for r in db.fetchall("SELECT DISTINCT stream FROM event")]


def _owned_by(owners: set[str], streams: list[str] | None = None) -> set[str]:
    return {s for s in (streams or all_streams()) if split_stream(s)[1] in owners}


def _unit_row(code: str):
    return db.fetchone(
        "SELECT code, name, level, parent, root FROM org_unit WHERE code = ?", (code,)
    )


def descendants(code: str) -> list[str]:
    """The unit and every unit under it, in the current tree."""
    children: dict[str, list[str]] = {}
    for c, parent in db.fetchall("SELECT code, parent FROM org_unit"):
        children.setdefault(parent, []).append(c)
    out, todo = [], [code]
    while todo:
        c = todo.pop(0)
        out.append(c)
        todo.extend(sorted(children.get(c, [])))
    return out


def members_ever(units: set[str]) -> set[str]:
    """Usernames of everyone who belonged to one of `units` at some point (from the log)."""
    marks = ",".join("?" * len(ACCOUNT_TYPES))
    rows = db.fetchall(f"SELECT payload FROM event WHERE type IN ({marks})", ACCOUNT_TYPES)
    out = set()
    for (payload,) in rows:
        data = json.loads(payload)
        if data.get("unit") in units:
            out.add(data["username"])
    return out


def campaigns_of(committee: str) -> list[str]:
    rows = db.fetchall("SELECT slug FROM campaign WHERE committee = ? ORDER BY slug", (committee,))
    return [r[0] for r in rows]


def _campaign_level(slugs, streams) -> set[str]:
    """Streams a campaign owns itself (campaign:, panel:, certification:, access:campaign:)."""
    return _owned_by(set(slugs), streams)


def project_scope(pid: str) -> Scope:
    row = db.fetchone(
        "SELECT p.campaign, p.unit, p.brand_name, u.name FROM project p "
        "LEFT JOIN org_unit u ON u.code = p.unit WHERE p.id = ?",
        (pid,),
    )
    if row is None:
        raise NotFound(_("项目不存在。"))
    slug, unit, brand, unit_name = row
    streams = all_streams()
    title = later("项目「%(brand)s」（%(unit)s）", brand=brand or later("（未命名品牌）"),
                  unit=unit_name or unit)  # fmt: skip
    scope = Scope("project", pid, title, unit, [slug], _owned_by({pid}, streams))
    scope.mention_streams = _campaign_level([slug], streams)
    scope.mention_projects = {pid}
    return scope


def campaign_scope(slug: str) -> Scope:
    row = db.fetchone("SELECT title, committee FROM campaign WHERE slug = ?", (slug,))
    if row is None:
        raise NotFound(_("创建活动 %(slug)s 不存在。", slug=slug))
    pids = {r[0] for r in db.fetchall("SELECT id FROM project WHERE campaign = ?", (slug,))}
    return Scope("campaign", slug, later("创建活动「%(title)s」", title=row[0]), row[1], [slug],
                 _owned_by({slug} | pids))  # fmt: skip


def unit_scope(code: str, children: bool = True) -> Scope:
    """A unit's trail; with `children` the units under it are part of it."""
    row = _unit_row(code)
    if row is None:
        raise NotFound(_("组织 %(code)s 不存在。", code=code))
    _code, name, level, _parent, root = row
    units = set(descendants(code)) if children else {code}
    marks = ",".join("?" * len(units))
    pids = {
        r[0] for r in db.fetchall(f"SELECT id FROM project WHERE unit IN ({marks})", tuple(units))
    }
    users = members_ever(units)
    slugs = campaigns_of(root)
    streams = all_streams()
    wanted = {"unit": units, "access:unit": units, "user": users, "access:user": users}
    chosen = set()
    for s in streams:
        kind, owner = split_stream(s)
        if owner in pids or owner in wanted.get(kind, ()):
            chosen.add(s)
    scope = Scope("unit", code, name, code, slugs, chosen)
    if level == "committee" and children:  # a committee's trail holds its campaigns whole
        scope.streams |= _campaign_level(slugs, streams)
    else:
        scope.mention_streams = _campaign_level(slugs, streams)
        scope.mention_units, scope.mention_projects = units, pids
    if children and level == "general_branch":
        scope.heading = later("%(name)s（含下属党支部）", name=name)
    elif children and level == "committee":
        scope.heading = later("%(name)s（含全部下属组织）", name=name)
    return scope


def user_scope(username: str) -> Scope:
    if not USERNAME.match(username or "") and username != "system":
        raise NotFound(_("账号不存在。"))
    row = db.fetchone("SELECT display_name, unit FROM user_account WHERE username = ?", (username,))
    if row is None and username != "system":
        raise NotFound(_("账号 %(username)s 不存在。", username=username))
    name, unit = row if row else (later(SYSTEM), None)
    scope = Scope("user", username, later("账号 %(name)s（%(username)s）", name=name,
                                          username=username), unit)  # fmt: skip
    scope.streams = {f"user:{username}", f"access:user:{username}"}
    scope.actor = username
    if unit:
        root = _unit_row(unit)
        scope.campaigns = campaigns_of(root[4]) if root else []
    else:
        scope.campaigns = [r[0] for r in db.fetchall("SELECT slug FROM campaign ORDER BY slug")]
    return scope


SCOPES: dict[str, Callable[[str], Scope]] = {
    "campaign": campaign_scope,
    "unit": unit_scope,
    "project": project_scope,
    "user": user_scope,
}


def scope_for(kind: str, key: str) -> Scope:
    if kind not in SCOPES:
        raise NotFound(_("没有这种审计范围。"))
    return SCOPES[kind](key)


# --- Access ------------------------------------------------------------------------------------


def reads_all(actor: authz.Actor) -> bool:
    return authz.can(actor, "audit.trail")


def viewer_scope(actor: authz.Actor, kind: str, key: str) -> tuple[Scope, bool]:
    """The trail `actor` may read for (kind, key), and whether it is the full trail (internal
    comments and audit reads included). Raises NotFound or Forbidden."""
    scope = scope_for(kind, key)
    if reads_all(actor):
        if actor.unit is None or scope.unit is None or authz.in_scope(actor, scope.unit):
            return scope, True
        raise Forbidden(_("您只能查看本党委范围内的审计轨迹。"))
    if (
        authz.can(actor, "trail.view")
        and kind in ("unit", "project")
        and authz.in_scope(actor, scope.unit)
    ):
        if kind == "unit" and not actor.has("approver"):
            scope = unit_scope(key, children=False)  # an applicant: their own unit only
        return scope, False
    raise Forbidden(_("您只能查看本单位的操作记录。"))


def committee_scope(actor: authz.Actor) -> Scope | None:
    """For a full reader who belongs to a committee: that committee's whole trail."""
    if actor.unit is None:
        return None
    row = _unit_row(actor.unit)
    return unit_scope(row[4]) if row else None


# --- Filters ---------------------------------------------------------------------------------


@dataclass
class Filters:
    type: str | None = None
    actor: str | None = None
    since: str | None = None  # UTC text, inclusive
    until: str | None = None  # UTC text, inclusive
    stage: str | None = None  # "slug:code"
    stage_campaign: str | None = None
    after: int = 0
    args: dict = field(default_factory=dict)  # the cleaned values, for links and the form

    def as_payload(self) -> dict:
        return {k: v for k, v in self.args.items() if v}


def stage_options(slugs: list[str]) -> list[dict]:
    """Each stage of the scope's campaigns as a filter: from its opening to the next stage's."""
    out = []
    for slug in slugs:
        config = campaign_config_at(slug)
        if config is None:
            continue
        tz = config.get("timezone", TZ)
        stages = config["stages"]
        for i, s in enumerate(stages):
            since = parse_local_input(s["opens"], False, N_("阶段开始时间"), tz)
            nxt = stages[i + 1]["opens"] if i + 1 < len(stages) else None
            until = parse_local_input(nxt, False, N_("阶段时间"), tz) if nxt else None
            out.append(
                {
                    "value": f"{slug}:{s['code']}",
                    "label": f"{config['title']} · {s['name']}",
                    "slug": slug,
                    "since": utc_text(since),
                    "until": utc_text(until - timedelta(microseconds=1)) if until else None,
                }
            )
    return out


def parse_filters(args, scope: Scope) -> Filters:
    """Check every filter value; a bad one is a DomainError (400) saying what is wrong."""
    f = Filters()
    clean = {}
    type_ = (args.get("type") or "").strip()
    if type_:
        if type_ not in CATALOGUE:
            raise DomainError(_("事件类型不存在：请从列表中选择。"))
        f.type = clean["type"] = type_
    actor = (args.get("actor") or "").strip()
    if actor:
        if not USERNAME.match(actor):
            raise DomainError(_("操作人账号格式不正确：只能包含小写字母、数字、点、横线和下划线。"))
        f.actor = clean["actor"] = actor
    start, end = (args.get("from") or "").strip(), (args.get("to") or "").strip()
    since = parse_local_input(start, False, N_("开始日期")) if start else None
    until = parse_local_input(end, True, N_("结束日期")) if end else None
    if since and until and since > until:
        raise DomainError(_("开始日期晚于结束日期：请交换两个日期，或重新选择。"))
    if since:
        f.since, clean["from"] = utc_text(since), start
    if until:
        f.until, clean["to"] = utc_text(until), end
    stage = (args.get("stage") or "").strip()
    if stage:
        option = next((o for o in stage_options(scope.campaigns) if o["value"] == stage), None)
        if option is None:
            raise DomainError(_("阶段不存在：请从列表中选择本范围内活动的阶段。"))
        f.stage, f.stage_campaign, clean["stage"] = stage, option["slug"], stage
        f.since = max(filter(None, [f.since, option["since"]]))
        if option["until"]:
            f.until = min(filter(None, [f.until, option["until"]]))
    f.after = parse_position(args.get("after"), "after", allow_zero=True)
    f.args = clean
    return f


def parse_position(value, name: str = "position", allow_zero: bool = False) -> int:
    """A log position from a URL: a whole number not beyond the head."""
    if value in (None, ""):
        return 0
    text = str(value).strip()
    if not text.isdigit() or len(text) > 18:
        raise DomainError(
            _("位置须为正整数（参数 %(name)s），收到“%(text)s”。", name=name, text=text[:20])
        )
    position = int(text)
    head = log.head()[0]
    if position > head:
        raise DomainError(
            _("位置 %(position)s 超出了日志头：当前最新位置为 %(head)s。", position=position,
              head=head)
        )  # fmt: skip
    if position == 0 and not allow_zero:
        raise DomainError(_("位置须从 1 开始。"))
    return position


# --- Reading ---------------------------------------------------------------------------------


def _selection(scope: Scope) -> tuple[str, list]:
    """SQL for the streams (and actor) of a scope; `Scope.accepts` decides the mentions."""
    parts, params = [], []
    streams = sorted(scope.streams | scope.mention_streams)
    if streams:
        parts.append(f"stream IN ({','.join('?' * len(streams))})")
        params += streams
    if scope.actor:
        parts.append("actor = ?")
        params.append(scope.actor)
    if not parts:
        return "1 = 0", []
    return "(" + " OR ".join(parts) + ")", params


class Reader:
    """Reads one trail for one viewer: events in position order, filtered, page by page."""

    def __init__(self, scope: Scope, full: bool, names: Names | None = None):
        self.scope, self.full = scope, full
        self.names = names or Names()

    def visible(self, event: Event) -> bool:
        if self.full:
            return True
        if event.type not in UNIT_VISIBLE:
            return False
        if event.type in COMMENT_TYPES:
            comment = self.names.comment(event)
            return comment is not None and comment["visibility"] == "unit"
        return True

    def _sql(self, f: Filters) -> tuple[str, list]:
        where, params = _selection(self.scope)
        sql = [f"SELECT {log.COLUMNS} FROM event WHERE position > ? AND position <= ? AND {where}"]
        for column, op, value in (
            ("type", "=", f.type),
            ("actor", "=", f.actor),
            ("occurred_at", ">=", f.since),
            ("occurred_at", "<=", f.until),
        ):
            if value:
                sql.append(f"AND {column} {op} ?")
                params.append(value)
        return " ".join(sql) + " ORDER BY position LIMIT ?", params

    def _keep(self, event: Event, f: Filters) -> bool:
        if not self.scope.accepts(event, self.names) or not self.visible(event):
            return False
        if f.stage_campaign and self.names.campaign_of(event) != f.stage_campaign:
            return False
        return True

    def events(self, f: Filters, limit: int | None = None, upto: int | None = None,
               raw: bool = False):  # fmt: skip
        """Yield matching events after `f.after`, oldest first (at most `limit`); with `raw`,
        (stored row, event) pairs."""
        upto = upto if upto is not None else log.head()[0]
        sql, params = self._sql(f)
        after, given, batch = f.after, 0, 500
        while True:
            rows = db.fetchall(sql, (after, upto, *params, batch))
            for row in rows:
                event = from_row(row)
                if self._keep(event, f):
                    yield (row, event) if raw else event
                    given += 1
                    if limit is not None and given >= limit:
                        return
            if len(rows) < batch:
                return
            after = rows[-1][0]

    def page(self, f: Filters, size: int = PAGE) -> tuple[list[Event], int | None]:
        """One page and the position to continue after (None at the end)."""
        found = list(self.events(f, limit=size + 1))
        if len(found) > size:
            return found[:size], found[size - 1].position
        return found, None

    def contains(self, event: Event) -> bool:
        return self._keep(event, Filters())


def may_read_event(actor: authz.Actor, event: Event, names: Names | None = None) -> bool:
    """The permalink's check: the event lies in a trail this actor may read."""
    names = names or Names()
    if reads_all(actor):
        if actor.unit is None:
            return True
        scope = committee_scope(actor)
        return scope is not None and Reader(scope, True, names).contains(event)
    if not authz.can(actor, "trail.view") or not actor.unit or _unit_row(actor.unit) is None:
        return False
    scope = unit_scope(actor.unit, children=actor.has("approver"))
    return Reader(scope, False, names).contains(event)


# --- Names and context -------------------------------------------------------------------------


class Names:
    """Current display names of people, units, projects and campaigns, loaded once per use,
    and what the log says about comments (author, visibility) and campaign stages."""

    def __init__(self):
        self._users = self._units = self._projects = self._campaigns = None
        self._comments: dict[str, dict] = {}
        self._comment_streams: set[str] = set()
        self._configs: dict[str, dict | None] = {}

    @property
    def users(self) -> dict[str, str]:
        if self._users is None:
            self._users = dict(db.fetchall("SELECT username, display_name FROM user_account"))
            self._users.setdefault("system", SYSTEM)
        return self._users

    @property
    def units(self) -> dict[str, str]:
        if self._units is None:
            self._units = dict(db.fetchall("SELECT code, name FROM org_unit"))
        return self._units

    @property
    def projects(self) -> dict[str, dict]:
        if self._projects is None:
            rows = db.fetchall("SELECT id, campaign, unit, brand_name, category FROM project")
            self._projects = {
                r[0]: {"campaign": r[1], "unit": r[2], "brand": r[3], "category": r[4]}
                for r in rows
            }
        return self._projects

    @property
    def campaigns(self) -> dict[str, str]:
        if self._campaigns is None:
            self._campaigns = dict(db.fetchall("SELECT slug, title FROM campaign"))
        return self._campaigns

    def user(self, username: str | None) -> str:
        if not username:
            return ""
        name = self.users.get(username, username)
        return _(SYSTEM) if username == "system" and name == SYSTEM else name

    def unit(self, code: str | None) -> str:
        if not code:
            return _("（无）")
        return self.units.get(code, code)

    def brand(self, pid: str) -> str:
        project = self.projects.get(pid)
        return (project and project["brand"]) or pid

    def config(self, slug: str) -> dict | None:
        if slug not in self._configs:
            self._configs[slug] = campaign_config_at(slug)
        return self._configs[slug]

    def campaign_of(self, event: Event) -> str | None:
        kind, ident = split_stream(event.stream)
        if ident in self.projects:
            return self.projects[ident]["campaign"]
        if kind in ("campaign", "access:campaign"):
            return ident
        value = event.payload.get("campaign")
        return value if isinstance(value, str) else None

    def project_of(self, event: Event) -> str | None:
        owner = split_stream(event.stream)[1]
        if owner in self.projects:
            return owner
        value = event.payload.get("project")
        if isinstance(value, str) and value in self.projects:
            return value
        if event.type == "ObjectionAnswered":
            return self.objection_project(event)
        return None

    def mentioned(self, event: Event) -> tuple[set[str], set[str]]:
        """(units, projects) a campaign-level event names in its payload."""
        p = event.payload
        units = {p["unit"]} if isinstance(p.get("unit"), str) else set()
        projects = {p["project"]} if isinstance(p.get("project"), str) else set()
        for key in ("projects", "outcomes", "scored", "unscored"):
            value = p.get(key)
            if isinstance(value, (dict, list)):
                projects |= {k for k in value if isinstance(k, str)}
        if event.type == "ObjectionAnswered":
            projects.discard(None)
            found = self.objection_project(event)
            if found:
                projects.add(found)
        return units, projects

    def objection_project(self, event: Event) -> str | None:
        """The project an objection (answered by `event`) was lodged against."""
        wanted = event.payload.get("objection_id")
        for e in log.read_stream(event.stream, event.position):
            if e.type == "ObjectionLodged" and e.payload.get("objection_id") == wanted:
                return e.payload.get("project")
        return None

    def stage_of(self, event: Event) -> str | None:
        """The campaign stage the event happened in: the last one opened by then."""
        slug = self.campaign_of(event)
        config = self.config(slug) if slug else None
        if not config:
            return None
        when = local(event.occurred_at, config.get("timezone", TZ), seconds=False)
        name = _("活动准备")
        for s in config["stages"]:
            if s["opens"] <= when:
                name = s["name"]
        return name

    def comment(self, event_or_id) -> dict | None:
        """{"author", "visibility", "body"} of a comment, read from its stream in the log."""
        if isinstance(event_or_id, Event):
            cid, stream = event_or_id.payload.get("comment_id"), event_or_id.stream
            if stream not in self._comment_streams:
                self._comment_streams.add(stream)
                for e in log.read_stream(stream):
                    if e.type == "CommentPosted":
                        p = e.payload
                        self._comments[p["comment_id"]] = {
                            "author": e.actor,
                            "visibility": p["visibility"],
                            "body": p["body"],
                        }
        else:
            cid = event_or_id
        return self._comments.get(cid)

    def stage_name(self, slug: str | None, code: str) -> str:
        config = self.config(slug) if slug else None
        for s in (config or {}).get("stages", []):
            if s["code"] == code:
                return s["name"]
        return code


def campaign_config_at(slug: str, upto: int | None = None) -> dict | None:
    """A campaign's configuration folded from its stream (up to a position): the log's answer,
    not the projection's."""
    config = None
    for e in log.read_stream(f"campaign:{slug}", upto):
        p = e.payload
        if e.type == "CampaignCreated":
            config = json.loads(json.dumps(p["config"]))
        elif config is None:
            continue
        elif e.type == "CampaignStageRescheduled":
            for s in config["stages"]:
                if s["code"] == p["stage"]:
                    s["opens"], s["due"] = p["opens"], p["due"]
        elif e.type == "CampaignFormChanged":
            config["form"] = p["form"]
        elif e.type == "CampaignSettingChanged":
            config[p["key"]] = p["value"]
    return config


# --- Plain Chinese ---------------------------------------------------------------------------
# Told in the UI's language: every sentence is a msgid (Chinese) translated when it is made, so
# the audit PDF and the CSV (made inside i18n.documents_language()) stay Chinese.

ROLE_NAMES = authz.ROLES
SETTING_LABELS = {
    "title": N_("活动名称"),
    "late_policy": N_("逾期处理方式"),
    "quotas": N_("认定名额"),
    "publicity_days": N_("公示天数"),
    "deferral_max_days": N_("最长延期天数"),
    "reminder_days": N_("提前提醒天数"),
}
LATE_POLICIES = {"refuse": N_("逾期不予受理"), "flag": N_("允许逾期提交并标注")}
DECISIONS = {"agree": N_("同意上报"), "return": N_("退回修改")}
EXCERPT = 200


def excerpt(text, limit: int = EXCERPT) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[:limit] + "…"


def _label(labels: dict, code) -> str:
    """A code's label from an N_ dict, translated; an unknown code as it is."""
    return _(labels[code]) if code in labels else str(code)


def _category(code) -> str:
    name = CATEGORIES.get(code, {}).get("name", code)
    return _(name) if name and code in CATEGORIES else name


def setting_value(key: str, value) -> str:
    if key == "late_policy":
        return _label(LATE_POLICIES, value)
    if key == "quotas" and isinstance(value, dict):
        parts = [
            _("%(category)s %(quota)s", category=_category(k),
              quota=_("不限") if v is None else _("%(n)s 个", n=v))
            for k, v in value.items()
        ]  # fmt: skip
        return _("、").join(parts) or _("（无）")
    if key == "reminder_days" and isinstance(value, list):
        return _("、").join(_("提前 %(n)s 天", n=d) for d in value) or _("（不提醒）")
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if value is None:
        return _("（空）")
    return str(value)


def _reason(text) -> str:
    return _("：%(text)s", text=excerpt(text)) if str(text or "").strip() else ""


def describe(event: Event, names: Names | None = None) -> str:
    """What happened, as one plain sentence: '张三 将「品牌」退回修改：原因…'."""
    names = names or Names()
    fn = DESCRIBE.get(event.type)
    who = names.user(event.actor)
    if fn is None:
        return f"{who} {_(event.label)}"
    try:
        return fn(event, event.payload, who, names)
    except (KeyError, TypeError, AttributeError, ValueError):
        return f"{who} {_(event.label)}"


def _project_name(e: Event, names: Names) -> str:
    pid = names.project_of(e) or split_stream(e.stream)[1]
    return names.brand(pid)


def _submitted(e, p, who, n):
    brand = p["fields"].get("brand_name") or n.brand(split_stream(e.stream)[1])
    revision = p["revision"]
    late = _("，逾期提交") if p.get("late") else ""
    values = {"who": who, "unit": n.unit(p["unit"]), "brand": brand, "revision": revision,
              "late": late}  # fmt: skip
    if revision == 1:
        return _(
            "%(who)s 提交了%(unit)s的申报「%(brand)s」（第 %(revision)s 版%(late)s）", **values
        )
    return _(
        "%(who)s 修改后重新提交了%(unit)s的申报「%(brand)s」（第 %(revision)s 版%(late)s）",
        **values,
    )


def _opinion(e, p, who, n):
    text = _(
        "%(who)s 填写%(unit)s的%(level)s（第 %(revision)s 版）：%(decision)s，"
        "签字人 %(signer)s（%(date)s）",
        who=who, unit=n.unit(p["unit"]), level=_label(OPINION_LEVELS, p["level"]),
        revision=p["revision"], decision=_label(DECISIONS, p["decision"]), signer=p["signer"],
        date=p["date"],
    )  # fmt: skip
    return text + _reason(p["text"])


def _comment_posted(e, p, who, n):
    n.comment(e)  # reads the thread, so a reply can name whom it answers
    internal = p["visibility"] == "internal"
    body = excerpt(p["body"])
    if p.get("parent_id"):
        parent = n.comment(p["parent_id"])
        to = n.user(parent["author"]) if parent else _("他人")
        if internal:
            return _("%(who)s 回复了 %(to)s 的内部评论（仅组织部和评审专家可见）：%(body)s",
                     who=who, to=to, body=body)  # fmt: skip
        return _(
            "%(who)s 回复了 %(to)s 的评论（申报单位可见）：%(body)s", who=who, to=to, body=body
        )
    project = _project_name(e, n)
    if internal:
        return _("%(who)s 在「%(project)s」发表内部评论（仅组织部和评审专家可见）：%(body)s",
                 who=who, project=project, body=body)  # fmt: skip
    return _("%(who)s 在「%(project)s」发表评论（申报单位可见）：%(body)s", who=who,
             project=project, body=body)  # fmt: skip


def _comment_edited(e, p, who, n):
    return _("%(who)s 修改了评论：%(body)s", who=who, body=excerpt(p["body"]))


def _account_roles(roles) -> str:
    return _("、").join(_label(ROLE_NAMES, r) for r in roles) or _("（无）")


def _account_unit(p, n) -> str:
    return n.unit(p["unit"]) if p.get("unit") else _("全校")


def _late_entry(p) -> str:
    return _("（逾期登记）") if p.get("late") else ""


def _news(e, p, who, n):
    return _(
        "%(who)s 为「%(project)s」登记宣传报道「%(title)s」（%(platform)s，%(level)s级，%(date)s）",
        who=who, project=_project_name(e, n), title=excerpt(p["title"], 60),
        platform=p["platform"], level=_label(NEWS_LEVELS, p["level"]), date=p["published_on"],
    ) + _late_entry(p)  # fmt: skip


def _org_created(e, p, who, n):
    level = _label(LEVELS, p["level"])
    if p.get("parent"):
        return _("%(who)s 创建组织「%(name)s」（%(level)s，隶属「%(parent)s」）", who=who,
                 name=p["name"], level=level, parent=n.unit(p["parent"]))  # fmt: skip
    return _("%(who)s 创建组织「%(name)s」（%(level)s）", who=who, name=p["name"], level=level)


def _password(e, p, who, n):
    if p["username"] == e.actor:
        return _("%(who)s 修改了自己的密码", who=who)
    return _("%(who)s 重置了 %(name)s（%(username)s）的密码", who=who,
             name=n.user(p["username"]), username=p["username"])  # fmt: skip


def _campaign_stage(e, n, code) -> str:
    return n.stage_name(split_stream(e.stream)[1], code)


def _report(e, p, who, n):
    kind = REPORT_KINDS.get(p["kind"], N_("报告"))
    text = _(
        "%(who)s 提交「%(project)s」的%(kind)s（第 %(revision)s 版，%(chars)s 字，"
        "照片 %(photos)s 张，附件 %(attachments)s 个）",
        who=who, project=_project_name(e, n), kind=_(kind), revision=p["revision"],
        chars=p["chars"], photos=len(p["photos"]), attachments=len(p["attachments"]),
    )  # fmt: skip
    return text + (_("，逾期提交") if p["late"] else "")


def _score(e, p, who, n):
    veto = _("，触发一票否决") if p.get("failed") or p.get("vetoed") else ""
    return _(
        "%(reviewer)s 提交「%(brand)s」的%(round)s评分：总分 %(total)s（基本分 %(base)s，"
        "加分 %(bonus)s）%(veto)s，依据第 %(revision)s 版申报、第 %(rubric)s 版评分细则",
        reviewer=n.user(p["reviewer"]), brand=n.brand(p["project"]), round=_round(p["round"]),
        total=p["total"], base=p["base"], bonus=p["bonus"], veto=veto, revision=p["revision"],
        rubric=p["rubric_version"],
    )  # fmt: skip


def _scored(e, p, who, n):
    values = {"project": _project_name(e, n), "round": _round(p["round"]), "grade": p["grade"],
              "n": p["reviewers"]}  # fmt: skip
    if p.get("score") is None:
        return _(
            "「%(project)s」%(round)s评分结果确定：无得分，%(grade)s（%(n)s 位评审专家）", **values
        )
    return _("「%(project)s」%(round)s评分结果确定：%(score)s 分，%(grade)s（%(n)s 位评审专家）",
             score=p["score"], **values)  # fmt: skip


def _proposed(e, p, who, n):
    values = {"who": who, "brand": n.brand(p["project"]),
              "outcome": _label(OUTCOMES, p["outcome"])}  # fmt: skip
    if not p.get("score"):
        text = _("%(who)s 建议「%(brand)s」认定为「%(outcome)s」", **values)
    elif p.get("rank"):
        text = _("%(who)s 建议「%(brand)s」认定为「%(outcome)s」（得分 %(score)s，排名第 %(rank)s）",
                 score=p["score"], rank=p["rank"], **values)  # fmt: skip
    else:
        text = _("%(who)s 建议「%(brand)s」认定为「%(outcome)s」（得分 %(score)s）", score=p["score"],
                 **values)  # fmt: skip
    return text + _reason(p["note"])


def _objection(e, p, who, n):
    by, text = p["on_behalf_of"] or _("本人"), excerpt(p["text"])
    if p.get("project"):
        return _("%(who)s 登记「%(brand)s」的异议（反映人：%(by)s）：%(text)s", who=who,
                 brand=n.brand(p["project"]), by=by, text=text)  # fmt: skip
    return _("%(who)s 登记对公示的异议（反映人：%(by)s）：%(text)s", who=who, by=by, text=text)


DESCRIBE: dict[str, Callable[[Event, dict, str, Names], str]] = {
    "OrgUnitCreated": _org_created,
    "OrgUnitRenamed": lambda e, p, who, n: (
        _("%(who)s 将组织 %(code)s 更名为「%(name)s」", who=who, code=p["code"], name=p["name"])
        + _reason(p["reason"])
    ),
    "OrgUnitMoved": lambda e, p, who, n: (
        _(
            "%(who)s 将「%(unit)s」调整到「%(parent)s」之下",
            who=who,
            unit=n.unit(p["code"]),
            parent=n.unit(p["parent"]),
        )
        + _reason(p["reason"])
    ),  # fmt: skip
    "AccountCreated": lambda e, p, who, n: _(
        "%(who)s 创建账号 %(username)s（%(name)s，角色：%(roles)s，所属：%(unit)s）",
        who=who,
        username=p["username"],
        name=p["display_name"],
        roles=_account_roles(p["roles"]),
        unit=_account_unit(p, n),
    ),  # fmt: skip
    "AccountRolesChanged": lambda e, p, who, n: (
        _(
            "%(who)s 将账号 %(name)s（%(username)s）的角色调整为%(roles)s，所属：%(unit)s",
            who=who,
            name=n.user(p["username"]),
            username=p["username"],
            roles=_account_roles(p["roles"]),
            unit=_account_unit(p, n),
        )
        + _reason(p["reason"])
    ),  # fmt: skip
    "AccountDeactivated": lambda e, p, who, n: (
        _(
            "%(who)s 停用账号 %(name)s（%(username)s）",
            who=who,
            name=n.user(p["username"]),
            username=p["username"],
        )
        + _reason(p["reason"])
    ),  # fmt: skip
    "AccountReactivated": lambda e, p, who, n: (
        _(
            "%(who)s 重新启用账号 %(name)s（%(username)s）",
            who=who,
            name=n.user(p["username"]),
            username=p["username"],
        )
        + _reason(p["reason"])
    ),  # fmt: skip
    "PasswordChanged": _password,
    "CheckpointWritten": lambda e, p, who, n: _(
        "%(who)s 签署检查点：位置 %(position)s，哈希 %(hash)s…（文件 %(file)s）",
        who=who,
        position=p["position"],
        hash=p["hash"][:16],
        file=p["file"],
    ),
    "CampaignCreated": lambda e, p, who, n: _(
        "%(who)s 创建品牌创建活动「%(title)s」（依据模板 %(template)s）",
        who=who,
        title=p["config"].get("title", p["slug"]),
        template=p["template"],
    ),
    "CampaignStageRescheduled": lambda e, p, who, n: (
        _(
            "%(who)s 将「%(stage)s」阶段调整为 %(opens)s 至 %(due)s",
            who=who,
            stage=_campaign_stage(e, n, p["stage"]),
            opens=p["opens"],
            due=p["due"],
        )
        + _reason(p["reason"])
    ),  # fmt: skip
    "CampaignFormChanged": lambda e, p, who, n: (
        _("%(who)s 修改了申报表字段（现共 %(n)s 项）", who=who, n=len(p["form"]))
        + _reason(p["reason"])
    ),
    "CampaignSettingChanged": lambda e, p, who, n: (
        _(
            "%(who)s 将活动设置「%(setting)s」改为「%(value)s」",
            who=who,
            setting=_label(SETTING_LABELS, p["key"]),
            value=setting_value(p["key"], p["value"]),
        )
        + _reason(p["reason"])
    ),  # fmt: skip
    "DeadlineExtended": lambda e, p, who, n: (
        _(
            "%(who)s 将「%(unit)s」的「%(stage)s」截止时间延长至 %(due)s",
            who=who,
            unit=n.unit(p["unit"]),
            stage=_campaign_stage(e, n, p["stage"]),
            due=p["due"],
        )
        + _reason(p["reason"])
    ),  # fmt: skip
    "ApplicationSubmitted": _submitted,
    "ReportSubmitted": _report,
    "UnitOpinionRecorded": _opinion,
    "BookletForewordSet": lambda e, p, who, n: (
        _("%(who)s 修改了成果汇编的前言（%(n)s 字）", who=who, n=len(p["text"]))
        if p["text"]
        else _("%(who)s 清空了成果汇编的前言", who=who)
    ),
    "ShowcasePublished": lambda e, p, who, n: _(
        "%(who)s 发布了成果展示，展示范围：%(audience)s", who=who, audience=_audience(p["audience"])
    ),
    "ShowcaseWithdrawn": lambda e, p, who, n: _("%(who)s 撤回了成果展示", who=who),
    "ShowcaseBrandSet": lambda e, p, who, n: (
        _(
            "%(who)s 设置了「%(brand)s」在成果展示中的封面照片与简介",
            who=who,
            brand=n.brand(p["project"]),
        )
        if p["cover"]
        else _(
            "%(who)s 设置了「%(brand)s」在成果展示中的简介（未选封面照片）",
            who=who,
            brand=n.brand(p["project"]),
        )
    ),  # fmt: skip
    "PaperCopyUploaded": lambda e, p, who, n: _(
        "%(who)s 为「%(project)s」上传%(level)s的签章纸质版扫描件「%(file)s」（第 %(revision)s 版）",
        who=who,
        project=_project_name(e, n),
        level=_label(OPINION_LEVELS, p["level"]),
        file=p["file"]["name"],
        revision=p["revision"],
    ),  # fmt: skip
    "ReviewReturned": lambda e, p, who, n: (
        _("%(who)s 将「%(project)s」退回修改", who=who, project=_project_name(e, n))
        + _reason(p["reason"])
    ),
    "ProjectApproved": lambda e, p, who, n: (
        _(
            "%(who)s 同意「%(project)s」立项（第 %(revision)s 版）",
            who=who,
            project=_project_name(e, n),
            revision=p["revision"],
        )
        + _reason(p["note"])
    ),  # fmt: skip
    "ProjectRejected": lambda e, p, who, n: (
        _("%(who)s 决定「%(project)s」不予立项", who=who, project=_project_name(e, n))
        + _reason(p["reason"])
    ),
    "CommentPosted": _comment_posted,
    "CommentEdited": _comment_edited,
    "CommentResolved": lambda e, p, who, n: _("%(who)s 将一条评论标记为已解决", who=who),
    "CommentReopened": lambda e, p, who, n: _("%(who)s 重新打开了一条评论", who=who),
    "ReminderSent": lambda e, p, who, n: (
        _(
            "%(who)s 提醒「%(unit)s」：%(stage)s截止 %(due)s",
            who=who,
            unit=n.unit(p["unit"]),
            stage=_campaign_stage(e, n, p["stage"]),
            due=p["due"],
        )
        + _reason(p["note"])
    ),  # fmt: skip
    "CultivationStarted": lambda e, p, who, n: _(
        "「%(project)s」进入培育创建阶段（%(who)s 提交了第一份培育材料）",
        project=_project_name(e, n),
        who=who,
    ),
    "NewsArticleAdded": _news,
    "ActivityRecorded": lambda e, p, who, n: (
        _(
            "%(who)s 为「%(project)s」登记活动「%(title)s」（%(date)s，%(place)s，%(n)s 人参加）",
            who=who,
            project=_project_name(e, n),
            title=excerpt(p["title"], 60),
            date=p["held_on"],
            place=p["place"],
            n=p["participants"],
        )
        + _late_entry(p)
    ),  # fmt: skip
    "PhotoAdded": lambda e, p, who, n: _(
        "%(who)s 为「%(project)s」上传照片「%(file)s」：%(caption)s",
        who=who,
        project=_project_name(e, n),
        file=p["file"]["name"],
        caption=excerpt(p["caption"], 80),
    ),  # fmt: skip
    "PhotoCaptionChanged": lambda e, p, who, n: _(
        "%(who)s 修改了照片注释：%(caption)s", who=who, caption=excerpt(p["caption"], 80)
    ),
    "EvidenceWithdrawn": lambda e, p, who, n: (
        _("%(who)s 撤回了「%(project)s」的一份培育材料", who=who, project=_project_name(e, n))
        + _reason(p["reason"])
    ),
    "BudgetSet": lambda e, p, who, n: (
        _(
            "%(who)s 核定「%(project)s」的经费预算为 %(amount)s 元",
            who=who,
            project=_project_name(e, n),
            amount=p["amount"],
        )
        + _reason(p["note"])
    ),  # fmt: skip
    "ExpenseRecorded": lambda e, p, who, n: (
        _(
            "%(who)s 填报经费支出：%(date)s %(item)s %(amount)s 元",
            who=who,
            date=p["spent_on"],
            item=excerpt(p["item"], 60),
            amount=p["amount"],
        )
        + (_("（附票据）") if p.get("receipt") else "")
    ),  # fmt: skip
    "DeferralRequested": lambda e, p, who, n: (
        _(
            "%(who)s 为「%(project)s」申请将「%(stage)s」延期至 %(due)s",
            who=who,
            project=_project_name(e, n),
            stage=n.stage_name(n.campaign_of(e), p["stage"]),
            due=p["due"],
        )
        + _reason(p["reason"])
    ),  # fmt: skip
    "DeferralGranted": lambda e, p, who, n: (
        _(
            "%(who)s 批准「%(project)s」延期至 %(due)s",
            who=who,
            project=_project_name(e, n),
            due=p["due"],
        )
        + _reason(p["note"])
    ),  # fmt: skip
    "DeferralRefused": lambda e, p, who, n: (
        _("%(who)s 不同意「%(project)s」的延期申请", who=who, project=_project_name(e, n))
        + _reason(p["reason"])
    ),
    "RubricChanged": lambda e, p, who, n: (
        _(
            "%(who)s 修改评分细则（第 %(version)s 版，%(source)s）",
            who=who,
            version=p["version"],
            source=_label(SOURCES, p["source"]),
        )
        + _reason(p["reason"])
    ),  # fmt: skip
    "ScoringRoundOpened": lambda e, p, who, n: (
        _("%(who)s 开启%(round)s评分", who=who, round=_round(p["round"]))
        + (_("（逾期开启）") if p.get("late") else "")
        + _reason(p["note"])
    ),
    "ScoringRoundClosed": lambda e, p, who, n: _(
        "%(who)s 结束%(round)s评分：已评分 %(scored)s 个项目，未评分 %(unscored)s 个",
        who=who,
        round=_round(p["round"]),
        scored=len(p["scored"]),
        unscored=len(p["unscored"]),
    ),  # fmt: skip
    "ReviewerAssigned": lambda e, p, who, n: _(
        "%(who)s 指派评审专家 %(reviewer)s 评审「%(brand)s」（%(round)s，%(source)s）",
        who=who,
        reviewer=n.user(p["reviewer"]),
        brand=n.brand(p["project"]),
        round=_round(p["round"]),
        source=_label(SOURCES, p["source"]),
    ),  # fmt: skip
    "ReviewerUnassigned": lambda e, p, who, n: (
        _(
            "%(who)s 取消 %(reviewer)s 对「%(brand)s」的%(round)s评审",
            who=who,
            reviewer=n.user(p["reviewer"]),
            brand=n.brand(p["project"]),
            round=_round(p["round"]),
        )
        + _reason(p["reason"])
    ),  # fmt: skip
    "ConflictDeclared": lambda e, p, who, n: (
        _(
            "%(who)s 登记 %(reviewer)s 与「%(brand)s」存在利益冲突（回避）",
            who=who,
            reviewer=n.user(p["reviewer"]),
            brand=n.brand(p["project"]),
        )
        + _reason(p["reason"])
    ),  # fmt: skip
    "ScoreSubmitted": _score,
    "ProjectScored": _scored,
    "OutcomeProposed": _proposed,
    "ProposalWithdrawn": lambda e, p, who, n: (
        _("%(who)s 撤回对「%(brand)s」的认定建议", who=who, brand=n.brand(p["project"]))
        + _reason(p["reason"])
    ),
    "PublicityStarted": lambda e, p, who, n: _(
        "%(who)s 开始第 %(n)s 次公示：%(starts)s 至 %(ends)s，共 %(count)s 个项目",
        who=who,
        n=p["publicity"],
        starts=p["starts"],
        ends=p["ends"],
        count=len(p["projects"]),
    ),  # fmt: skip
    "ObjectionLodged": _objection,
    "ObjectionAnswered": lambda e, p, who, n: _(
        "%(who)s 核实并答复异议（%(result)s）：核实情况：%(verification)s；答复：%(answer)s",
        who=who,
        result=_("异议成立") if p["upheld"] else _("异议不成立"),
        verification=excerpt(p["verification"], 100),
        answer=excerpt(p["answer"], 100),
    ),  # fmt: skip
    "PublicityConcluded": lambda e, p, who, n: _(
        "%(who)s 结束第 %(n)s 次公示，确定 %(count)s 个项目的认定结果",
        who=who,
        n=p["publicity"],
        count=len(p["outcomes"]),
    ),
    "ProjectPublicized": lambda e, p, who, n: _(
        "「%(project)s」进入第 %(n)s 次公示，公示至 %(ends)s",
        project=_project_name(e, n),
        n=p["publicity"],
        ends=p["ends"],
    ),
    "OutcomeFinalised": lambda e, p, who, n: _(
        "「%(project)s」认定结果确定：%(outcome)s",
        project=_project_name(e, n),
        outcome=_label(OUTCOMES, p["outcome"]),
    ),
    "CertificationRevoked": lambda e, p, who, n: (
        _(
            "%(who)s 撤销「%(project)s」的认定（原为%(outcome)s）",
            who=who,
            project=_project_name(e, n),
            outcome=_label(OUTCOMES, p["outcome"]),
        )
        + _reason(p["reason"])
    ),  # fmt: skip
    "DocumentDownloaded": lambda e, p, who, n: _(
        "%(who)s 下载了「%(name)s」", who=who, name=p["name"]
    ),
    "ExportMade": lambda e, p, who, n: _(
        "%(who)s 导出%(export)s「%(name)s」（截至位置 %(upto)s，共 %(events)s 条事件）",
        who=who,
        export=_label(EXPORTS, p["export"]),
        name=p["name"],
        upto=p["upto"],
        events=p["events"],
    ),  # fmt: skip
}
EXPORTS = {"bundle": N_("审计包"), "csv": N_("轨迹 CSV"), "pdf": N_("审计报告 PDF")}
ROUNDS = {"midterm": N_("中期评估"), "final": N_("评估认定")}
OUTCOMES = {"excellent": N_("优秀"), "passed": N_("验收通过"), "not_passed": N_("验收未通过")}
SOURCES = {"edit": N_("在线修改"), "csv": N_("CSV 导入"), "json": N_("JSON 导入"),
           "template": N_("模板"), "manual": N_("逐个指派"), "auto": N_("自动分配")}  # fmt: skip


def _round(code: str) -> str:
    return _label(ROUNDS, code)


def state_after(event: Event) -> str | None:
    """For project events that move the state: the state's label afterwards (translated)."""
    moves = {"ReviewReturned": "returned", "ProjectApproved": "approved",
             "ProjectRejected": "rejected", "CultivationStarted": "cultivating",
             "ProjectPublicized": "proposed"}  # fmt: skip
    state = moves.get(event.type)
    if event.type == "ProjectScored":
        state = {"midterm": "midterm_scored", "final": "final_scored"}.get(event.payload["round"])
    if event.type == "OutcomeFinalised":
        state = {"excellent": "certified", "passed": "passed",
                 "not_passed": "not_passed"}.get(event.payload["outcome"])  # fmt: skip
    return _(STATES[state]) if state in STATES else None


# --- What changed ----------------------------------------------------------------------------


def _text_rows(pairs: list[tuple[str, str, str, str]]) -> list[dict]:
    """[(key, label, before, after)] -> the rows diff.html shows."""
    return [
        {"key": k, "label": label, "changed": before != after,
         "segments": diff.segments(before, after)}
        for k, label, before, after in pairs
    ]  # fmt: skip


def _field_text(f: dict) -> str:
    text = _("%(label)s｜%(required)s｜%(lines)s｜最多 %(n)s 字", label=f.get("label", ""),
             required=_("必填") if f.get("required") else _("选填"),
             lines=_("多行") if f.get("multiline") else _("单行"), n=f.get("max_length", ""))  # fmt: skip
    return text + (_("｜说明：%(help)s", help=f["help"]) if f.get("help") else "")


def _submitted_changes(e: Event, names: Names) -> list[dict]:
    p = e.payload
    before = {}
    for earlier in log.read_stream(e.stream, e.position - 1):
        if earlier.type == "ApplicationSubmitted":
            before = earlier.payload["fields"]
    config = campaign_config_at(p["campaign"], e.position) or {"form": []}
    form = list(config["form"])
    known = {f["key"] for f in form}
    form += [{"key": k, "label": k} for k in list(before) + list(p["fields"]) if k not in known]
    known |= {f["key"] for f in form}
    return diff.compare_fields(list({f["key"]: f for f in form}.values()), before, p["fields"])


def _form_changes(e: Event, names: Names) -> list[dict]:
    config = campaign_config_at(split_stream(e.stream)[1], e.position - 1) or {"form": []}
    old = {f["key"]: f for f in config["form"]}
    new = {f["key"]: f for f in e.payload["form"]}
    keys = list(new) + [k for k in old if k not in new]
    return _text_rows(
        [
            (k, (new.get(k) or old.get(k))["label"],
             _field_text(old[k]) if k in old else "", _field_text(new[k]) if k in new else "")
            for k in keys
        ]
    )  # fmt: skip


def _setting_changes(e: Event, names: Names) -> list[dict]:
    config = campaign_config_at(split_stream(e.stream)[1], e.position - 1) or {}
    key = e.payload["key"]
    before = setting_value(key, config.get(key)) if key in config else ""
    return _text_rows([(key, _label(SETTING_LABELS, key), before,
                        setting_value(key, e.payload["value"]))])  # fmt: skip


def _stage_changes(e: Event, names: Names) -> list[dict]:
    config = campaign_config_at(split_stream(e.stream)[1], e.position - 1) or {"stages": []}
    stage = next((s for s in config["stages"] if s["code"] == e.payload["stage"]), None) or {}
    before = _("%(opens)s 至 %(due)s", opens=stage.get("opens", ""), due=stage.get("due", ""))
    before = before if stage else ""
    after = _("%(opens)s 至 %(due)s", opens=e.payload["opens"], due=e.payload["due"])
    return _text_rows([(e.payload["stage"], stage.get("name", e.payload["stage"]), before, after)])


def _extension_changes(e: Event, names: Names) -> list[dict]:
    slug, p = split_stream(e.stream)[1], e.payload
    config = campaign_config_at(slug, e.position - 1) or {"stages": []}
    stage = next((s for s in config["stages"] if s["code"] == p["stage"]), None) or {}
    before = stage.get("due", "")
    for earlier in log.read_stream(e.stream, e.position - 1):
        q = earlier.payload
        if earlier.type == "DeadlineExtended" and (q["unit"], q["stage"]) == (
            p["unit"],
            p["stage"],
        ):
            before = q["due"]
    label = _("%(unit)s · %(stage)s截止时间", unit=names.unit(p["unit"]),
              stage=stage.get("name", p["stage"]))  # fmt: skip
    return _text_rows([(p["stage"], label, before, p["due"])])


def _comment_changes(e: Event, names: Names) -> list[dict]:
    before = ""
    for earlier in log.read_stream(e.stream, e.position - 1):
        if (
            earlier.payload.get("comment_id") == e.payload["comment_id"]
            and "body" in earlier.payload
        ):
            before = earlier.payload["body"]
    return _text_rows([("body", _("评论内容"), before, e.payload["body"])])


def _earlier(e: Event, same) -> dict:
    """The payload of the last event before `e` on its stream for which `same(event)` holds."""
    found = {}
    for earlier in log.read_stream(e.stream, e.position - 1):
        if same(earlier):
            found = earlier.payload
    return found


def _caption_changes(e: Event, names: Names) -> list[dict]:
    before = _earlier(e, lambda x: x.payload.get("photo_id") == e.payload["photo_id"]
                      and "caption" in x.payload)  # fmt: skip
    return _text_rows(
        [("caption", _("照片注释"), before.get("caption") or "", e.payload["caption"])]
    )


CRITERION_LABELS = (("max", N_("满分")), ("per", N_("每次")), ("cap", N_("上限")),
                    ("levels", N_("等级")), ("effect", N_("效果")), ("guidance", N_("评分说明")),
                    ("evidence", N_("考评材料")))  # fmt: skip


def _criteria_texts(rubric: dict | None) -> dict[str, tuple[str, str]]:
    """code -> (label, text) for every criterion of a rubric, depth first."""
    out: dict[str, tuple[str, str]] = {}

    def walk(nodes, depth):
        for c in nodes or []:
            parts = [c.get("name", ""), _("计分方式：%(mode)s", mode=c.get("mode", "range"))]
            for key, label in CRITERION_LABELS:
                if c.get(key) not in (None, "", []):
                    parts.append(_("%(label)s：%(value)s", label=_(label),
                                   value=setting_value(key, c[key])))  # fmt: skip
            code = str(c.get("code", len(out)))
            out[code] = (f"{'　' * depth}{code} {c.get('name', '')}", _("｜").join(parts))
            walk(c.get("children"), depth + 1)

    walk((rubric or {}).get("criteria"), 0)
    return out


def _rubric_changes(e: Event, names: Names) -> list[dict]:
    before = None
    for earlier in log.read_stream(e.stream, e.position - 1):
        if earlier.type == "CampaignCreated":
            before = earlier.payload["config"].get("rubric")
        elif earlier.type == "RubricChanged":
            before = earlier.payload["rubric"]
    old, new = _criteria_texts(before), _criteria_texts(e.payload["rubric"])
    keys = list(new) + [k for k in old if k not in new]
    return _text_rows(
        [(k, (new.get(k) or old.get(k))[0], old.get(k, ("", ""))[1], new.get(k, ("", ""))[1])
         for k in keys]
    )  # fmt: skip


REPORT_KINDS = {"final": N_("总结报告"), "midterm": N_("中期报告")}


def _report_text(payload: dict) -> dict:
    """A report revision as labelled texts: each section, then the photos and attachments."""
    out = {f"section:{s['title']}": s["text"] for s in payload.get("sections", [])}
    out["photos"] = "\n".join(f"{i}. {ph['caption']}" for i, ph in
                               enumerate(payload.get("photos", []), 1))  # fmt: skip
    out["attachments"] = "\n".join(a["name"] for a in payload.get("attachments", []))
    return out


def _report_changes(e: Event, names: Names) -> list[dict]:
    before = {}
    for earlier in log.read_stream(e.stream, e.position - 1):
        if earlier.type == "ReportSubmitted" and earlier.payload["kind"] == e.payload["kind"]:
            before = _report_text(earlier.payload)
    after = _report_text(e.payload)
    keys = list(after) + [k for k in before if k not in after]
    labels = {"photos": N_("照片及说明"), "attachments": N_("附件")}
    return _text_rows(
        [(k, _(labels[k]) if k in labels else k.split(":", 1)[-1], before.get(k, ""),
          after.get(k, "")) for k in keys]
    )  # fmt: skip


def _audience(code: str) -> str:
    from .commands.showcase import AUDIENCES

    return _label(AUDIENCES, code)


def _foreword_changes(e: Event, names: Names) -> list[dict]:
    before = _earlier(e, lambda x: x.type == "BookletForewordSet")
    return _text_rows([("text", _("成果汇编前言"), before.get("text", ""), e.payload["text"])])


def _showcase_brand_changes(e: Event, names: Names) -> list[dict]:
    before = _earlier(e, lambda x: x.type == "ShowcaseBrandSet"
                      and x.payload.get("project") == e.payload["project"])  # fmt: skip
    return _text_rows([
        ("intro", _("展示简介"), before.get("intro") or "", e.payload["intro"] or ""),
        ("cover", _("封面照片"), before.get("cover") or "", e.payload["cover"] or ""),
    ])  # fmt: skip


# Event types that change a document, with how to show the difference from the state before.
# Later modules (rubric, final report) add theirs here.
DIFFERS: dict[str, Callable[[Event, Names], list[dict]]] = {
    "ApplicationSubmitted": _submitted_changes,
    "CampaignFormChanged": _form_changes,
    "CampaignSettingChanged": _setting_changes,
    "CampaignStageRescheduled": _stage_changes,
    "DeadlineExtended": _extension_changes,
    "CommentEdited": _comment_changes,
    "PhotoCaptionChanged": _caption_changes,
    "RubricChanged": _rubric_changes,
    "ReportSubmitted": _report_changes,
    "BookletForewordSet": _foreword_changes,
    "ShowcaseBrandSet": _showcase_brand_changes,
}


def changes(event: Event, names: Names | None = None) -> list[dict] | None:
    """The difference this event made to its document, or None when it changes no document."""
    fn = DIFFERS.get(event.type)
    return fn(event, names or Names()) if fn else None


# --- Rows for pages and exports ----------------------------------------------------------------


def row(event: Event, names: Names) -> dict:
    """What a trail line shows, in the UI's language (Chinese inside a document)."""
    return {
        "position": event.position,
        "event": event,
        "local": local(event.occurred_at),
        "utc": event.occurred_at,
        "actor": event.actor,
        "actor_name": names.user(event.actor),
        "label": _(event.label),
        "text": describe(event, names),
        "stage": names.stage_of(event),
        "has_changes": event.type in DIFFERS,
        "state": state_after(event),
    }


def pretty_payload(event: Event) -> str:
    return json.dumps(event.payload, ensure_ascii=False, indent=2, sort_keys=True)


CSV_HEADER = ["位置", "时间（北京时间）", "时间（UTC）", "操作人账号", "操作人", "事件类型",
              "事件", "说明", "阶段", "事件流", "版本", "哈希"]  # fmt: skip


def csv_safe(text) -> str:
    return spreadsheet_safe("" if text is None else str(text))


def csv_text(events, names: Names) -> str:
    """The events as CSV (its routes run in i18n.documents_language(): exports stay Chinese)."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for e in events:
        r = row(e, names)
        writer.writerow([e.position, r["local"], e.occurred_at, csv_safe(e.actor),
                         csv_safe(r["actor_name"]), e.type, csv_safe(e.label),
                         csv_safe(r["text"]), csv_safe(r["stage"] or ""), csv_safe(e.stream),
                         e.version, e.hash])  # fmt: skip
    return "\ufeff" + out.getvalue()


# --- Logging the reads that matter ------------------------------------------------------------


def record_read(actor: str, type_: str, payload: dict, scope: str, now=None) -> Event:
    """Append a DocumentDownloaded or ExportMade event to "access:<scope>" (retrying when a
    concurrent read of the same scope took the version first)."""
    stream = f"access:{scope}" if scope != "system" else "access:system"
    for attempt in range(10):
        try:
            version = log.stream_version(stream)
            return log.append(stream, version, [NewEvent(type_, payload)], actor, now)[0]
        except log.ConcurrencyError:
            if attempt == 9:
                raise
    raise AssertionError("unreachable")
