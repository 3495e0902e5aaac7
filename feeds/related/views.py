"""The related-box editor: one page per story, and one POST endpoint per kind of change.

Progressive enhancement: every control is an ordinary form. Without JavaScript a POST
redirects back to the page (a message says what happened); static/js/related-editor.js sends
the same forms with fetch() and asks for JSON ({"ok", "message", "html", "focus"}), then swaps
the re-rendered box into the page, so an editor never waits for a page load.

Only editors (the "Editors" group, or superusers) may open the page or change a box.
"""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from feeds.models import Country, RelatedChange, Story
from feeds.permissions import is_editor, post_only
from feeds.related import curation
from feeds.related.curation import CurationError

Action = RelatedChange.Action


def editor_required(view):
    """Anonymous users go to the login page; signed-in users who are not editors get 403.

    An anonymous POST (a session that expired while the page was open) signs in and comes
    back with a GET of the button's address, which ``post_only`` sends to the box's page."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not is_editor(request.user):
            raise PermissionDenied("Only editors can curate related boxes.")
        return view(request, *args, **kwargs)

    return never_cache(login_required(wrapper))


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _box_url(story: Story, country: Country | None = None) -> str:
    url = reverse("feeds:curation:box", args=[story.pk])
    return f"{url}#slot-{country.slug}" if country else url


# --- Rendering -----------------------------------------------------------------------------


def _describe(action: str, state: dict | None) -> str:
    """One side of a change, in words: a line's headline and outlet, a place, or a lock."""
    if state is None:
        return "Empty"
    if "locked" in state:
        return "Locked" if state["locked"] else "Unlocked"
    if action == Action.MOVE and "place" in state:
        return f"Place {state['place']}"
    headline = state.get("headline") or ""
    outlet = state.get("outlet") or ""
    text = f"{headline} ({outlet})" if outlet else headline
    if action in (Action.PIN, Action.UNPIN):
        return f"{'Pinned' if state.get('pinned') else 'Not pinned'}: {text}"
    return text or "Empty"


def _history(story: Story) -> list[dict]:
    return [
        {
            "at": change.at,
            "who": change.username or (change.user.get_username() if change.user else "—"),
            "country": change.country.name if change.country else "Whole box",
            "action": change.get_action_display(),
            "before": _describe(change.action, change.before),
            "after": _describe(change.action, change.after),
        }
        for change in curation.recent_changes(story)
    ]


def _box_context(
    story: Story,
    *,
    search_country: int | None = None,
    query: str = "",
    external_country: int | None = None,
    external_values: dict | None = None,
    external_error: str = "",
    external_field: str = "",
) -> dict:
    slots = curation.box_state(story)
    results = (
        curation.search_candidates(query, story) if query and search_country is not None else []
    )
    return {
        "story": story,
        "locked": story.related_locked,
        "slots": slots,
        "filled": sum(1 for view in slots if view.slot),
        "history": _history(story),
        "history_url": reverse("admin:feeds_relatedchange_changelist")
        + f"?story__id__exact={story.pk}",
        "search_country": search_country,
        "query": query,
        "results": results,
        "external_country": external_country,
        "external_values": external_values or {},
        "external_error": external_error,
        "external_field": external_field,
    }


def _page(request: HttpRequest, story: Story, *, status: int = 200, **box) -> HttpResponse:
    context = _box_context(story, **box)
    context.update(
        noindex=True,
        box_url=_box_url(story),
        search_url=reverse("feeds:curation:search", args=[story.pk]),
        admin_url=reverse("admin:feeds_story_change", args=[story.pk]),
        admin_list_url=reverse("admin:feeds_story_changelist"),
    )
    return render(request, "feeds/editor/related_box.html", context, status=status)


def _int_or_none(raw: str | None) -> int | None:
    try:
        return int(raw) if raw not in (None, "") else None
    except ValueError:
        return None


# --- Views ---------------------------------------------------------------------------------


@require_GET
@editor_required
def box(request: HttpRequest, pk: int) -> HttpResponse:
    story = get_object_or_404(Story.objects.select_related("source", "primary_country"), pk=pk)
    return _page(
        request,
        story,
        search_country=_int_or_none(request.GET.get("country")),
        query=request.GET.get("q", "").strip()[:200],
    )


@require_GET
@editor_required
def search(request: HttpRequest, pk: int) -> HttpResponse:
    """Search results for one line, as an HTML fragment (in JSON for the script)."""
    story = get_object_or_404(Story, pk=pk)
    country = get_object_or_404(Country, pk=_int_or_none(request.GET.get("country")) or 0)
    query = request.GET.get("q", "").strip()[:200]
    if not _wants_json(request):
        if not query:
            return redirect(_box_url(story, country))
        params = urlencode({"country": country.pk, "q": query})
        return redirect(f"{_box_url(story)}?{params}#slot-{country.slug}")
    results = curation.search_candidates(query, story)
    html = render_to_string(
        "feeds/editor/_results.html",
        {"story": story, "view": {"country": country}, "results": results, "query": query},
        request=request,
    )
    if not query:
        message = ""
    elif results:
        message = f"{len(results)} {'story' if len(results) == 1 else 'stories'} found."
    else:
        message = "No stories found."
    return JsonResponse({"ok": True, "html": html, "count": len(results), "message": message})


def _apply(story: Story, action: str, post, user) -> tuple[object, str, str]:
    """Run one operation. Returns (change or None, message, what to focus next)."""
    if action in ("lock", "unlock"):
        change = curation.lock(story, action == "lock", user)
        message = (
            "Box locked: the system will not change it."
            if action == "lock"
            else "Box unlocked: the system may update its own lines again."
        )
        return change, message, "lock"
    country = curation.resolve_country(post.get("country"))
    key = country.pk
    if action == "pick":
        change = curation.pick(story, country, post.get("target"), user)
        after = change.after if change else None
        message = (
            f"{country.name} now shows “{after['headline']}”."
            if after
            else f"{country.name} already shows that story."
        )
        return change, message, f"slot:{key}"
    if action == "external":
        change = curation.set_external(
            story,
            country,
            post.get("url", ""),
            post.get("headline", ""),
            post.get("outlet", ""),
            user,
        )
        after = change.after if change else None
        message = (
            f"{country.name} now links to “{after['headline']}” ({after['outlet']})."
            if after
            else f"{country.name} already shows that link."
        )
        return change, message, f"slot:{key}"
    if action == "clear":
        change = curation.clear(story, country, user)
        return change, f"{country.name} cleared: the line stays empty.", f"slot:{key}"
    if action == "release":
        change = curation.release(story, country, user)
        if change is None:
            message = f"The system already chooses the {country.name} line."
        elif story.related_locked:
            message = f"{country.name} handed back to the system; it fills it once unlocked."
        else:
            message = f"{country.name} handed back to the system."
        return change, message, f"slot:{key}"
    if action == "move":
        to = post.get("to", "")
        change = curation.move(story, country, to, user)
        if change is None:
            end = "top" if to == "up" else "bottom" if to == "down" else "place asked for"
            message = f"{country.name} is already at the {end}."
        else:
            message = f"{country.name} moved to place {(change.after or {}).get('place')}."
        return change, message, f"move-{to}:{key}" if to in ("up", "down") else f"slot:{key}"
    if action in ("pin", "unpin"):
        change = curation.pin(story, country, action == "pin", user)
        message = f"{country.name} {'pinned' if action == 'pin' else 'unpinned'}."
        return change, message, f"pin:{key}"
    raise CurationError("Unknown change.")


ACTIONS = frozenset(
    {"pick", "external", "clear", "release", "move", "pin", "unpin", "lock", "unlock"}
)


def _box_of(request: HttpRequest, pk: int, action: str = "") -> str:
    return reverse("feeds:curation:box", args=[pk])


@post_only(_box_of)
@editor_required
def change(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    story = get_object_or_404(Story.objects.select_related("source"), pk=pk)
    if action not in ACTIONS:
        raise Http404("No such change.")
    country_id = _int_or_none(request.POST.get("country"))
    country = Country.objects.filter(pk=country_id).first() if country_id else None
    try:
        _change, message, focus = _apply(story, action, request.POST, request.user)
    except CurationError as exc:
        error = str(exc)
        if _wants_json(request):
            # A refused change is an answer, not a failure: 200 with ok=false (a 4xx would
            # also put an error in the browser's console for an ordinary typing mistake).
            return JsonResponse({"ok": False, "message": error, "field": exc.field})
        if action == "external" and country:
            # Show the form again with what the editor typed, and the reason.
            return _page(
                request,
                story,
                status=400,
                external_country=country.pk,
                external_values={k: request.POST.get(k, "") for k in ("url", "headline", "outlet")},
                external_error=error,
                external_field=exc.field,
            )
        messages.error(request, error)
        return redirect(_box_url(story, country))
    story.refresh_from_db(fields=["related_locked"])
    if _wants_json(request):
        html = render_to_string("feeds/editor/_box.html", _box_context(story), request=request)
        return JsonResponse({"ok": True, "message": message, "html": html, "focus": focus})
    messages.success(request, message)
    return redirect(_box_url(story, country))
