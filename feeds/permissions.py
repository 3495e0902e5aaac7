"""Who may do what: the "Editors" group curates stories, tags, related boxes and feeds."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth.models import (
    AbstractBaseUser,
    AnonymousUser,
    Group,
    Permission,
    PermissionsMixin,
)
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme

EDITORS = "Editors"

# model name -> actions editors get on it
EDITOR_PERMISSIONS = {
    "story": ["view", "change", "delete"],
    "storycountry": ["view", "add", "change", "delete"],
    "storytopic": ["view", "add", "change", "delete"],
    "relatedslot": ["view", "add", "change", "delete"],
    "feed": ["view", "add", "change"],
    "source": ["view", "add", "change"],
    "fetchlog": ["view"],
    "country": ["view", "change"],
    "topic": ["view", "change"],
    "reviewstory": ["view", "change"],
    "gazetteerterm": ["view", "add", "change", "delete"],
    "tagcorrection": ["view"],
    # The weekly digest: edit and approve ("approve_digest"). Subscribers' addresses are not
    # here: only users given "view_subscriber" one by one see them.
    "digest": ["view", "change", "approve"],
    "digestline": ["view", "add", "change", "delete"],
    "digeststoryline": ["view", "add", "change", "delete"],
    "digestchange": ["view"],
    # Storylines: rename, hide, merge, split, move a story (feeds.storylines.editing).
    "storyline": ["view", "change"],
    "storylinemembership": ["view", "change"],
    "storylinechange": ["view"],
    # Entities: add, alias, merge, hide; link or unlink stories (feeds.entities).
    "entity": ["view", "add", "change"],
    "entityalias": ["view", "add", "change", "delete"],
    "storyentity": ["view", "add", "change", "delete"],
}


def ensure_editors_group(**kwargs) -> Group:
    group, _ = Group.objects.get_or_create(name=EDITORS)
    codenames = [
        f"{action}_{model}" for model, actions in EDITOR_PERMISSIONS.items() for action in actions
    ]
    perms = Permission.objects.filter(content_type__app_label="feeds", codename__in=codenames)
    group.permissions.add(*perms)
    return group


def is_editor(user: AbstractBaseUser | AnonymousUser) -> bool:
    # A user model without PermissionsMixin has no groups, so it has no editors either.
    if not user.is_authenticated or not user.is_active or not isinstance(user, PermissionsMixin):
        return False
    return user.is_superuser or user.groups.filter(name=EDITORS).exists()


def came_from(request: HttpRequest) -> str:
    """The page (on this site) that sent the request, from its Referer; "" if unknown."""
    referer = request.headers.get("Referer", "")
    if referer and url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return referer
    return ""


NOT_DONE = (
    "Nothing was changed: the button's request did not reach us (you had to sign in again, "
    "or its address was opened as a page). Please do it again."
)


def post_only(page: str | Callable[..., str]) -> Callable[[Callable], Callable]:
    """An editor's POST-only endpoint (a button's address). A GET of it goes back to the page
    the button is on (``page``: a URL name without arguments, or ``page(request, *args,
    **kwargs)`` giving the URL), with a message that nothing was
    done, instead of a blank 405: that GET is what signing in sends after an expired session
    (the login's ``next`` is the POST's URL, and the form is not sent again), or a reload, a
    bookmark, a link. Other methods get the 405, as the site's own page."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method == "POST":
                return view(request, *args, **kwargs)
            if request.method not in ("GET", "HEAD"):
                return HttpResponseNotAllowed(["POST"])
            if request.method == "GET":
                messages.warning(request, NOT_DONE)
            return redirect(page if isinstance(page, str) else page(request, *args, **kwargs))

        return wrapper

    return decorator


class RecordAdmin:
    """An admin (or inline) of records nobody adds, changes or deletes by hand: audit trails
    of who did what, written by the code that does it."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
