"""Project states and the moves between them. Commands consult `require_state` so an illegal
move gets a message naming the state and what is allowed from it."""

from __future__ import annotations

from .errors import DomainError
from .i18n import N_, _

STATES = {
    "draft": N_("草稿"),
    "submitted": N_("已提交（待单位意见）"),
    "under_review": N_("组织部审核中"),
    "returned": N_("退回修改"),
    "approved": N_("已立项"),
    "rejected": N_("未立项"),
    "cultivating": N_("培育创建中"),
    "midterm_scored": N_("中期评估已评分"),
    "final_submitted": N_("已提交总结报告"),
    "final_scored": N_("评估认定已评分"),
    "proposed": N_("公示中"),
    "certified": N_("认定为优秀"),
    "passed": N_("验收通过"),
    "not_passed": N_("验收未通过"),
}

# action -> (label, states it may start from)
MOVES = {
    "submit": (N_("提交申报"), {"draft", "returned"}),
    "opinion": (N_("填写单位意见"), {"submitted"}),
    "paper_copy": (
        N_("上传纸质版扫描件"),
        {"submitted", "under_review", "returned", "approved", "cultivating"},
    ),
    "review": (N_("审核（退回修改、立项或不予立项）"), {"under_review"}),
    "comment": (
        N_("发表评论"),
        {
            "submitted",
            "under_review",
            "returned",
            "approved",
            "rejected",
            "cultivating",
            "midterm_scored",
            "final_submitted",
            "final_scored",
            "proposed",
        },
    ),  # fmt: skip
    # Cultivation (培育创建): evidence, funding and deferrals (workflow/commands/evidence.py).
    "evidence": (
        N_("提交培育创建材料（宣传报道、活动记录、照片）"),
        {"approved", "cultivating", "midterm_scored"},
    ),
    "funding": (
        N_("填报或核定经费"),
        {"approved", "cultivating", "midterm_scored", "final_submitted", "final_scored"},
    ),
    "deferral": (N_("申请或审批延期"), {"approved", "cultivating", "midterm_scored"}),
    # Scoring and certification (workflow/commands/scoring.py, certification.py). Final
    # scoring also accepts projects without a final report yet, so the round can be run.
    "score_midterm": (N_("中期评估评分"), {"approved", "cultivating"}),
    "score_final": (
        N_("评估认定评分"),
        {"approved", "cultivating", "midterm_scored", "final_submitted"},
    ),
    "propose": (N_("提出认定建议"), {"final_scored", "passed"}),
    "publicize": (N_("进入公示"), {"final_scored", "passed"}),
    "finalise": (N_("公示期满确定认定结果"), {"proposed"}),
    "revoke": (N_("撤销认定"), {"certified"}),
    # Reports (workflow/commands/reports.py): the final report moves the project to
    # final_submitted (a resubmission keeps it there); the mid-term report moves nothing.
    "report_final": (
        N_("提交总结报告"),
        {"approved", "cultivating", "midterm_scored", "final_submitted"},
    ),
    "report_midterm": (N_("提交中期报告"), {"approved", "cultivating", "midterm_scored"}),
}


def label(state: str) -> str:
    return STATES.get(state, state)


def allowed_actions(state: str) -> list[str]:
    return [MOVES[a][0] for a in MOVES if state in MOVES[a][1]]


def require_state(action: str, state: str) -> None:
    name, sources = MOVES[action]
    if state not in sources:
        allowed = _("、").join(_(a) for a in allowed_actions(state)) or _("无")
        raise DomainError(
            _(
                "项目当前状态为“%(state)s”，不能%(action)s。此状态下可以进行的操作：%(allowed)s。",
                state=_(label(state)),
                action=_(name),
                allowed=allowed,
            )
        )
