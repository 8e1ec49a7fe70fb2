"""Compare two texts the way a reader sees them: Chinese character by character, other
scripts word by word, so a changed 字 or a changed word is highlighted, not the whole line."""

from __future__ import annotations

import difflib
import re

# One CJK ideograph or punctuation mark, a run of word characters, a run of spaces, or any
# other single character.
TOKEN = re.compile(
    r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]"
    r"|[^\W\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]+"
    r"|\s+|.",
    re.S,
)


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text or "")


def segments(old: str, new: str) -> list[tuple[str, str]]:
    """[(op, text)] with op in "same", "del", "ins"; joining same+del gives old, same+ins new."""
    a, b = tokens(old), tokens(new)
    out: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out.append(("same", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            out.append(("del", "".join(a[i1:i2])))
        if j2 > j1:
            out.append(("ins", "".join(b[j1:j2])))
    return out


def compare_fields(form: list[dict], old: dict, new: dict) -> list[dict]:
    """Field by field, in the form's order, with whether each changed."""
    rows = []
    for f in form:
        before, after = old.get(f["key"], ""), new.get(f["key"], "")
        rows.append(
            {
                "key": f["key"],
                "label": f["label"],
                "changed": before != after,
                "segments": segments(before, after),
            }
        )
    return rows
