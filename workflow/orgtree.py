"""Vocabulary of the org tree: levels and branch kinds, with their Chinese labels."""

LEVELS = {"committee": "党委", "general_branch": "党总支", "branch": "党支部"}
KINDS = {"staff": "教工", "student": "学生", "office": "机关直属"}

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
    """党支部 directly under the committee is a 直属党支部."""
    if level == "branch" and parent_level == "committee":
        return "直属党支部"
    return LEVELS.get(level, level)
