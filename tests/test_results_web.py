"""Results documents through the app: certificates of certified projects, the booklet generated in
the background with progress and cached by content, the foreword command, the CLI, downloads
logged, and who may fetch what.

Until the final report accessor exists, ``results_doc._get_report`` is replaced by reports built
here (with real photos stored in the upload store)."""

from __future__ import annotations

import io
import re

import pytest

from tests.test_application_pdf import FONT_MISSING, pdf_text
from tests.test_results_documents import jpeg
from workflow import db, jobs, log
from workflow.documents import results_doc

pytestmark = pytest.mark.skipif(FONT_MISSING is not None, reason=f"no CJK font: {FONT_MISSING}")
SLUG = "minbei-2025"


def certified(slug=SLUG) -> list[str]:
    return results_doc.finalised(slug)


@pytest.fixture
def app_certified(seeded, monkeypatch):
    app = seeded("certified")
    from workflow import files

    stored = [files.store(app.config["UPLOAD_DIR"], jpeg(w, h, i), f"p{i}.jpg")
              for i, (w, h) in enumerate([(1600, 1200), (900, 1600), (3000, 500)])]  # fmt: skip

    def fake_report(pid, kind="final"):
        return {
            "kind": kind,
            "revision": 1,
            "sections": [
                {"code": c, "title": t, "text": f"{pid} 的{t}：<script>示例</script>"}
                for c, t in results_doc.SECTION_TITLES.items()
            ],
            "chars": 100,
            "photos": [
                {
                    "photo_id": str(i),
                    "sha256": s["sha256"],
                    "caption": f"照片说明{i}",
                    "width": 1,
                    "height": 1,
                    "mime": "image/jpeg",
                }
                for i, s in enumerate(stored)
            ],  # fmt: skip
            "attachments": [],
            "submitted_at": "2025-11-10T01:00:00.000000Z",
            "submitted_by": "s-mb-jd",
            "late": False,
            "position": 1,
        }

    monkeypatch.setattr(results_doc, "_get_report", fake_report)
    return app


def test_certificates_cli_batch_and_single(app_certified, tmp_path):
    pids = certified()
    assert pids
    runner = app_certified.test_cli_runner()
    out = tmp_path / "certs.pdf"
    result = runner.invoke(args=["export-pdf", "certificate", "--campaign", SLUG, "-o", str(out)])
    assert result.exit_code == 0, result.output
    text, pages = pdf_text(out.read_bytes())
    assert pages == len(pids) and "荣誉证书" in text
    one = tmp_path / "one.pdf"
    result = runner.invoke(args=["export-pdf", "certificate", "--campaign", SLUG,
                                 "--project", pids[0], "-o", str(one)])  # fmt: skip
    assert result.exit_code == 0 and pdf_text(one.read_bytes())[1] == 1
    not_cert = db.fetchone(
        "SELECT id FROM project WHERE campaign = ? AND id NOT IN "
        "(SELECT project FROM cert_outcome WHERE outcome = 'excellent')",
        (SLUG,),
    )[0]
    bad = runner.invoke(args=["export-pdf", "certificate", "--campaign", SLUG,
                              "--project", not_cert, "-o", str(tmp_path / "x.pdf")])  # fmt: skip
    assert bad.exit_code != 0 and "未被认定为优秀" in bad.output


def test_report_cli_has_outcome_once_final(app_certified, tmp_path):
    pid = certified()[0]
    out = tmp_path / "r.pdf"
    result = app_certified.test_cli_runner().invoke(
        args=["export-pdf", "report", "--campaign", SLUG, "--project", pid, "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    text, _ = pdf_text(out.read_bytes())
    for expected in ("创建背景", "取得成效", "照片说明2", "认定为优秀", "<script>示例</script>"):
        assert expected in text


def test_booklet_cli_progress_then_cache_hit_then_content_change(app_certified, tmp_path):
    runner = app_certified.test_cli_runner()
    out = tmp_path / "b.pdf"
    args = ["export-pdf", "booklet", "--campaign", SLUG, "-o", str(out)]
    first = runner.invoke(args=args)
    assert first.exit_code == 0, first.output
    assert "汇编进度 [" in first.output and "100%" in first.output
    data = out.read_bytes()
    text, pages = pdf_text(data)
    assert pages > len(certified()) and "目录" in text
    second = runner.invoke(args=args)  # nothing changed: no rebuild
    assert "缓存" in second.output and "汇编进度" not in second.output
    assert out.read_bytes() == data
    from workflow.commands import booklets
    from workflow.commands.accounts import get_account

    org = get_account("org")
    booklets.set_foreword(org, SLUG, "新的前言", booklets.foreword(SLUG)[1])
    third = runner.invoke(args=args)  # the content changed: rebuilt
    assert "汇编进度" in third.output and "新的前言" in pdf_text(out.read_bytes())[0]


def test_foreword_refusals_write_nothing(app_certified):
    from workflow.commands import booklets
    from workflow.commands.accounts import get_account
    from workflow.errors import DomainError, Forbidden

    org, unit = get_account("org"), get_account("s-mb-jd")
    before = log.head()
    with pytest.raises(DomainError, match="前言不能超过 5000 字"):
        booklets.set_foreword(org, SLUG, "字" * 5001, 0)
    with pytest.raises(DomainError, match="前言没有改动"):
        booklets.set_foreword(org, SLUG, "", 0)
    with pytest.raises(Forbidden):
        booklets.set_foreword(unit, SLUG, "前言", 0)
    with pytest.raises(log.ConcurrencyError):
        booklets.set_foreword(org, SLUG, "前言", 7)
    assert log.head() == before


def test_booklet_in_the_browser_progress_download_and_cache(app_certified, as_user):
    org = as_user("org")
    page = org.get(f"/campaigns/{SLUG}/booklet")
    assert page.status_code == 200 and "生成汇编" in page.get_data(as_text=True)
    started = org.post(f"/campaigns/{SLUG}/booklet/generate", {"passed": "0"}, htmx=True)
    assert started.status_code == 200
    body = started.get_data(as_text=True)
    match = re.search(r"/booklet/jobs/([0-9a-f]+)\"", body)
    assert match and "<progress" in body, body  # the progress bar, polling its job
    job = jobs.get(match.group(1))
    jobs.wait(job.id, 120)
    assert job.finished and not job.error, job.error
    polled = org.get(f"/campaigns/{SLUG}/booklet/jobs/{job.id}", htmx=True)
    assert "下载成果汇编" in polled.get_data(as_text=True)
    before = log.head()[0]
    pdf = org.get(f"/campaigns/{SLUG}/booklet.pdf?passed=0")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert "attachment" in pdf.headers["Content-Disposition"]
    events = [log.get(p) for p in range(before + 1, log.head()[0] + 1)]
    assert [e.type for e in events] == ["DocumentDownloaded"]
    # generating again with nothing changed answers at once with the download
    again = org.post(f"/campaigns/{SLUG}/booklet/generate", {"passed": "0"}, htmx=True)
    assert "下载成果汇编" in again.get_data(as_text=True)
    # the auditor reads the page and downloads, but may not generate or write the foreword
    auditor = as_user("auditor")
    assert auditor.get(f"/campaigns/{SLUG}/booklet.pdf?passed=0").status_code == 200
    assert "保存前言" not in auditor.get(f"/campaigns/{SLUG}/booklet").get_data(as_text=True)
    assert auditor.post(f"/campaigns/{SLUG}/booklet/generate", {}, htmx=True).status_code == 403


def test_foreword_form_saves_and_shows_errors(app_certified, as_user):
    org = as_user("org")
    org.get(f"/campaigns/{SLUG}/booklet")
    from workflow.commands import booklets

    version = booklets.foreword(SLUG)[1]
    bad = org.post(f"/campaigns/{SLUG}/booklet/foreword", {"text": "字" * 5001, "version": version})
    assert bad.status_code == 400 and "前言不能超过" in bad.get_data(as_text=True)
    ok = org.post(f"/campaigns/{SLUG}/booklet/foreword",
                  {"text": "<script>前言</script>", "version": version})  # fmt: skip
    assert ok.status_code == 200 and "前言已保存" in ok.get_data(as_text=True)
    assert "&lt;script&gt;前言&lt;/script&gt;" in ok.get_data(as_text=True)
    stale = org.post(f"/campaigns/{SLUG}/booklet/foreword", {"text": "再改", "version": version})
    assert stale.status_code == 409
    assert booklets.foreword(SLUG)[0] == "<script>前言</script>"


def test_downloads_per_project_and_who_sees_them(app_certified, as_user):
    pid = certified()[0]
    unit = db.fetchone("SELECT unit FROM project WHERE id = ?", (pid,))[0]
    own = as_user(f"s-{unit}")
    page = own.get(f"/projects/{pid}").get_data(as_text=True)
    for link in ("report.pdf", "report.docx", "certificate.pdf", "application.docx"):
        assert f"/projects/{pid}/{link}" in page
    for path, mime in (("report.pdf", "application/pdf"), ("certificate.pdf", "application/pdf"),
                       ("report.docx", "wordprocessingml"), ("application.docx", "wordprocessingml")):  # fmt: skip
        response = own.get(f"/projects/{pid}/{path}")
        assert response.status_code == 200 and mime in response.mimetype, path
    other = db.fetchone(
        "SELECT unit FROM project WHERE campaign = ? AND unit <> ? AND category = 'branch_feature'",
        (SLUG, unit),
    )[0]
    stranger = as_user(f"s-{other}")
    assert stranger.get(f"/projects/{pid}/report.pdf").status_code == 403
    auditor = as_user("auditor")
    batch = auditor.get(f"/campaigns/{SLUG}/certificates.pdf")
    assert batch.status_code == 200
    assert pdf_text(batch.data)[1] == len(certified())
    from docx import Document

    doc = Document(io.BytesIO(own.get(f"/projects/{pid}/report.docx").data))
    assert len(doc.inline_shapes) == 3
