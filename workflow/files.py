"""Uploaded files, stored content-addressed by SHA-256 outside the log.

Events carry only the reference (sha256, name, mime, size). A file is accepted when its bytes
are what its kind claims (magic numbers, and Pillow for images), never by extension alone.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import unicodedata

from .errors import DomainError, NotFound
from .i18n import _

MAX_SCAN_BYTES = 10 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000

KINDS = {
    "pdf": ("application/pdf", (b"%PDF-",)),
    "jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
}
EXTENSIONS = {".pdf": "pdf", ".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png"}
SHA_RE = re.compile(r"^[0-9a-f]{64}$")


def safe_name(name: str) -> str:
    """A display name only: no directories, no control characters, at most 100 characters."""
    name = os.path.basename((name or "").replace("\\", "/"))
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip(" .")
    return name[:100] or "未命名文件"


def sniff(data: bytes) -> str | None:
    for kind, (_mime, magics) in KINDS.items():
        if any(data.startswith(m) for m in magics):
            return kind
    return None


def _check_image(data: bytes) -> None:
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_IMAGE_PIXELS:
                raise DomainError(_("图片像素过大。"))
            img.verify()
    except DomainError:
        raise
    except Exception as exc:  # Pillow raises many types, DecompressionBombError included
        raise DomainError(_("图片文件已损坏或格式不受支持。")) from exc


def check(data: bytes, name: str, allowed=("pdf", "jpeg", "png"), max_bytes=MAX_SCAN_BYTES) -> dict:
    """Validate an upload; returns its reference without storing it."""
    if not data:
        raise DomainError(_("上传的文件是空的。"))
    if len(data) > max_bytes:
        raise DomainError(_("文件超过 %(mb)s MB 的大小限制。", mb=max_bytes // (1024 * 1024)))
    kind = sniff(data)
    if kind not in allowed:
        names = _("、").join(k.upper() for k in allowed)
        raise DomainError(_("文件内容不是允许的格式（%(kinds)s）。", kinds=names))
    ext = os.path.splitext(name or "")[1].lower()
    if ext and EXTENSIONS.get(ext) != kind:
        raise DomainError(
            _("文件扩展名 %(ext)s 与其实际内容（%(kind)s）不符。", ext=ext, kind=kind.upper())
        )
    if kind in ("jpeg", "png"):
        _check_image(data)
    elif b"%%EOF" not in data[-2048:]:
        raise DomainError(_("PDF 文件不完整。"))
    return {
        "sha256": hashlib.sha256(data).hexdigest(),
        "name": safe_name(name),
        "mime": KINDS[kind][0],
        "size": len(data),
    }


def path_for(upload_dir: str, sha256: str) -> str:
    if not SHA_RE.match(sha256 or ""):
        raise DomainError(_("文件标识无效。"))
    return os.path.join(upload_dir, sha256[:2], sha256[2:4], sha256)


def store(upload_dir: str, data: bytes, name: str, **kwargs) -> dict:
    """Check and store; the same content is stored once. Returns the reference for an event."""
    ref = check(data, name, **kwargs)
    target = path_for(upload_dir, ref["sha256"])
    if os.path.exists(target):
        return ref
    tmp = None
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target))
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)  # a half-written file must not stay behind on a full disk
        raise DomainError(_("服务器存储空间不足或不可写，文件未保存，请联系管理员。")) from exc
    return ref


def read(upload_dir: str, sha256: str) -> bytes:
    try:
        with open(path_for(upload_dir, sha256), "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise NotFound(_("文件不存在。")) from None
