"""The showcase (成果展示) and exhibition mode: who sees it, what is on it, the organizer's edits."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.conftest import Browser
from workflow import db, log
from workflow.commands import applications, certification, reports, showcase
from workflow.commands.accounts import get_account

SLUG = "minbei-2025"
MEMBER = "a-mb-jd"


@pytest.fixture
def shown(seeded):
    app = seeded("certified", trees=[SLUG])
    # Seeding runs outside an app context, so the demo's photos went to the default upload
    # folder (instance/uploads under the working directory): give this test's folder a copy.
    from workflow import files

    for sha, thumb in db.fetchall("SELECT sha256, thumb_sha FROM project_photo"):
        for h in (sha, thumb):
            target = files.path_for(app.config["UPLOAD_DIR"], h)
            source = files.path_for(os.path.join("instance", "uploads"), h)
            if not os.path.exists(target) and os.path.exists(source):
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copyfile(source, target)
    return app


def org():
    return get_account("org")


def publish(audience):
    showcase.publish(org(), SLUG, audience, showcase.state(SLUG)["version"])


def client(app, who):
    b = Browser(app)
    if who != "anon":
        assert b.login(who).status_code == 302
    return b


def first_brand():
    pid = showcase.certified(SLUG)[0]
    return pid, showcase.brand(SLUG, pid)


@pytest.mark.parametrize(
    "audience,who,status",
    [
        (None, "anon", 302), (None, MEMBER, 404), (None, "org", 200),
        ("college", "anon", 302), ("college", MEMBER, 200), ("college", "org", 200),
        ("intranet", "anon", 200), ("intranet", MEMBER, 200), ("intranet", "org", 200),
    ],
)  # fmt: skip
def test_visibility_matrix(shown, audience, who, status):
    if audience:
        publish(audience)
    pid, brand = first_brand()
    b = client(shown, who)
    base = f"/campaigns/{SLUG}/showcase"
    urls = [base, f"{base}/brands/{pid}", f"{base}/exhibition"]
    if brand["cover"]:
        urls.append(f"{base}/photos/{brand['cover']}")
    for url in urls:
        response = b.get(url)
        assert response.status_code == status, (url, response.status_code)
        if status == 302:
            assert "/login" in response.headers["Location"]
    page = b.get(base).get_data(as_text=True)
    if status == 200:
        assert brand["brand_name"] in page
        assert ("预览" in page) == (audience is None)


def test_withdraw_hides_it_again(shown):
    publish("intranet")
    anon = Browser(shown)
    assert anon.get(f"/campaigns/{SLUG}/showcase").status_code == 200
    showcase.withdraw(org(), SLUG, showcase.state(SLUG)["version"])
    assert anon.get(f"/campaigns/{SLUG}/showcase").status_code == 302
    assert client(shown, MEMBER).get(f"/campaigns/{SLUG}/showcase").status_code == 404


def test_only_certified_brands_grouped_by_category(shown):
    publish("college")
    page = client(shown, MEMBER).get(f"/campaigns/{SLUG}/showcase").get_data(as_text=True)
    certified = showcase.certified(SLUG)
    assert certified
    for pid in certified:
        assert f"/showcase/brands/{pid}" in page
    others = db.fetchall(
        "SELECT id, brand_name FROM project WHERE campaign = ? AND state != 'certified'", (SLUG,)
    )
    assert others
    for pid, _name in others:
        assert f"/showcase/brands/{pid}" not in page
    assert "一系一品牌" in page and "一支部一特色" in page
    assert 'class="showcase-grid"' in page


def test_revoked_brand_disappears(shown):
    publish("intranet")
    pid, brand = first_brand()
    anon = Browser(shown)
    assert anon.get(f"/campaigns/{SLUG}/showcase/brands/{pid}").status_code == 200
    certification.revoke(org(), pid, "材料不实，撤销认定", "passed", applications.version(pid))
    assert pid not in showcase.certified(SLUG)
    assert anon.get(f"/campaigns/{SLUG}/showcase/brands/{pid}").status_code == 404
    page = anon.get(f"/campaigns/{SLUG}/showcase").get_data(as_text=True)
    assert f"/showcase/brands/{pid}" not in page
    if brand["cover"] and not showcase.photo_allowed(SLUG, brand["cover"]):
        assert anon.get(f"/campaigns/{SLUG}/showcase/photos/{brand['cover']}").status_code == 404


def test_intro_too_long_is_refused_and_nothing_written(shown):
    pid, _ = first_brand()
    b = client(shown, "org")
    url = f"/campaigns/{SLUG}/showcase/brands/{pid}"
    before = log.head()
    response = b.post(url, {"intro": "党" * 201, "version": showcase.state(SLUG)["version"]})
    assert response.status_code == 400
    assert "简介不能超过 200 字（现为 201 字）" in response.get_data(as_text=True)
    assert log.head() == before
    # 200 characters (600 bytes in UTF-8) is allowed: characters are counted, not bytes
    response = b.post(url, {"intro": "党" * 200, "version": showcase.state(SLUG)["version"]})
    assert response.status_code == 302
    assert showcase.brand(SLUG, pid)["intro"] == "党" * 200


def test_cover_must_be_one_of_the_brands_photos(shown):
    pid, brand = first_brand()
    other = db.fetchone(
        "SELECT ph.sha256 FROM project_photo ph JOIN project p ON p.id = ph.project "
        "WHERE p.campaign = ? AND p.state != 'certified'",
        (SLUG,),
    )
    assert other
    b = client(shown, "org")
    before = log.head()
    response = b.post(f"/campaigns/{SLUG}/showcase/brands/{pid}",
                      {"cover": other[0], "intro": "简介", "version": showcase.state(SLUG)["version"]})  # fmt: skip
    assert response.status_code == 400
    assert "封面照片须是该项目带说明的照片之一" in response.get_data(as_text=True)
    assert log.head() == before
    if len(brand["photos"]) > 1:
        chosen = brand["photos"][1]["sha256"]
        b.post(f"/campaigns/{SLUG}/showcase/brands/{pid}",
               {"cover": chosen, "intro": "简介", "version": showcase.state(SLUG)["version"]})  # fmt: skip
        assert showcase.brand(SLUG, pid)["cover"] == chosen


def test_intro_is_rendered_as_text(shown):
    publish("intranet")
    pid, _ = first_brand()
    showcase.set_brand(org(), SLUG, pid, None, '<script>alert("x")</script><img src=x onerror=1>',
                       showcase.state(SLUG)["version"])  # fmt: skip
    anon = Browser(shown)
    for url in (f"/campaigns/{SLUG}/showcase", f"/campaigns/{SLUG}/showcase/brands/{pid}",
                f"/campaigns/{SLUG}/showcase/exhibition"):  # fmt: skip
        page = anon.get(url).get_data(as_text=True)
        assert "&lt;script&gt;alert" in page, url
        assert "<script>alert" not in page and "<img src=x" not in page


def test_photo_endpoint_refuses_photos_not_on_the_showcase(shown):
    publish("intranet")
    other = db.fetchone(
        "SELECT ph.sha256, ph.thumb_sha FROM project_photo ph JOIN project p ON p.id = ph.project "
        "WHERE p.campaign = ? AND p.state != 'certified'",
        (SLUG,),
    )
    for who in ("anon", "org"):
        b = client(shown, who)
        for sha in other:
            assert b.get(f"/campaigns/{SLUG}/showcase/photos/{sha}").status_code == 404
        assert b.get(f"/campaigns/{SLUG}/showcase/photos/{'0' * 64}").status_code == 404
    _, brand = first_brand()
    response = Browser(shown).get(f"/campaigns/{SLUG}/showcase/photos/{brand['cover']}")
    assert response.status_code == 200 and response.mimetype in ("image/jpeg", "image/png")
    thumb = Browser(shown).get(
        f"/campaigns/{SLUG}/showcase/photos/{brand['photos'][0]['thumb_sha']}"
    )
    assert thumb.status_code == 200


def test_exhibition_has_slides_and_navigation(shown):
    publish("college")
    brands = showcase.brands(SLUG)
    total = sum(1 + len(b["photos"]) for b in brands)
    b = client(shown, MEMBER)
    page = b.get(f"/campaigns/{SLUG}/showcase/exhibition?slide=2").get_data(as_text=True)
    assert page.count('class="slide ') == total
    assert 'id="slide-2"' in page and 'rel="prev"' in page and 'rel="next"' in page
    assert "/showcase/exhibition?slide=1" in page and "/showcase/exhibition?slide=3" in page
    assert "showcase.js" in page and "<script>" not in page and " style=" not in page
    for brand in brands:
        assert brand["brand_name"] in page
    # without JavaScript only the current slide shows; the others are hidden
    assert page.count(" hidden>") == total - 1
    assert f'href="/campaigns/{SLUG}/showcase"' in page  # leave the exhibition


def test_publish_refused_before_results_are_final(demo):
    before = log.head()
    with pytest.raises(Exception) as info:
        showcase.publish(org(), SLUG, "college", 0)
    assert "认定结果确定后才能发布成果展示" in str(info.value)
    assert log.head() == before


def test_publish_refuses_an_unknown_audience(shown):
    b = client(shown, "org")
    before = log.head()
    response = b.post(f"/campaigns/{SLUG}/showcase/publish",
                      {"audience": "internet", "version": showcase.state(SLUG)["version"]})  # fmt: skip
    assert response.status_code == 400
    assert "请选择展示范围" in response.get_data(as_text=True)
    assert log.head() == before


def test_demo_drive_showcased_publishes_with_covers_and_short_intros(shown):
    from workflow.demo.showcase import SHORT, drive_showcased

    done = drive_showcased(SLUG)
    assert done["品牌"] == len(showcase.certified(SLUG)) and done["设置封面与简介"] == done["品牌"]
    state = showcase.state(SLUG)
    assert state["published"] and state["audience"] == "intranet"
    for brand in showcase.brands(SLUG):
        assert 0 < len(brand["intro"]) <= SHORT
        assert brand["cover"] in {p["sha256"] for p in brand["photos"]}
    before = log.head()
    drive_showcased(SLUG)  # idempotent, as seed-demo is
    assert log.head() == before
    page = Browser(shown).get(f"/campaigns/{SLUG}/showcase").get_data(as_text=True)
    assert all(b["brand_name"] in page for b in showcase.brands(SLUG))


def test_demo_ends_with_the_booklet_compiled_and_certificates_ready(shown):
    """seed-demo --through showcased: the booklet (with the demo foreword) downloads at once."""
    from workflow.commands import booklets
    from workflow.demo.showcase import FOREWORD, drive_documents

    with shown.app_context():  # the booklet cache and the photos are the app's folders
        made = drive_documents(SLUG)
        before = log.head()
        again = drive_documents(SLUG)
    chapters = [p for p in showcase.certified(SLUG) if reports.get_report(p, "final")]
    assert made == {
        "汇编成册（章）": len(chapters),
        "荣誉证书（张）": len(showcase.certified(SLUG)),
    }
    assert chapters and booklets.foreword(SLUG)[0] == FOREWORD
    assert again == made and log.head() == before  # idempotent, as seed-demo is
    organizer = client(shown, "org")
    response = organizer.get(f"/campaigns/{SLUG}/booklet.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.get_data().startswith(b"%PDF")
    response = organizer.get(f"/campaigns/{SLUG}/certificates.pdf")
    assert response.status_code == 200 and response.get_data().startswith(b"%PDF")


def test_the_showcase_and_the_booklet_foreword_are_told_in_the_trails(shown):
    """An auditor reads the organizer's showcase and booklet edits, with what changed."""
    from workflow import trail
    from workflow.commands import booklets
    from workflow.demo.showcase import drive_showcased

    drive_showcased(SLUG)
    booklets.set_foreword(org(), SLUG, "第一稿前言", booklets.foreword(SLUG)[1])
    booklets.set_foreword(org(), SLUG, "第二稿前言", booklets.foreword(SLUG)[1])
    auditor = client(shown, "auditor")
    base = f"/audit/campaigns/{SLUG}/trail?type="
    page = auditor.get(base + "ShowcasePublished").get_data(as_text=True)
    assert "发布了成果展示，展示范围：校内网（无需登录）" in page
    assert "修改了成果汇编的前言（5 字）" in auditor.get(base + "BookletForewordSet").get_data(
        as_text=True
    )
    pid, brand = first_brand()
    page = auditor.get(f"/audit/projects/{pid}/trail?type=ShowcaseBrandSet").get_data(as_text=True)
    assert f"设置了「{brand['brand_name']}」在成果展示中的封面照片与简介" in page
    last = log.read_stream(booklets.stream(SLUG))[-1]
    rows = trail.changes(last)
    assert rows[0]["label"] == "成果汇编前言" and rows[0]["changed"]
    assert "".join(seg[1] for seg in rows[0]["segments"] if seg[0] != "ins") == "第一稿前言"


def test_linked_from_home_and_campaign_page_for_whoever_may_see_it(shown):
    link = f'href="/campaigns/{SLUG}/showcase"'
    member, organizer = client(shown, MEMBER), client(shown, "org")
    assert link not in member.get("/").get_data(as_text=True)
    assert link not in member.get(f"/campaigns/{SLUG}").get_data(as_text=True)
    assert link in organizer.get("/").get_data(as_text=True)  # to preview and publish
    assert link in organizer.get(f"/campaigns/{SLUG}").get_data(as_text=True)
    publish("college")
    assert link in member.get("/").get_data(as_text=True)
    assert link in member.get(f"/campaigns/{SLUG}").get_data(as_text=True)
