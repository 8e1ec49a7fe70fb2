#!/usr/bin/env python3
"""Verify a BrandFlow audit bundle offline (审计包离线校验). Python 3.8+, standard library only.

    python3 verify_bundle.py BUNDLE.zip|DIRECTORY [--key CHECKPOINT_KEY_FILE]

A bundle holds (see README.txt inside it):
  events.jsonl   the events of the audited scope, in position order, one JSON array per line
                 with the stored columns: position, event_id, stream, version, type,
                 schema_version, payload (the stored canonical JSON text), actor, occurred_at,
                 prev_hash, hash
  spine.jsonl    [position, prev_hash, hash] of EVERY event of the log up to the bundle's head:
                 the chain without any content
  checkpoints/   the signed checkpoints (HMAC-SHA256) of the log head known when it was made
  manifest.json  scope, head, counts and the SHA-256 of every file

What is checked, stopping at the first failure and naming it:
  1. every event's hash recomputes from its own columns (docs/VERIFY.md, section 3): any byte
     changed in an event names that event;
  2. the spine runs 1, 2, 3 ... up to the head, each prev_hash the hash before it (genesis: 64
     zeros), and ends at the manifest's head;
  3. every included event sits on the spine at its position (same hash, same prev_hash), in
     position order, once;
  4. every checkpoint lies on the spine (its position exists with its hash); with --key, its
     HMAC signature is checked too (HMAC is symmetric: without the key nobody can check it,
     and whoever has the key could forge one, so keep the key away from database admins);
  5. the files match the SHA-256 digests listed in the manifest.

What a bundle of part of the log cannot show: the spine carries only hashes for the events
left out, so their content is not checked and a forger who rewrites a bundle could invent a
consistent spine for them. The included events are pinned by their own hashes; the spine is
pinned to the real log by the checkpoints, whose signatures only the key holder can check.
For the whole log, verify a backup with the script in docs/VERIFY.md.

Exit codes: 0 intact, 1 broken (the message names the position), 2 a forged checkpoint.
"""

import argparse
import hashlib
import hmac
import json
import os
import re
import struct
import sys
import zipfile

GENESIS = "0" * 64
FORMAT = "brandflow-audit-bundle-1"
HEX64 = re.compile(r"^[0-9a-f]{64}$")


class Broken(Exception):
    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(
    position, event_id, stream, version, type_, schema_version, payload, actor, at, prev
):
    fields = [position, event_id, stream, version, type_, schema_version, payload, actor, at, prev]
    return hashlib.sha256(canonical(fields).encode("utf-8")).hexdigest()


# --- Reading the bundle ----------------------------------------------------------------------


class Bundle:
    """Files of a bundle, from a zip or a directory. A zip member whose CRC no longer matches
    (a byte changed inside the zip) is still read, from its raw stored bytes, so the check can
    name the event; the CRC failure is reported as well."""

    def __init__(self, path):
        self.path = path
        self.damaged = []
        if os.path.isdir(path):
            self.zip = None
        else:
            try:
                self.zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise Broken(f"bundle is not a readable zip file / 审计包无法打开: {exc}") from None

    def names(self):
        if self.zip is None:
            out = []
            for root, _dirs, files in os.walk(self.path):
                for name in files:
                    full = os.path.join(root, name)
                    out.append(os.path.relpath(full, self.path).replace(os.sep, "/"))
            return sorted(out)
        return sorted(i.filename for i in self.zip.infolist() if not i.is_dir())

    def read(self, name):
        if self.zip is None:
            full = os.path.join(self.path, *name.split("/"))
            if not os.path.isfile(full):
                return None
            with open(full, "rb") as fh:
                return fh.read()
        try:
            info = self.zip.getinfo(name)
        except KeyError:
            return None
        try:
            return self.zip.read(name)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            self.damaged.append(f"{name} ({exc})")
            return self._raw(info)

    def _raw(self, info):
        """The stored bytes of a member, read past its local header, CRC not checked."""
        if info.compress_type != zipfile.ZIP_STORED:
            raise Broken(f"file {info.filename} in the bundle is damaged / 审计包中的文件已损坏")
        with open(self.path, "rb") as fh:
            fh.seek(info.header_offset)
            header = fh.read(30)
            if len(header) < 30 or header[:4] != b"PK\x03\x04":
                raise Broken(f"zip header of {info.filename} is damaged / 审计包结构已损坏")
            name_len, extra_len = struct.unpack("<HH", header[26:30])
            fh.seek(info.header_offset + 30 + name_len + extra_len)
            return fh.read(info.compress_size)


def lines(data, name):
    """(line number, parsed JSON or None, raw text) for each non-empty line."""
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        text = raw.decode("utf-8", errors="replace")
        try:
            value = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            value = None
        yield number, value, text


def claimed_position(text):
    match = re.match(r"\s*\[\s*(\d+)\s*,", text)
    return int(match.group(1)) if match else None


# --- Checks ----------------------------------------------------------------------------------


def check_events(data):
    """Each event's hash recomputes; positions strictly increase. Returns {position: row}."""
    events, last = {}, 0
    for number, row, text in lines(data, "events.jsonl"):
        where = f"events.jsonl line {number}"
        if not isinstance(row, list) or len(row) != 11:
            p = claimed_position(text)
            near = f"position {p}" if p else f"after position {last}"
            raise Broken(
                f"BROKEN at {near} ({where}): the event's line is no longer valid JSON with 11 columns"
                " / 该事件记录已损坏，无法解析"
            )
        position, event_id, stream, version, type_, sv, payload, actor, at, prev, h = row
        name = f"position {position} (event {event_id}, {type_})"
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (position, version, sv)):
            raise Broken(
                f"BROKEN at {name} ({where}): position, version and schema_version must be "
                "integers / 整数字段被改动"
            )
        if not all(
            isinstance(v, str) for v in (event_id, stream, type_, payload, actor, at, prev, h)
        ):
            raise Broken(f"BROKEN at {name} ({where}): a text column is not text / 字段类型被改动")
        if (
            event_hash(position, event_id, stream, version, type_, sv, payload, actor, at, prev)
            != h
        ):
            raise Broken(
                f"BROKEN at {name} ({where}): content does not match its hash / 事件内容与其哈希不符"
            )
        if position <= last:
            raise Broken(
                f"BROKEN at {name} ({where}): out of order or repeated (after {last})"
                " / 事件顺序错乱或重复"
            )
        events[position] = row
        last = position
    return events


def check_spine(data, head):
    """Positions 1..head, linked, ending at the manifest's head. Returns {position: (prev, hash)}."""
    spine, prev, expected = {}, GENESIS, 1
    for number, row, text in lines(data, "spine.jsonl"):
        where = f"spine.jsonl line {number}"
        if (
            not isinstance(row, list)
            or len(row) != 3
            or not isinstance(row[0], int)
            or not all(isinstance(v, str) and HEX64.match(v) for v in row[1:])
        ):
            p = claimed_position(text)
            raise Broken(
                f"BROKEN at position {p if p else f'after {expected - 1}'} ({where}):"
                " the chain entry is damaged / 链条记录已损坏"
            )
        position, prev_hash, h = row
        if position != expected:
            raise Broken(
                f"BROKEN at position {expected} ({where}): missing from the chain"
                f" (next is {position}) / 链条缺失"
            )
        if prev_hash != prev:
            raise Broken(
                f"BROKEN at position {position} ({where}): prev_hash does not match the"
                " previous hash / 与上一条事件的哈希不相连"
            )
        spine[position] = (prev_hash, h)
        prev, expected = h, position + 1
    last = expected - 1
    if head is not None and (last != head["position"] or prev != head["hash"]):
        raise Broken(
            f"BROKEN at position {min(last, head['position']) + 1}: the chain ends at {last}"
            f" {prev}, the manifest says {head['position']} {head['hash']} / 链条终点与清单不符"
        )
    return spine


def check_placement(events, spine):
    for position, row in events.items():
        name = f"position {position} (event {row[1]}, {row[4]})"
        if position not in spine:
            raise Broken(f"BROKEN at {name}: not on the chain / 该事件不在链条上")
        prev_hash, h = spine[position]
        if row[10] != h or row[9] != prev_hash:
            raise Broken(
                f"BROKEN at {name}: differs from the chain at its position / 与链条中该位置的哈希不符"
            )


def check_checkpoints(bundle, spine, key):
    out = []
    for name in bundle.names():
        if not (name.startswith("checkpoints/") and name.endswith(".json")):
            continue
        try:
            cp = json.loads(bundle.read(name).decode("utf-8"))
            body = {k: cp[k] for k in ("position", "hash", "created_at", "algorithm")}
            signature = str(cp["signature"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise Broken(
                f"BROKEN checkpoint {name}: unreadable ({exc}) / 检查点文件已损坏"
            ) from None
        if key is not None:
            expected = hmac.new(key, canonical(body).encode("utf-8"), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, signature):
                raise Broken(
                    f"BROKEN checkpoint {name}: signature does not match (forged, or another key)"
                    " / 检查点签名无效",
                    2,
                )
        position = body["position"]
        if position not in spine or spine[position][1] != body["hash"]:
            raise Broken(
                f"BROKEN at position {position}: the chain does not extend checkpoint {name}"
                " / 日志不延续该检查点"
            )
        out.append(position)
    return out


def check_digests(bundle, manifest):
    for name, digest in sorted(manifest.get("files", {}).items()):
        data = bundle.read(name)
        if data is None:
            raise Broken(f"BROKEN file {name}: listed in the manifest but missing / 文件缺失")
        if hashlib.sha256(data).hexdigest() != digest:
            raise Broken(
                f"BROKEN file {name}: SHA-256 differs from the manifest / 文件摘要与清单不符"
            )


def verify(path, key=None):
    bundle = Bundle(path)
    raw_manifest = bundle.read("manifest.json")
    manifest = None
    if raw_manifest is not None:
        try:
            manifest = json.loads(raw_manifest.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            manifest = None
    events_data, spine_data = bundle.read("events.jsonl"), bundle.read("spine.jsonl")
    if events_data is None or spine_data is None:
        raise Broken("BROKEN bundle: events.jsonl or spine.jsonl is missing / 审计包缺少文件")
    events = check_events(events_data)
    head = manifest.get("head") if isinstance(manifest, dict) else None
    spine = check_spine(spine_data, head if isinstance(head, dict) else None)
    check_placement(events, spine)
    checkpoints = check_checkpoints(bundle, spine, key)
    if bundle.damaged:
        raise Broken(
            "BROKEN file {}: damaged inside the zip / 审计包中的文件已损坏".format(
                ", ".join(bundle.damaged)
            )
        )
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise Broken(f"BROKEN manifest.json: missing, damaged or not a {FORMAT} / 清单已损坏")
    check_digests(bundle, manifest)
    if manifest.get("events") != len(events):
        raise Broken(
            f"BROKEN manifest.json: says {manifest.get('events')} events, the bundle holds"
            f" {len(events)} / 事件条数与清单不符"
        )
    head_position = max(spine) if spine else 0
    head_hash = spine[head_position][1] if spine else GENESIS
    signed = "signatures checked" if key is not None else "signatures not checked (no --key)"
    signed_zh = "（已核对签名）" if key is not None else "（未提供密钥，未核对签名）"
    n, k = len(events), len(checkpoints)
    return (
        f"OK {n} events verified at their positions; chain 1..{head_position} intact, head "
        f"{head_hash}; {k} checkpoint(s) on the chain, {signed}.\n"
        f"校验通过：{n} 条事件内容与哈希一致且位于链条正确位置；链条 1..{head_position} 完整；"
        f"{k} 个检查点在链条上{signed_zh}。"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description="Verify a BrandFlow audit bundle offline.")
    parser.add_argument("bundle", help="the bundle .zip, or the directory it was extracted to")
    parser.add_argument("--key", help="CHECKPOINT_KEY_FILE (hex), to check checkpoint signatures")
    args = parser.parse_args(argv)
    key = None
    if args.key:
        try:
            with open(args.key, encoding="utf-8") as fh:
                key = bytes.fromhex(fh.read().strip())
        except (OSError, ValueError) as exc:
            print(f"cannot read the key file / 无法读取密钥文件: {exc}")
            return 2
    try:
        print(verify(args.bundle, key))
        return 0
    except Broken as exc:
        print(str(exc))
        return exc.code


if __name__ == "__main__":
    sys.exit(main())
