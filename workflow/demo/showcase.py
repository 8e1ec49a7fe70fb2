"""seed-demo --through showcased: the organizer publishes each campaign's showcase (成果展示).

Each certified brand gets a chosen cover photo (its second captioned photo when it has one, as
an organizer picks the livelier scene over the first upload) and a short introduction of at most
80 characters; the 2023 campaign is shown to the college, the 2025 one on the intranet.
"""

from __future__ import annotations

from ..commands import booklets, showcase
from ..commands.accounts import get_account

AUDIENCE = {"ncut-info-2023": "college", "minbei-2025": "intranet"}
SHORT = 80


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SHORT else text[: SHORT - 1] + "…"


def drive_showcased(slug: str) -> dict | None:
    """Publish the showcase of a campaign with certified results; None when it has none."""
    if not showcase.results_final(slug) or not showcase.certified(slug):
        return None
    organizer = get_account("org")
    state = showcase.state(slug)
    brands = 0
    for brand in showcase.brands(slug):
        if brand["id"] in state["brands"]:
            continue  # already set (seed-demo is idempotent)
        photos = brand["photos"]
        cover = (
            photos[1]["sha256"] if len(photos) > 1 else (photos[0]["sha256"] if photos else None)
        )
        showcase.set_brand(organizer, slug, brand["id"], cover, _short(brand["intro"]),
                           showcase.state(slug)["version"])  # fmt: skip
        brands += 1
    state = showcase.state(slug)
    if not state["published"]:
        showcase.publish(organizer, slug, AUDIENCE.get(slug, "college"), state["version"])
    return {"品牌": len(showcase.certified(slug)), "设置封面与简介": brands,
            "展示范围": showcase.AUDIENCES[showcase.state(slug)["audience"]]}  # fmt: skip


FOREWORD = (
    "本汇编收录了本次党建品牌创建活动中经评估认定为优秀的基层党组织品牌。"
    "各单位围绕“一支部一特色”“一系一品牌”的目标，把党建工作与立德树人、专业建设、服务师生紧密结合，"
    "形成了一批可复制、可推广的经验做法。现汇编成册，供各基层党组织学习交流、互学互鉴。"
)


def drive_documents(slug: str) -> dict | None:
    """The organizer writes the booklet's foreword and compiles the booklet (汇编成册) into its
    cache, so it downloads at once; the certificates are counted (they render on request).
    Needs an app context: the booklet cache and the photos live in the app's folders."""
    from ..documents import results_doc

    if not showcase.results_final(slug) or not showcase.certified(slug):
        return None
    organizer = get_account("org")
    text, version = booklets.foreword(slug)
    if not text:
        booklets.set_foreword(organizer, slug, FOREWORD, version)
    doc, path, ready = results_doc.cached_booklet(slug)
    if not ready:
        results_doc.write_booklet(doc, path)
    return {"汇编成册（章）": len(doc["chapters"]),
            "荣誉证书（张）": len(results_doc.certificate_docs(slug))}  # fmt: skip
