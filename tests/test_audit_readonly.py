"""The auditor reads everything and writes nothing: every route that changes something answers
the auditor 403 and appends nothing, and the auditor's reads append only the audit log of reads
(DocumentDownloaded, ExportMade). Iterates the app's url_map, so a new route is covered the day
it is added.

A route whose URL has a parameter not in SAMPLES gets a placeholder; when the auditor holds the
route's permission and the view then answers 404 instead of 403, add a real sample below.
"""

from __future__ import annotations

import re

import pytest

from workflow import db, log
from workflow.commands import comments
from workflow.commands.accounts import get_account

DEMO_PASSWORD = "demo12345"
PID = "minbei-2025.mb-jd.dept_brand"
PUBLIC = {("POST", "/login"), ("POST", "/logout")}
# Routes that only record the auditor's own reading state or UI language, outside the log.
PERSONAL = {("POST", "/inbox/read"), ("POST", "/inbox/read-all"), ("POST", "/lang")}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
READ_LOG = {"DocumentDownloaded", "ExportMade"}


@pytest.fixture
def world(seeded):
    demo = seeded("submitted")
    comment = comments.post(get_account("org"), PID, "内部：请核实预算。", visibility="internal")
    return demo, comment.payload["comment_id"]


def samples(comment_id: str) -> dict[str, str]:
    return {
        "slug": "minbei-2025", "pid": PID, "unit": "mb-jd", "username": "a-mb-jd",
        "code": "apply", "key": "brand_name", "category": "dept_brand", "kind": "units", "ref": "mb-jd",
        "position": "1", "job_id": "0", "sha256": "0" * 64, "cid": comment_id,
        "round_": "midterm", "criterion": "P1", "panel": "review",
    }  # fmt: skip


def concrete(rule: str, values: dict[str, str]) -> str:
    def fill(match):
        converter, name = match.group(1), match.group(2)
        return values.get(name, "1" if converter in ("int", "float") else "x")

    return re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", fill, rule)


def routes(app, methods):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods & methods):
            yield method, rule


def test_the_auditor_is_refused_every_write(world, as_user):
    app, comment_id = world
    auditor = as_user("auditor")
    values = samples(comment_id)
    checked, refused = 0, []
    for method, rule in routes(app, WRITES):
        if (method, rule.rule) in PUBLIC:
            continue
        url = concrete(rule.rule, values)
        before = log.head()
        response = auditor.client.open(
            url, method=method, data={"text": "审计员试图写入"},
            headers={"X-CSRFToken": auditor.ensure_token(), "HX-Request": "true"},
        )  # fmt: skip
        assert log.head() == before, f"the auditor's {method} {rule.rule} appended to the log"
        checked += 1
        if (method, rule.rule) in PERSONAL:
            continue
        permission = getattr(app.view_functions[rule.endpoint], "permission", None)
        if response.status_code != 403 or "没有权限" not in response.get_data(as_text=True):
            refused.append(
                f"{method} {rule.rule} -> {response.status_code} (permission {permission})"
            )
    assert checked > 20
    assert not refused, (
        "The auditor (纪检) reads everything and writes nothing (SPEC, People): these routes did "
        "not refuse with 403 — take 'auditor' out of their permission or check it in the view:\n"
        + "\n".join(refused)
    )


def test_the_auditors_reads_append_only_the_read_log(world, as_user):
    app, comment_id = world
    auditor = as_user("auditor")
    values = samples(comment_id)
    start = log.head()[0]
    statuses = {}
    for _method, rule in routes(app, {"GET"}):
        response = auditor.get(concrete(rule.rule, values))
        statuses[rule.rule] = response.status_code
    written = {e.type for e in log.iter_events(after=start)}
    assert written <= READ_LOG, written
    assert "ExportMade" in written and "DocumentDownloaded" in written
    assert all(e.actor == "auditor" for e in log.iter_events(after=start))
    assert statuses["/audit/<kind>/<ref>/trail"] == 200
    assert statuses["/audit/events/<position>"] == 200
    # Nothing the auditor did changed what the projections hold about the project.
    assert db.fetchone("SELECT state FROM project WHERE id = ?", (PID,))[0] != "draft"
