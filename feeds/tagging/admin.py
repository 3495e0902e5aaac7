"""The editors' tagging screens: the review queue of weakly decided stories, the terms
editors add to the gazetteer, and the record of their corrections.

Registered by ``feeds.admin`` (which imports this module); the newsroom's other screens are
there. Every change an editor makes to a story's countries here is recorded as a
``TagCorrection`` (who, when, before, after).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from feeds.generation import bump_generation
from feeds.models import GazetteerTerm, ReviewStory, Story, StoryCountry, TagCorrection
from feeds.permissions import post_only
from feeds.tagging.countries import DataError, check_term
from feeds.tagging.store import (
    WEAK_BASES,
    WEAK_MARGIN,
    record_correction,
    tag_snapshot,
    terms_changed,
)
from feeds.tagging.tagger import fold

EDITORS_TERMS = Path("editors' terms")  # where a bad term comes from, in its error
BASIS_LABELS = {
    "text": "the text",
    "label": "the feed's label",
    "outlet": "the outlet only",
    "fallback": "no place named: outlet/source home, byline, the source's usual country",
    "weak": "no place named: weak evidence (the story's language)",
    "model": "a close call, the learned model",
    "none": "nothing",
}


def primary_reason(story: Story) -> str:
    if story.primary_country_id is None:
        return ""
    row = (
        StoryCountry.objects.filter(story=story, country_id=story.primary_country_id)
        .only("reason")
        .first()
    )
    return row.reason if row else ""


class _ReviewRowForm(forms.ModelForm):
    """A row of the review queue: its country menu is named after the story it decides (the
    column's header is no label; axe counted an unnamed select per row)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["primary_country"]
        # A RelatedFieldWidgetWrapper renders the widget it wraps, with that one's attrs.
        widget = getattr(field.widget, "widget", field.widget)
        if widget is not None:
            widget.attrs["aria-label"] = f"Primary country of “{self.instance.title}”"


class ReviewStoryAdmin(admin.ModelAdmin):
    """Newest first: stories whose primary country the tagger chose on weak evidence (no
    place in the text, only the outlet, or a narrow lead). One click confirms the choice;
    changing the country in the list and saving corrects it. Both are recorded."""

    # Editors paste addresses without a scheme (as in the newsroom's other forms).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["title", "primary_country", "decided_by", "margin", "why", "confirm_button"]
    list_editable = ["primary_country"]
    list_select_related = ["primary_country", "source"]
    list_filter = ["tag_basis", "source"]
    list_per_page = 50
    ordering = ["-published_at", "-id"]
    fields = ["title", "primary_country"]
    actions = ["confirm"]

    def get_changelist_form(self, request: HttpRequest, **kwargs: Any) -> type[forms.ModelForm]:
        kwargs.setdefault("form", _ReviewRowForm)
        return super().get_changelist_form(request, **kwargs)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ReviewStory]:
        weak = Q(tag_basis__in=WEAK_BASES) | Q(tag_margin__lt=WEAK_MARGIN)
        return (
            super()
            .get_queryset(request)
            .filter(weak, primary_set_by_editor=False, is_hidden=False, canonical__isnull=True)
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Decided by")
    def decided_by(self, obj: Story) -> str:
        return BASIS_LABELS.get(obj.tag_basis, obj.tag_basis or "—")

    @admin.display(description="Lead")
    def margin(self, obj: Story) -> str:
        return "—" if obj.tag_margin is None else f"{obj.tag_margin:.0%}"

    @admin.display(description="Why")
    def why(self, obj: Story) -> str:
        return primary_reason(obj) or "—"

    @admin.display(description="")
    def confirm_button(self, obj: Story) -> str:
        url = reverse("admin:feeds_reviewstory_confirm", args=[obj.pk])
        return format_html(
            '<button type="submit" class="button" formmethod="post" formaction="{}">'
            "Confirm</button>",
            url,
        )

    def get_urls(self) -> list[URLPattern]:
        confirm = self.admin_site.admin_view(
            post_only("admin:feeds_reviewstory_changelist")(self.confirm_view)
        )
        own = [path("<int:pk>/confirm/", confirm, name="feeds_reviewstory_confirm")]
        return own + super().get_urls()

    def confirm_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        story = get_object_or_404(Story, pk=pk)
        confirm_stories([story], request.user)
        self.message_user(request, f"Confirmed: {story.title}", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:feeds_reviewstory_changelist"))

    @admin.action(description="Confirm the primary country of the selected stories")
    def confirm(self, request: HttpRequest, queryset: QuerySet[ReviewStory]) -> None:
        n = confirm_stories(list(queryset), request.user)
        self.message_user(request, f"{n} stories confirmed.", messages.SUCCESS)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        before = tag_snapshot(Story.objects.select_related("primary_country").get(pk=obj.pk))
        obj.primary_set_by_editor = obj.primary_country_id is not None
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            if obj.primary_country_id and not StoryCountry.objects.filter(
                story=obj, country_id=obj.primary_country_id
            ).update(rejected=False):
                StoryCountry.objects.create(story=obj, country_id=obj.primary_country_id)
            record_correction(Story.objects.get(pk=obj.pk), request.user, before)
        transaction.on_commit(bump_generation)


def confirm_stories(stories: list[Any], editor: Any) -> int:
    """The editor agrees with the system's primary: it becomes theirs, and is recorded."""
    with transaction.atomic():
        for story in stories:
            fresh = Story.objects.select_related("primary_country").get(pk=story.pk)
            before = tag_snapshot(fresh)
            Story.objects.filter(pk=story.pk).update(primary_set_by_editor=True)
            record_correction(fresh, editor, before, confirmed=True)
    return len(stories)


class GazetteerTermForm(forms.ModelForm):
    class Meta:
        model = GazetteerTerm
        fields = ["country", "kind", "term"]

    def clean_term(self) -> str:
        term = " ".join((self.cleaned_data.get("term") or "").split())
        try:
            check_term(EDITORS_TERMS, "term", term)
        except DataError as exc:
            raise forms.ValidationError(exc.problem) from None
        if not fold(term.lstrip("=!").replace("*", "")):
            raise forms.ValidationError("The term has no word to match.")
        return term


def _terms_changed() -> None:
    # Now, for this transaction's own tagging, and again at commit, so that no other process
    # keeps a version read in between.
    terms_changed()
    transaction.on_commit(terms_changed)


class GazetteerTermAdmin(admin.ModelAdmin):
    """Aliases and places editors add to a country (a new mine, a vessel's home port).
    Effective for new stories at once; "Re-run automatic tagging" on stories, or
    ``manage.py retag``, applies them to old ones."""

    form = GazetteerTermForm
    list_display = ["term", "country", "kind", "added_by", "created_at"]
    list_filter = ["country", "kind"]
    search_fields = ["term"]
    ordering = ["-created_at"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change:
            obj.added_by = request.user
        super().save_model(request, obj, form, change)
        _terms_changed()
        self.message_user(
            request,
            "Effective for new stories now. To apply it to older stories, run "
            "“Re-run automatic tagging” on them, or manage.py retag.",
            messages.INFO,
        )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        super().delete_model(request, obj)
        _terms_changed()

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[GazetteerTerm]) -> None:
        super().delete_queryset(request, queryset)
        _terms_changed()


class TagCorrectionAdmin(admin.ModelAdmin):
    """Every change editors made to a story's countries: read-only, the labels they give."""

    list_display = ["at", "story", "editor", "primary_before", "primary_after", "confirmed"]
    list_filter = ["confirmed", "primary_after"]
    list_select_related = ["story", "editor"]
    raw_id_fields = ["story"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def register(site: admin.AdminSite) -> None:
    site.register(ReviewStory, ReviewStoryAdmin)
    site.register(GazetteerTerm, GazetteerTermAdmin)
    site.register(TagCorrection, TagCorrectionAdmin)
