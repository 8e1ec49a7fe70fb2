"""Photos: checked by content, cleaned, oriented, thumbnailed, stored content-addressed.

An upload is accepted only when its bytes are a JPEG, PNG or WebP image that Pillow decodes
(a renamed executable or a text file is refused whatever its name says), within the byte and
pixel limits; the pixel count is read from the header *before* decoding, so a decompression
bomb is refused without being inflated. The stored image is re-encoded from its pixels alone:
EXIF (GPS, camera, owner), XMP and text chunks are gone, the EXIF orientation has been applied
(`ImageOps.exif_transpose`). JPEG and WebP photos are stored as JPEG, PNG stays PNG (a
screenshot keeps its sharp text), so the report and booklet PDFs can embed any of them. The
content address is the SHA-256 of the *processed* image; the thumbnail is a JPEG of its own.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from dataclasses import dataclass

from . import files
from .errors import DomainError
from .i18n import _, is_english

MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000  # 40 megapixels: any camera photo; a 20000×20000 bomb is refused
MAX_SIDE = 12_000
THUMB_SIDE = 480
JPEG_QUALITY = 88
KINDS = {"jpeg": "JPEG", "png": "PNG", "webp": "WebP"}


@dataclass
class Processed:
    """A cleaned image and its thumbnail, ready to store."""

    data: bytes
    name: str
    thumb: bytes
    thumb_name: str
    width: int
    height: int


def sniff(data: bytes) -> str | None:
    """The image kind its bytes say it is (never its name)."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _pixels(count: int) -> int:
    """A pixel count as the messages state it: in 万 (10,000) in Chinese, in megapixels in the
    English UI (its messages say "megapixels")."""
    return count // 1_000_000 if is_english() else count // 10_000


def process(data: bytes, name: str, min_side: int = 0) -> Processed:
    """Check and clean one uploaded image; raise DomainError when it is refused."""
    from PIL import Image, ImageOps

    label = files.safe_name(name)
    if not data:
        raise DomainError(_("“%(name)s”是空文件。", name=label))
    if len(data) > MAX_PHOTO_BYTES:
        raise DomainError(
            _(
                "“%(name)s”超过 %(mb)s MB，请压缩后再上传。",
                name=label,
                mb=MAX_PHOTO_BYTES // (1024 * 1024),
            )
        )
    kind = sniff(data)
    if kind is None:
        raise DomainError(
            _("“%(name)s”不是图片：只接受 JPEG、PNG 或 WebP 格式的照片。", name=label)
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[KINDS[kind]]) as img:
                width, height = img.size
                if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
                    raise DomainError(
                        _(
                            "“%(name)s”的像素过大（%(width)s×%(height)s），"
                            "请缩小到 %(limit)s 万像素、单边 %(side)s 像素以内。",
                            name=label,
                            width=width,
                            height=height,
                            limit=_pixels(MAX_PIXELS),
                            side=MAX_SIDE,
                        )
                    )
                img.load()
                image = ImageOps.exif_transpose(img)
                image.load()
    except DomainError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = _("（%(n)s 万像素）", n=_pixels(int(found.group(1)))) if found else ""
        raise DomainError(
            _(
                "“%(name)s”的像素过大%(size)s，请缩小到 %(limit)s 万像素以内"
                "（疑似解压炸弹，已拒绝）。",
                name=label,
                size=size,
                limit=_pixels(MAX_PIXELS),
            )
        ) from exc
    except Exception as exc:  # Pillow raises many types for a broken file
        raise DomainError(_("“%(name)s”已损坏或无法识别，请重新导出后上传。", name=label)) from exc
    if min_side and min(image.size) < min_side:
        raise DomainError(
            _(
                "“%(name)s”尺寸为 %(width)s×%(height)s，短边不足 %(min)s 像素，"
                "请上传更清晰的原图。",
                name=label,
                width=image.width,
                height=image.height,
                min=min_side,
            )
        )
    return _encode(image, kind, name)


def _has_alpha(image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )


def _encode(image, kind: str, name: str) -> Processed:
    """Re-encode from the pixels alone: no metadata can travel along."""
    from PIL import Image

    keep_png = kind == "png"
    mode = "RGBA" if keep_png and _has_alpha(image) else "RGB"
    pixels = image.convert(mode)
    clean = Image.frombytes(mode, pixels.size, pixels.tobytes())  # a fresh image, empty info
    out = io.BytesIO()
    if keep_png:
        clean.save(out, "PNG", optimize=True)
        ext = ".png"
    else:
        clean.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
        ext = ".jpg"
    thumb = clean.convert("RGB")
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    thumb_out = io.BytesIO()
    thumb.save(thumb_out, "JPEG", quality=80, optimize=True)
    stem = os.path.splitext(files.safe_name(name))[0][:80] or "照片"
    return Processed(out.getvalue(), stem + ext, thumb_out.getvalue(), stem + "-缩略图.jpg",
                     clean.width, clean.height)  # fmt: skip


def store(upload_dir: str, processed: Processed) -> tuple[dict, dict]:
    """Store the image and its thumbnail; returns their references (sha256, name, mime, size)."""
    ref = files.store(upload_dir, processed.data, processed.name, allowed=("jpeg", "png"))
    thumb = files.store(upload_dir, processed.thumb, processed.thumb_name, allowed=("jpeg",))
    return ref, thumb
