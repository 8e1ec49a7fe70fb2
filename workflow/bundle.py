"""The audit bundle (审计包) of a campaign or a unit: a zip an auditor takes away and checks
offline with the standalone tools/verify_bundle.py it carries.

Contents: events.jsonl (the scope's events, every stored column, in position order),
spine.jsonl ([position, prev_hash, hash] of every event up to the head: the whole chain without
content, so the scope's events can be placed on it), checkpoints/*.json (the signed heads known
when the bundle was made), trail.csv (the same events in plain Chinese), verify_bundle.py,
README.txt and manifest.json (scope, head, counts, the SHA-256 of each file). Members are stored
uncompressed so that a changed byte stays where it was and the script can name the event.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from datetime import UTC, datetime

from . import log
from .trail import Filters, Names, Reader, Scope, csv_text

FORMAT = "brandflow-audit-bundle-1"
SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools",
                      "verify_bundle.py")  # fmt: skip

README = """BrandFlow 审计包 / audit bundle
================================

范围 / scope：{title}（{ref}）
日志头 / head：位置 {position}，哈希 {hash}
生成 / made：{created_at}（UTC），{actor}
事件 / events：{events} 条

文件 / files
- events.jsonl：本范围的全部事件，按位置排序，每行一个 JSON 数组，依次为 position, event_id,
  stream, version, type, schema_version, payload（存储的规范 JSON 文本）, actor, occurred_at
  （UTC）, prev_hash, hash。
- spine.jsonl：日志中截至日志头的每一条事件的 [position, prev_hash, hash]（不含内容）。
- checkpoints/：制作时已有的签名检查点（HMAC-SHA256）。
- trail.csv：同一批事件的中文说明（Excel 可直接打开）。
- verify_bundle.py：离线校验脚本，只用 Python 标准库。
- manifest.json：范围、日志头、条数和每个文件的 SHA-256。

校验 / verify（Python 3.8+，可在任何一台电脑、任何目录运行）：
    python3 verify_bundle.py 审计包.zip
    python3 verify_bundle.py 解压后的目录
    python3 verify_bundle.py 审计包.zip --key checkpoint.key   # 同时核对检查点签名

脚本检查：每条事件的哈希能由其内容重新算出（改动任何一个字节都会失败，并指出是哪一条事件）；
链条从 1 到日志头连续相接；每条事件位于链条上自己的位置；每个检查点都在链条上（提供密钥时
还核对签名）；各文件与清单中的摘要一致。完好时退出码 0，损坏时 1，检查点签名伪造时 2。

局限（如实说明）：本包只含本范围的事件。其余事件在 spine.jsonl 中只有哈希，它们的内容无法在此
核对；伪造者若同时改写整个审计包，也可以为它们编出一条自洽的链条。能把链条钉在真实日志上的是
检查点：其签名只有持有密钥的人能核对（HMAC 为对称算法，持有密钥者也能签名，故密钥须由数据库
管理员之外的人保管）。要核对全部日志，请用 flask backup 导出并按 docs/VERIFY.md 校验。

The script checks that every event's hash recomputes from its content (one changed byte fails
and names the event), that the chain runs unbroken from 1 to the head, that every event sits at
its position on it, that every checkpoint lies on it (and, given the key, is genuinely signed),
and that the files match the manifest. Limits: events outside the scope appear in the spine by
hash only, so their content is not checked, and whoever rewrites a whole bundle could invent a
consistent spine; the checkpoints, whose HMAC signatures only the key holder can check, are what
pin it to the real log.
"""


def _checkpoint_files(directory: str | None, head: int) -> list[tuple[str, bytes]]:
    out = []
    if not directory or not os.path.isdir(directory):
        return out
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".json"):
            continue
        path = os.path.join(directory, name)
        try:
            with open(path, "rb") as fh:
                data = fh.read()
            position = json.loads(data)["position"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(position, int) and position <= head:
            out.append((name, data))
    return out


def build(scope: Scope, actor_name: str, checkpoint_dir: str | None) -> tuple[bytes, dict]:
    """The bundle's bytes and its manifest, for the scope's full trail up to the current head."""
    position, head_hash = log.head()
    names = Names()
    reader = Reader(scope, True, names)
    pairs = list(reader.events(Filters(), upto=position, raw=True))
    events = [e for _, e in pairs]
    files: dict[str, bytes] = {}
    files["events.jsonl"] = "".join(
        json.dumps(list(row), ensure_ascii=False) + "\n" for row, _ in pairs
    ).encode("utf-8")
    files["spine.jsonl"] = "".join(
        json.dumps([r[0], r[9], r[10]]) + "\n" for r in log.iter_rows(upto=position)
    ).encode("utf-8")
    for name, data in _checkpoint_files(checkpoint_dir, position):
        files[f"checkpoints/{name}"] = data
    files["trail.csv"] = csv_text(events, names).encode("utf-8")
    with open(SCRIPT, "rb") as fh:
        files["verify_bundle.py"] = fh.read()
    created_at = log.format_time(datetime.now(UTC))
    files["README.txt"] = README.format(
        title=scope.title, ref=scope.ref, position=position, hash=head_hash,
        created_at=created_at, actor=actor_name, events=len(events),
    ).encode("utf-8")  # fmt: skip
    manifest = {
        "format": FORMAT,
        "scope": {"kind": scope.kind, "key": scope.key, "title": scope.title},
        "head": {"position": position, "hash": head_hash},
        "events": len(events),
        "created_at": created_at,
        "created_by": actor_name,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
    }
    files["manifest.json"] = (
        json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    ).encode("utf-8")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=_zip_time(created_at))
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buffer.getvalue(), manifest


def _zip_time(text: str) -> tuple:
    moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)
