"""The audit bundle: downloaded by an auditor (and logged), verified offline in another directory
by the standalone tools/verify_bundle.py it carries (Python standard library only); one changed
byte makes the script fail and name the event; checkpoints are checked on the chain and, with
the key, by signature."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile

import pytest

from workflow import demo as demo_data
from workflow import log

DEMO_PASSWORD = "demo12345"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "tools", "verify_bundle.py")


@pytest.fixture
def history(seeded):
    return seeded("approved")


def download(browser, url, tmp_path, name="bundle.zip"):
    before = log.head()[0]
    response = browser.get(url)
    assert response.status_code == 200 and response.mimetype == "application/zip"
    (event,) = log.iter_events(after=before)
    assert event.type == "ExportMade" and event.payload["export"] == "bundle"
    assert event.payload["sha256"] == hashlib.sha256(response.data).hexdigest()
    assert event.payload["upto"] == before
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    path = elsewhere / name
    path.write_bytes(response.data)
    return path


def verify(path, *args, cwd=None):
    """Run the script the bundle carries, in isolated mode (-I: no PYTHONPATH, no user site;
    -S: no site-packages): only the standard library is there."""
    cwd = cwd or path.parent
    script = cwd / "verify_bundle.py"
    if not script.exists():  # the copy the bundle carries
        if path.is_dir():
            shutil.copy(path / "verify_bundle.py", script)
        else:
            with zipfile.ZipFile(path) as zf:
                script.write_bytes(zf.read("verify_bundle.py"))
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(script), str(path), *args],
        cwd=cwd, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr


def extract(path, target):
    with zipfile.ZipFile(path) as zf:
        zf.extractall(target)
    return target


def test_auditor_downloads_and_verifies_a_campaign_bundle(history, as_user, tmp_path):
    as_user("org").post("/audit/integrity/checkpoint", htmx=True)  # a signed head to carry
    path = download(as_user("auditor"), "/audit/campaigns/minbei-2025/bundle.zip", tmp_path)
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
        events = [json.loads(line) for line in zf.read("events.jsonl").splitlines()]
        spine = [json.loads(line) for line in zf.read("spine.jsonl").splitlines()]
        assert zf.read("verify_bundle.py") == open(SCRIPT, "rb").read()
        assert "审计包" in zf.read("README.txt").decode("utf-8")
    assert {"events.jsonl", "spine.jsonl", "manifest.json", "trail.csv", "README.txt"} <= names
    assert any(n.startswith("checkpoints/") for n in names)
    assert manifest["scope"] == {"kind": "campaign", "key": "minbei-2025",
                                 "title": manifest["scope"]["title"]}  # fmt: skip
    assert manifest["events"] == len(events) > 50
    assert [row[0] for row in spine] == list(range(1, manifest["head"]["position"] + 1))
    assert all(row[2].startswith(("campaign:minbei-2025", "project:minbei-2025.", "access:"))
               for row in events)  # fmt: skip
    code, output = verify(path)
    assert code == 0, output
    assert f"OK {len(events)} events verified" in output and "1 checkpoint(s)" in output
    assert "not checked" in output
    # Extracted to a directory, with the key: signatures checked too.
    key = tmp_path / "elsewhere" / "checkpoint.key"
    shutil.copy(history.config["CHECKPOINT_KEY_FILE"], key)
    folder = extract(path, tmp_path / "unpacked")
    code, output = verify(folder, "--key", str(key), cwd=tmp_path / "elsewhere")
    assert code == 0 and "signatures checked" in output, output


def _event_line(data: bytes, position: int) -> tuple[int, bytes]:
    """(offset, line) of the event at `position` in events.jsonl bytes."""
    offset = 0
    for line in data.split(b"\n"):
        if line.startswith(f"[{position},".encode()):
            return offset, line
        offset += len(line) + 1
    raise AssertionError(position)


def test_one_changed_byte_in_the_unpacked_bundle_names_the_event(history, as_user, tmp_path):
    path = download(as_user("auditor"), "/audit/units/mb-jd/bundle.zip", tmp_path)
    folder = extract(path, tmp_path / "unpacked")
    events = (folder / "events.jsonl").read_bytes()
    line = next(x for x in events.splitlines() if "同意立项".encode() in x)
    position, event_id = json.loads(line)[0], json.loads(line)[1]
    offset = events.index(line)
    same = "同".encode()
    one_byte = same[:2] + bytes([same[2] ^ 0x01])  # 同 -> 名: one byte, still valid UTF-8
    for old, new in ((same, one_byte), (b'\\"revision\\":1', b'\\"revision\\":2'),
                     (b'"org"', b'"orh"')):  # fmt: skip
        assert old in line, old
        changed = events[:offset] + line.replace(old, new, 1) + events[offset + len(line) :]
        assert len(changed) == len(events)
        (folder / "events.jsonl").write_bytes(changed)
        code, output = verify(folder, cwd=tmp_path / "elsewhere")
        assert code == 1, output
        assert f"BROKEN at position {position} (event {event_id}" in output, output
    (folder / "events.jsonl").write_bytes(events)
    assert verify(folder, cwd=tmp_path / "elsewhere")[0] == 0


def test_one_changed_byte_inside_the_zip_names_the_event(history, as_user, tmp_path):
    path = download(as_user("auditor"), "/audit/units/mb-jd/bundle.zip", tmp_path)
    raw = path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("events.jsonl")
        events = zf.read("events.jsonl")
    start = raw.index(events[:200])  # stored, not compressed: the member's bytes are in place
    for pick in (5, -1):
        row = json.loads(events.splitlines()[pick])
        offset, line = _event_line(events, row[0])
        # One byte of a Chinese character in the payload (the line is no longer UTF-8) ...
        index = start + offset + line.index("申".encode()) + 1 if "申".encode() in line else None
        # ... or else one hex digit of its event id.
        if index is None:
            index = start + offset + line.index(row[1].encode())
        damaged = bytearray(raw)
        damaged[index] ^= 0x01
        path.write_bytes(bytes(damaged))
        code, output = verify(path)
        assert code == 1, output
        assert f"position {row[0]}" in output, output
    assert info.compress_type == zipfile.ZIP_STORED


def test_a_damaged_spine_or_manifest_is_named(history, as_user, tmp_path):
    path = download(as_user("auditor"), "/audit/projects/minbei-2025.mb-jd.dept_brand/bundle.zip",
                    tmp_path)  # fmt: skip
    folder = extract(path, tmp_path / "unpacked")
    spine = (folder / "spine.jsonl").read_text()
    lines = spine.splitlines()
    lines[9] = lines[9][:-3] + ("0" if lines[9][-3] != "0" else "1") + lines[9][-2:]
    (folder / "spine.jsonl").write_text("\n".join(lines) + "\n")
    code, output = verify(folder, cwd=tmp_path / "elsewhere")
    assert code == 1 and "position 11" in output, output  # position 11's prev_hash no longer links
    (folder / "spine.jsonl").write_text(spine)
    assert verify(folder, cwd=tmp_path / "elsewhere")[0] == 0
    (folder / "trail.csv").write_text("改过的", encoding="utf-8")
    code, output = verify(folder, cwd=tmp_path / "elsewhere")
    assert code == 1 and "trail.csv" in output, output


def test_checkpoints_on_the_chain_and_forged_signatures(history, as_user, tmp_path):
    as_user("org").post("/audit/integrity/checkpoint", htmx=True)
    path = download(as_user("auditor"), "/audit/units/mb-jd/bundle.zip", tmp_path)
    folder = extract(path, tmp_path / "unpacked")
    key = tmp_path / "elsewhere" / "checkpoint.key"
    shutil.copy(history.config["CHECKPOINT_KEY_FILE"], key)
    (cp_file,) = (folder / "checkpoints").iterdir()
    original = json.loads(cp_file.read_text())
    forged = dict(original, position=original["position"] - 1)
    forged["hash"] = json.loads((folder / "spine.jsonl").read_text().splitlines()[
        forged["position"] - 1])[2]  # fmt: skip
    cp_file.write_text(json.dumps(forged))
    # On the chain, so without the key nothing shows; with the key the signature fails.
    assert verify(folder, cwd=tmp_path / "elsewhere")[0] == 1  # the manifest digest differs
    code, output = verify(folder, "--key", str(key), cwd=tmp_path / "elsewhere")
    assert code == 2 and "signature does not match" in output, output
    # A checkpoint the chain does not extend.
    cp_file.write_text(json.dumps(dict(original, hash="0" * 64)))
    code, output = verify(folder, cwd=tmp_path / "elsewhere")
    assert code == 1 and f"position {original['position']}" in output, output


def test_partial_bundle_holds_only_the_branch_and_the_whole_spine(history, as_user, tmp_path):
    path = download(as_user("auditor"), "/audit/units/mb-jd-t/bundle.zip", tmp_path)
    with zipfile.ZipFile(path) as zf:
        events = [json.loads(line) for line in zf.read("events.jsonl").splitlines()]
        spine = zf.read("spine.jsonl").splitlines()
        trail_csv = zf.read("trail.csv").decode("utf-8-sig")
    assert len(spine) == log.head()[0] - 1  # every event up to the head before the export
    streams = {row[2] for row in events}
    assert "project:minbei-2025.mb-jd-t.branch_feature" in streams
    assert "project:minbei-2025.mb-jd.dept_brand" not in streams
    assert "工匠党员工作室" in trail_csv and "匠心铸魂" not in trail_csv
    assert verify(path)[0] == 0


def test_the_script_follows_docs_verify_md(tmp_path):
    spec = importlib.util.spec_from_file_location("verify_bundle", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    payload = (
        '{"code":"ncut-info","kind":null,"level":"committee","name":"信息学院党委","parent":null}'
    )
    digest = module.event_hash(1, "3f6c1c9e-0000-4000-8000-000000000001", "unit:ncut-info", 1,
                               "OrgUnitCreated", 1, payload, "system",
                               "2025-06-10T02:00:00.000000Z", "0" * 64)  # fmt: skip
    assert digest == "c9acf786533e3e717209b4f2d88c78a8da4a567ec1122e2eedce25e62e370f87"
    imports = {line.split()[1] for line in open(SCRIPT) if line.startswith("import ")}
    assert imports <= set(sys.stdlib_module_names)
    assert not any(line.startswith("from ") and "__future__" not in line for line in open(SCRIPT))


def test_not_a_bundle(tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    shutil.copy(SCRIPT, tmp_path / "verify_bundle.py")
    code, output = verify(junk, cwd=tmp_path)
    assert code == 1 and "not a readable zip" in output
    empty = io.BytesIO()
    zipfile.ZipFile(empty, "w").close()
    junk.write_bytes(empty.getvalue())
    code, output = verify(junk, cwd=tmp_path)
    assert code == 1 and "missing" in output


def test_the_auditors_day(demo, as_user, tmp_path):
    """Done when: an auditor picks a branch and reads its whole history in Chinese, opens the
    state of its project as of the day before certification, downloads the bundle and verifies
    it with the standalone script in another directory; one changed byte fails and names the
    event."""
    from datetime import date, timedelta

    from workflow import trail

    with demo.app_context():  # certification signs a checkpoint through the app's config
        demo_data.seed(list(demo_data.TREES), DEMO_PASSWORD, through="certified",
                       echo=lambda *_: None)  # fmt: skip
    pid = "minbei-2025.mb-jd-t.branch_feature"
    auditor = as_user("auditor")
    desk = auditor.get("/audit").get_data(as_text=True)
    assert "/audit/units/mb-jd-t/trail" in desk
    # The whole history, page after page.
    url, history = "/audit/units/mb-jd-t/trail", ""
    while url:
        page = auditor.get(url, htmx=url != "/audit/units/mb-jd-t/trail").get_data(as_text=True)
        history += page
        found = re.search(r'id="trail-more".*?hx-get="([^"]+)"', page, re.S)
        url = found.group(1).replace("&amp;", "&") if found else None
    for sentence in ("提交了机电工程系教工党支部的申报「工匠党员工作室」（第 1 版）", "退回修改：",
                     "修改后重新提交了", "同意「工匠党员工作室」立项", "登记宣传报道",
                     "指派评审专家", "评估认定评分结果确定", "进入第 1 次公示",
                     "认定结果确定：优秀"):  # fmt: skip
        assert sentence in history, sentence
    # The day before certification.
    finalised = next(e for e in log.read_stream(f"project:{pid}") if e.type == "OutcomeFinalised")
    day = date.fromisoformat(trail.local(finalised.occurred_at)[:10]) - timedelta(days=1)
    before = auditor.get(f"/audit/projects/{pid}/as-of?at={day.isoformat()}").get_data(as_text=True)
    assert f"以下为 {day.isoformat()} 23:59（位置" in before
    assert "公示中" in before and "认定为优秀" not in before
    assert "认定为优秀" in auditor.get(f"/projects/{pid}").get_data(as_text=True)
    # The bundle, verified elsewhere with the key (certification signed a checkpoint).
    path = download(auditor, "/audit/units/mb-jd-t/bundle.zip", tmp_path)
    key = tmp_path / "elsewhere" / "checkpoint.key"
    shutil.copy(demo.config["CHECKPOINT_KEY_FILE"], key)
    code, output = verify(path, "--key", str(key))
    assert code == 0 and "signatures checked" in output, output
    assert re.search(r"[1-9]\d* checkpoint\(s\) on the chain", output), output
    # One byte.
    raw = path.read_bytes()
    line = next(x for x in raw.split(b"\n") if b'"OutcomeFinalised"' in x)
    position, event_id = json.loads(line)[0], json.loads(line)[1]
    index = raw.index(line) + line.index(b'"outcome') + 3
    damaged = bytearray(raw)
    damaged[index] ^= 0x01
    path.write_bytes(bytes(damaged))
    code, output = verify(path, "--key", str(key))
    assert code == 1 and f"BROKEN at position {position} (event {event_id}" in output, output
