"""The showcase (成果展示) and the exhibition mode (专题交流展览) of a campaign's certified brands.

Who sees it is the published audience (workflow/commands/showcase.py): ``college`` — logged-in
users of the campaign's college; ``intranet`` — anyone reaching the site (nginx restricts the
site to the intranet, see deploy/nginx-brandflow.conf). Before it is published, or after it is
withdrawn, only the organizer sees it (a preview); everyone else gets 404, and an anonymous
visitor is sent to the login page (they may be a college user).
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, redirect, request, url_for

from .. import authz, files, photos
from ..commands import campaigns, showcase
from ..errors import DomainError
from . import PUBLIC, allow, current_actor, form_int, render

bp = Blueprint("showcase", __name__, url_prefix="/campaigns/<slug>/showcase")


def _member(actor, slug: str) -> bool:
    return any(c["slug"] == slug for c in campaigns.list_for(actor))


def _organizer(actor, slug: str) -> bool:
    return actor is not None and authz.can(actor, "campaign.manage") and _member(actor, slug)


def _access(slug: str):
    """(config, state, preview) when the current visitor may see the showcase; else a login
    redirect for an anonymous visitor, 404 for anyone else."""
    actor = current_actor()
    try:
        config = campaigns.get(slug)
    except DomainError:
        if actor is None:
            return None  # an anonymous visitor learns nothing of which campaigns exist
        raise
    st = showcase.state(slug)
    if _organizer(actor, slug):
        return config, st, not st["published"]
    if st["published"]:
        if st["audience"] == "intranet":
            return config, st, False
        if actor is not None and _member(actor, slug):
            return config, st, False
    if actor is None:
        return None
    abort(404)


def _login():
    return current_app.login_manager.unauthorized()


def grouped(brands: list[dict]) -> list[tuple[str, list[dict]]]:
    groups: dict[str, list[dict]] = {}
    for b in brands:
        groups.setdefault(b["category_label"], []).append(b)
    return list(groups.items())


@bp.get("")
@allow(PUBLIC)
def index(slug):
    """The campaign's certified brands, grouped by category."""
    seen = _access(slug)
    if seen is None:
        return _login()
    config, st, preview = seen
    brands = showcase.brands(slug)
    return render("showcase/index.html", "showcase/index.html", config=config, state=st,
                  preview=preview, groups=grouped(brands), brands=brands,
                  organizer=_organizer(current_actor(), slug), AUDIENCES=showcase.AUDIENCES,
                  MAX_INTRO=showcase.MAX_INTRO, final=showcase.results_final(slug))  # fmt: skip


@bp.get("/brands/<pid>")
@allow(PUBLIC)
def brand(slug, pid):
    """One brand: report sections, captioned photos, unit and outcome."""
    seen = _access(slug)
    if seen is None:
        return _login()
    config, st, preview = seen
    if pid not in showcase.certified(slug):
        abort(404)
    return render("showcase/brand.html", "showcase/brand.html", config=config, state=st,
                  preview=preview, brand=showcase.brand(slug, pid))  # fmt: skip


def _slides(brands: list[dict]) -> list[dict]:
    """One title slide per brand, then one per captioned photo."""
    out = []
    for b in brands:
        out.append({"kind": "brand", "brand": b})
        for p in b["photos"]:
            out.append({"kind": "photo", "brand": b, "photo": p})
    return out


@bp.get("/exhibition")
@allow(PUBLIC)
def exhibition(slug):
    """Full-screen slides; ``?slide=N`` shows slide N (without JavaScript, a page per slide)."""
    seen = _access(slug)
    if seen is None:
        return _login()
    config, st, preview = seen
    slides = _slides(showcase.brands(slug))
    current = min(max(form_int(request.args.get("slide"), 1), 1), max(len(slides), 1))
    return render("showcase/exhibition.html", "showcase/exhibition.html", config=config,
                  slides=slides, current=current, preview=preview)  # fmt: skip


@bp.get("/photos/<sha256>")
@allow(PUBLIC)
def photo(slug, sha256):
    """A photo (or thumbnail) of a brand on this showcase, under the showcase's visibility."""
    seen = _access(slug)
    if seen is None:
        return _login()
    if not showcase.photo_allowed(slug, sha256):
        abort(404)
    try:
        data = files.read(current_app.config["UPLOAD_DIR"], sha256)
    except (DomainError, OSError):
        abort(404)
    mime = {"jpeg": "image/jpeg", "png": "image/png"}.get(photos.sniff(data))
    if mime is None:
        abort(404)
    # private: a withdrawn showcase must not live on in a shared cache
    return Response(data, mimetype=mime, headers={"X-Content-Type-Options": "nosniff",
                                                  "Cache-Control": "private, max-age=300"})  # fmt: skip


# --- The organizer: publish, withdraw, per-brand cover and introduction ----------------------


def _back(slug):
    return redirect(url_for("showcase.index", slug=slug))


@bp.post("/publish")
@allow("campaign.manage")
def publish(slug):
    showcase.publish(current_actor(), slug, request.form.get("audience", ""),
                     request.form.get("version"))  # fmt: skip
    return _back(slug)


@bp.post("/withdraw")
@allow("campaign.manage")
def withdraw(slug):
    showcase.withdraw(current_actor(), slug, request.form.get("version"))
    return _back(slug)


@bp.post("/brands/<pid>")
@allow("campaign.manage")
def set_brand(slug, pid):
    showcase.set_brand(current_actor(), slug, pid, request.form.get("cover") or None,
                       request.form.get("intro", ""), request.form.get("version"))  # fmt: skip
    return _back(slug)


def visible_showcases() -> list[dict]:
    """The showcases the current user may open: published ones of their campaigns, and for the
    organizer every campaign whose results are final (to preview and publish)."""
    actor = current_actor()
    if actor is None:
        return []
    out = []
    for c in campaigns.list_for(actor):
        st = showcase.state(c["slug"])
        organizer = authz.can(actor, "campaign.manage")
        if st["published"] or (organizer and showcase.results_final(c["slug"])):
            out.append({"slug": c["slug"], "title": c["title"], "published": st["published"]})
    return out


@bp.app_context_processor
def inject_showcases():
    return {"visible_showcases": visible_showcases}
