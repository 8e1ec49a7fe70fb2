"""Vocabulary of the org tree: levels and branch kinds, with their Chinese labels (marked for the
catalogue: translate them with i18n._ where they are shown; parsing accepts the Chinese)."""

from .i18n import N_, _

LEVELS = {"committee": N_("党委"), "general_branch": N_("党总支"), "branch": N_("党支部")}
KINDS = {"staff": N_("教工"), "student": N_("学生"), "office": N_("机关直属")}

# What a unit of each level may hang under.
PARENT_LEVELS = {
    "committee": (),
    "general_branch": ("committee",),
    "branch": ("committee", "general_branch"),
}


def parse_level(text: str) -> str | None:
    text = (text or "").strip()
    if text in LEVELS:
        return text
    for code, label in LEVELS.items():
        if text == label:
            return code
    return None


def parse_kind(text: str) -> str | None:
    text = (text or "").strip()
    if text in KINDS:
        return text
    for code, label in KINDS.items():
        if text in (label, label + "党支部"):
            return code
    return None


def unit_label(level: str, parent_level: str | None) -> str:
    """党支部 directly under the committee is a 直属党支部 (in the request's language)."""
    if level == "branch" and parent_level == "committee":
        return _("直属党支部")
    return _(LEVELS[level]) if level in LEVELS else level
