"""seed-demo --through showcased: the organizer publishes each campaign's showcase (成果展示).

Each certified brand gets a chosen cover photo (its second captioned photo when it has one, as
an organizer picks the livelier scene over the first upload) and a short introduction of at most
80 characters; the 2023 campaign is shown to the college, the 2025 one on the intranet.
"""

from __future__ import annotations

from ..commands import showcase
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


def generate_booklet_hook(slug: str):
    """Hook for the compiled booklet (汇编成册) of the showcased demo: workflow/documents/booklet.py
    renders it from results_doc.booklet_pdf, which needs each project's final report
    (workflow.commands.reports). Not called by seed-demo yet: wire it here once the demo writes
    final reports, e.g. ``results_doc.booklet_pdf(slug, False, None, None)`` in an app context."""
    return None
