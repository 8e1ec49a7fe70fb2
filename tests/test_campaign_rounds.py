"""A new round made from a campaign starts from the campaign's current rubric."""

from __future__ import annotations

import json

from tests.test_campaign_settings import SLUG, org  # noqa: F401  (fixture)
from tests.test_scoring import rubric_version
from workflow.commands import scoring


def test_new_round_starts_from_the_edited_rubric(org):  # noqa: F811
    original = scoring.current_rubric(SLUG)
    edited = json.loads(json.dumps(original))
    edited["criteria"][0]["name"] = "改过的一级指标"
    done = org.post(f"/campaigns/{SLUG}/rubric/import",
                    {"text": json.dumps(edited, ensure_ascii=False), "format": "json",
                     "reason": "调整指标", "version": rubric_version(org)}, htmx=True)  # fmt: skip
    assert done.status_code == 200, done.get_data(as_text=True)[:800]
    current = scoring.current_rubric(SLUG)
    assert current["criteria"][0]["name"] == "改过的一级指标"
    response = org.post(f"/campaigns/{SLUG}/new-round", {"slug": "minbei-2026", "title": "第二轮",
                        "first_opens": "2026-06-05 09:00"}, htmx=True)  # fmt: skip
    assert response.status_code == 204, response.get_data(as_text=True)
    fresh = scoring.current_rubric("minbei-2026")
    assert fresh["criteria"][0]["name"] == "改过的一级指标"
    assert fresh["version"] == 1  # the new campaign's own rubric history starts here
    assert {k: v for k, v in fresh.items() if k != "version"} == {
        k: v for k, v in current.items() if k != "version"
    }


def test_the_trail_shows_what_a_rubric_change_changed(org, as_user):  # noqa: F811
    from workflow import db

    edited = json.loads(json.dumps(scoring.current_rubric(SLUG)))
    old_name = edited["criteria"][0]["name"]
    edited["criteria"][0]["name"] = "改过的一级指标"
    done = org.post(f"/campaigns/{SLUG}/rubric/import",
                    {"text": json.dumps(edited, ensure_ascii=False), "format": "json",
                     "reason": "调整指标", "version": rubric_version(org)}, htmx=True)  # fmt: skip
    assert done.status_code == 200
    (position,) = db.fetchone("SELECT MAX(position) FROM event WHERE type = 'RubricChanged'")
    page = as_user("auditor").get(f"/audit/events/{position}").get_data(as_text=True)
    assert "与之前相比的变化" in page
    assert "改过的一级指标" in page and old_name in page
    assert "<ins>" in page and "<del>" in page
