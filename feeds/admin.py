"""The editors' newsroom: sources, feeds and their fetch state, stories, tags, related boxes.

Whatever an editor does to a tag or a related slot is recorded as the editor's, and the
system never overrides it: removing an automatic tag keeps a "rejected" row so re-tagging
cannot bring it back, and deleting a story hides it so the next fetch cannot either.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from feeds import tasks
from feeds.adminforms import URL_OVERRIDES, LabelledInlineFormSet
from feeds.columns import width
from feeds.digest import admin as digest_admin
from feeds.entities import admin as entities_admin
from feeds.generation import bump_generation
from feeds.ingest.fetching import FetchError, validate_feed_url
from feeds.models import (
    SAMPLE_LOADED,
    Country,
    Feed,
    FetchLog,
    Origin,
    RelatedChange,
    RelatedSlot,
    Source,
    Story,
    StoryCountry,
    StoryEntity,
    StoryTopic,
    Topic,
)
from feeds.permissions import RecordAdmin, is_editor
from feeds.related import boxes, curation
from feeds.search import VECTOR_SOURCE_FIELDS, set_search_vector
from feeds.storylines import admin as storylines_admin
from feeds.storylines import assign as storylines
from feeds.tagging import admin as tagging_admin
from feeds.tagging.store import apply_tags, record_correction, tag_reasons, tag_snapshot
from feeds.text.sanitizing import clean_html

# The story page needs the full width at 1280 px; the app index is one click away.
admin.site.enable_nav_sidebar = False


class NewsroomInline(admin.TabularInline):
    formfield_overrides = URL_OVERRIDES
    formset = LabelledInlineFormSet


def _changed() -> None:
    """Readers' pages and feeds must show an editor's change at once, not after a cache expiry."""
    transaction.on_commit(bump_generation)


class NewsroomAdmin(admin.ModelAdmin):
    formfield_overrides = URL_OVERRIDES
    # Django's "—" for an empty value reads as nothing to a screen reader.
    empty_value_display = "none"


@admin.register(Country)
class CountryAdmin(NewsroomAdmin):
    list_display = ["name", "slug"]
    readonly_fields = ["slug"]
    fields = ["name", "slug", "description"]

    def has_add_permission(self, request):
        return False  # the nine countries are fixed

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # Every page shows the navigation, and each web process keeps it until the global
        # generation changes (feeds.web.views.Navigation).
        _changed()

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Topic)
class TopicAdmin(CountryAdmin):
    pass


class FeedForm(forms.ModelForm):
    url = forms.URLField(max_length=width(Feed, "url"), assume_scheme="https")

    class Meta:
        model = Feed
        fields = ["source", "url", "title", "is_active", "deactivated_reason"]

    def clean_url(self) -> str:
        # The same policy the fetcher enforces, so editors hear about a bad URL at once.
        try:
            return validate_feed_url(self.cleaned_data["url"])
        except FetchError as exc:
            raise forms.ValidationError(exc.reason) from None


class FeedInlineForm(FeedForm):
    """A feed added or re-pointed from its outlet's page passes the same URL policy."""

    class Meta(FeedForm.Meta):
        fields = ["url", "is_active"]

    def clean_url(self) -> str:
        if self.instance.pk and "url" not in self.changed_data:
            return self.cleaned_data["url"]  # unchanged: saving the outlet needs no DNS
        return super().clean_url()


class FeedInline(NewsroomInline):
    form = FeedInlineForm
    model = Feed
    fields = ["url", "is_active", "last_status", "last_fetched_at"]
    readonly_fields = ["last_status", "last_fetched_at"]
    extra = 0


@admin.register(Source)
class SourceAdmin(NewsroomAdmin):
    list_display = ["name", "country", "language", "show_full_text", "homepage"]
    list_filter = ["country", "show_full_text"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [FeedInline]


class FetchLogInline(NewsroomInline):
    model = FetchLog
    readonly_fields = ("started_at", "status", "created", "updated", "duration_ms", "error")
    fields = readonly_fields  # read-only, all of it: the record of the fetches
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ["-started_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("-started_at")


class FetchHealthFilter(admin.SimpleListFilter):
    title = "health"
    parameter_name = "health"

    def lookups(self, request, model_admin):
        return [
            ("failing", "Failing"),
            ("sample", "Sample loaded (offline demo)"),
            ("ok", "Healthy"),
            ("inactive", "Deactivated"),
        ]

    def queryset(self, request, queryset):
        if self.value() == "failing":
            return queryset.failing()
        if self.value() == "sample":
            return queryset.sample_loaded()
        if self.value() == "ok":
            return queryset.filter(is_active=True, consecutive_failures=0)
        if self.value() == "inactive":
            return queryset.filter(is_active=False)
        return queryset


@admin.register(Feed)
class FeedAdmin(NewsroomAdmin):
    form = FeedForm
    # The health column also says the last status and why a feed was deactivated (410 Gone,
    # moved, quarantined): as columns of their own they pushed the list past a 1280 px window.
    list_display = ["__str__", "source", "health", "last_fetched_at", "next_fetch_at"]
    list_filter = [FetchHealthFilter, "source"]
    list_select_related = ["source"]
    search_fields = ["url", "title", "source__name"]
    actions = ["fetch_now"]
    readonly_fields = [
        "last_status",
        "last_error",
        "consecutive_failures",
        "last_fetched_at",
        "last_success_at",
        "next_fetch_at",
        "etag",
        "last_modified",
        "hub_url",
        "publish_interval_minutes",
        "lease_until",
    ]
    fieldsets = [
        (None, {"fields": ["source", "url", "title", "is_active", "deactivated_reason"]}),
        ("Fetch state", {"fields": [*readonly_fields]}),
    ]
    inlines = [FetchLogInline]

    def save_model(self, request, obj, form, change):
        if change and "is_active" in form.changed_data and obj.is_active:
            # Re-activated by an editor: a fresh start, not the next strike of a quarantine.
            obj.unfinished_runs = obj.consecutive_failures = 0
            obj.deactivated_reason = ""
            obj.next_fetch_at = timezone.now()
        super().save_model(request, obj, form, change)

    @admin.display(description="Health and last status", ordering="consecutive_failures")
    def health(self, obj: Feed) -> str:
        """In words: a feed whose stories came from the bundled samples is not "failing";
        under it, why a feed was deactivated, or what its last run said."""
        note = obj.last_status
        if not obj.is_active:
            kind, label = "inactive", "Deactivated"
            note = obj.deactivated_reason or obj.last_status
        elif obj.last_status.startswith(SAMPLE_LOADED):
            kind, label = "sample", "Sample loaded"
            note = obj.last_error  # why the real feed could not be fetched, if it was tried
        elif obj.consecutive_failures:
            n = obj.consecutive_failures
            kind, label = "failing", f"Failing ({n} attempt{'s' if n != 1 else ''})"
        elif obj.last_success_at:
            kind, label = "ok", "Healthy"
        else:
            kind, label = "new", "Not fetched yet"
        return format_html(
            '<span class="an-health an-health--{}" title="{}">{}</span>{}',
            kind,
            obj.last_error[:300],
            label,
            format_html('<span class="an-feed-note">{}</span>', note[:200]) if note else "",
        )

    @admin.action(description="Fetch now")
    def fetch_now(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        Feed.objects.filter(pk__in=ids).update(next_fetch_at=timezone.now())
        if settings.CELERY_TASK_ALWAYS_EAGER:
            lines = []
            for feed in queryset:
                result = tasks.run_feed(feed.pk, force=True, suggest=False)
                if result.changed_story_ids:
                    tasks.enrich(result.changed_story_ids)
                lines.append(result.line(feed))
            self.message_user(request, "; ".join(lines), messages.INFO)
        else:
            for feed_id in ids:
                tasks.fetch_feed.delay(feed_id, force=True)
            self.message_user(request, f"{len(ids)} feed(s) queued for fetching.", messages.INFO)


class EditorOriginMixin:
    """Rows an editor adds or changes become the editor's; deleted system rows are rejected."""

    def save_editor_rows(self, formset):
        instances = formset.save(commit=False)
        for obj in instances:
            obj.origin = Origin.EDITOR
            obj.save()
        for obj in formset.deleted_objects:
            if obj.origin == Origin.SYSTEM and hasattr(obj, "rejected"):
                obj.origin = Origin.EDITOR
                obj.rejected = True
                obj.save()
            else:
                obj.delete()
        formset.save_m2m()


class StoryCountryInline(NewsroomInline):
    model = StoryCountry
    fields = ["country", "origin", "rejected", "score", "reason"]
    readonly_fields = ["origin", "score", "reason"]
    extra = 0
    verbose_name_plural = "Countries (system tags you delete are kept as rejected)"


class StoryTopicInline(NewsroomInline):
    model = StoryTopic
    fields = ["topic", "origin", "rejected", "score", "reason"]
    readonly_fields = ["origin", "score", "reason"]
    extra = 0
    verbose_name_plural = "Topics (system tags you delete are kept as rejected)"


class RelatedSlotInline(NewsroomInline):
    model = RelatedSlot
    fk_name = "story"
    fields = [
        "position",
        "country",
        "target",
        "external_headline",
        "external_outlet",
        "external_url",
        "pinned",
        "origin",
    ]
    readonly_fields = ["origin"]
    raw_id_fields = ["target"]
    extra = 0
    ordering = ["position", "country__name"]
    verbose_name_plural = "Related stories from around the North"


class EditedByEditorFilter(admin.SimpleListFilter):
    title = "tags changed by an editor"
    parameter_name = "edited"

    def lookups(self, request, model_admin):
        return [("yes", "Changed by an editor"), ("no", "Automatic only")]

    def queryset(self, request, queryset):
        edited = (
            Q(primary_set_by_editor=True)
            | Q(Exists(StoryCountry.objects.filter(story=OuterRef("pk"), origin=Origin.EDITOR)))
            | Q(Exists(StoryTopic.objects.filter(story=OuterRef("pk"), origin=Origin.EDITOR)))
        )
        if self.value() == "yes":
            return queryset.filter(edited)
        if self.value() == "no":
            return queryset.exclude(edited)
        return queryset


class CopyFilter(admin.SimpleListFilter):
    title = "copies"
    parameter_name = "copy"

    def lookups(self, request, model_admin):
        return [("canonical", "Canonical stories"), ("copy", "Republished copies")]

    def queryset(self, request, queryset):
        if self.value() == "canonical":
            return queryset.filter(canonical__isnull=True)
        if self.value() == "copy":
            return queryset.filter(canonical__isnull=False)
        return queryset


class StoryForm(forms.ModelForm):
    """Bodies an editor types go through the same sanitiser as a feed's: the story page
    renders them as HTML, and the tagger reads them as clean_html output."""

    # No Meta: the admin builds the form's fields from StoryAdmin.fieldsets.

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        base = data.get("link") or self.instance.link
        for name in ("summary", "content"):
            if name in data:
                data[name] = clean_html(data[name] or "", base)
        return data


@admin.register(Story)
class StoryAdmin(EditorOriginMixin, NewsroomAdmin):
    form = StoryForm
    # Few, short columns: the list fits 1280 px without scrolling (copies and kinds are filters).
    list_display = ["title", "outlet_display", "primary_country", "published_at", "shown"]
    list_filter = [
        EditedByEditorFilter,
        CopyFilter,
        "kind",
        "is_hidden",
        "primary_country",
        "source",
    ]
    list_select_related = ["source", "primary_country"]
    search_fields = ["title", "guid", "link"]
    date_hierarchy = "published_at"
    raw_id_fields = ["canonical", "feed"]
    readonly_fields = [
        "view_on_site_link",
        "original_link",
        "first_seen_at",
        "last_seen_at",
        "source_published_at",
        "tagged_at",
        "related_suggested_at",
        "categories_display",
        "tag_why",
        "related_editor_link",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "view_on_site_link",
                    "title",
                    "original_link",
                    "source",
                    "feed",
                    "byline",
                    "author",
                    "original_outlet",
                    "published_at",
                    "source_updated_at",
                    "is_hidden",
                ]
            },
        ),
        (
            "Tags",
            {
                "fields": [
                    "primary_country",
                    "primary_set_by_editor",
                    "tag_why",
                    "categories_display",
                    "kind",
                    "tagged_at",
                ]
            },
        ),
        (
            "Related box",
            {"fields": ["related_editor_link", "related_locked", "related_suggested_at"]},
        ),
        ("Copies", {"fields": ["canonical"]}),
        (
            "Text",
            {
                "classes": ["collapse"],
                "fields": [
                    "summary",
                    "content",
                    "image_url",
                    "image_caption",
                    "image_credit",
                    "language",
                    "link",
                    "guid",
                ],
            },
        ),
        (
            "Fetch history",
            {
                "classes": ["collapse"],
                "fields": ["first_seen_at", "last_seen_at", "source_published_at"],
            },
        ),
    ]
    inlines = [
        StoryCountryInline,
        StoryTopicInline,
        entities_admin.StoryEntityInline,
        RelatedSlotInline,
    ]
    actions = ["hide", "unhide", "resuggest_related", "retag"]

    # A green tick for the usual case: an "Is hidden" column was a red cross on every row.
    @admin.display(description="Shown to readers", boolean=True, ordering="is_hidden")
    def shown(self, obj: Story) -> bool:
        return not obj.is_hidden

    @admin.display(description="The feed's categories")
    def categories_display(self, obj: Story) -> str:
        return ", ".join(str(c) for c in obj.categories or ()) or "none"

    @admin.display(description="Outlet", ordering="source__name")
    def outlet_display(self, obj: Story) -> str:
        if obj.original_outlet and obj.original_outlet != obj.source.name:
            return f"{obj.original_outlet} via {obj.source.name}"
        return obj.source.name

    @admin.display(description="On the site")
    def view_on_site_link(self, obj: Story) -> str:
        if not obj.pk:
            return ""
        return format_html('<a href="{}">{}</a>', obj.get_absolute_url(), obj.get_absolute_url())

    @admin.display(description="Original article")
    def original_link(self, obj: Story) -> str:
        if not obj.link:
            return "—"
        return format_html('<a href="{}" rel="noopener nofollow">{}</a>', obj.link, obj.link)

    @admin.display(description="Editor")
    def related_editor_link(self, obj: Story) -> str:
        if not obj.pk:
            return ""
        url = reverse("feeds:curation:box", args=[obj.pk])
        return format_html('<a class="button" href="{}">Edit the related box</a>', url)

    @admin.display(description="Why these tags")
    def tag_why(self, obj: Story) -> str:
        reasons = tag_reasons(obj) if obj.pk else []
        if not reasons:
            return "—"
        return format_html(
            "<ul>{}</ul>",
            format_html_join("", "<li><strong>{}</strong>: {}</li>", reasons),
        )

    def save_model(self, request, obj, form, change):
        if change:
            # Before the change, for the record of editors' corrections (save_related).
            stored = Story.objects.select_related("primary_country").get(pk=obj.pk)
            request._tags_before = tag_snapshot(stored)
        if "primary_country" in form.changed_data:
            obj.primary_set_by_editor = obj.primary_country_id is not None
        locked = obj.related_locked
        if change and "related_locked" in form.changed_data:
            obj.related_locked = form.initial.get("related_locked", False)
        if VECTOR_SOURCE_FIELDS.intersection(form.changed_data):
            # A corrected headline must be found by its new words, not its old ones.
            set_search_vector(obj)
        super().save_model(request, obj, form, change)
        if obj.related_locked != locked:  # through curation, so the change log has it
            curation.lock(obj, locked, request.user)

    def save_related_slots(self, request, story: Story, formset) -> None:
        """The inline's changes are the editor's, and each is logged as the editor page logs it."""
        current = RelatedSlot.objects.filter(story=story).select_related("target__source")
        before = {slot.pk: curation.snapshot(slot) for slot in current}
        for slot in formset.save(commit=False):
            slot.origin = Origin.EDITOR
            slot.save()
            slot = RelatedSlot.objects.select_related("target__source", "country").get(pk=slot.pk)
            prior = before.get(slot.pk)
            curation.record_admin_edit(
                story, request.user, slot.country, prior, curation.snapshot(slot)
            )
        for slot in formset.deleted_objects:
            prior = before.get(slot.pk)
            country = slot.country
            slot.delete()
            curation.record_admin_edit(story, request.user, country, prior, None)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        before = getattr(request, "_tags_before", None)
        if before is not None:
            story = Story.objects.select_related("primary_country").get(pk=form.instance.pk)
            record_correction(story, request.user, before)
        if "kind" in form.changed_data:
            # Marked a newsletter or podcast: it leaves every box it was a line of.
            boxes.withdraw_roundups([form.instance.pk])
        if {"kind", "is_hidden"} & set(form.changed_data):
            storylines.refresh_for([form.instance.pk])
        _changed()

    def save_formset(self, request, form, formset, change):
        if formset.model is RelatedSlot:
            self.save_related_slots(request, form.instance, formset)
        elif formset.model in (StoryCountry, StoryTopic, StoryEntity):
            self.save_editor_rows(formset)
        else:
            super().save_formset(request, form, formset, change)

    def delete_model(self, request, obj):
        # Deleting would let the next fetch bring the story back: hide it instead.
        Story.objects.filter(pk=obj.pk).update(is_hidden=True)
        storylines.refresh_for([obj.pk])
        _changed()

    def delete_queryset(self, request, queryset):
        self._set_hidden(queryset, True)

    def _set_hidden(self, queryset, hidden: bool) -> int:
        ids = list(queryset.values_list("pk", flat=True))
        n = Story.objects.filter(pk__in=ids).update(is_hidden=hidden)
        storylines.refresh_for(ids)  # their storylines count what readers see
        _changed()
        return n

    @admin.action(description="Hide from readers (kept hidden on re-fetch)")
    def hide(self, request, queryset):
        n = self._set_hidden(queryset, True)
        self.message_user(request, f"{n} stories hidden.")

    @admin.action(description="Show to readers again")
    def unhide(self, request, queryset):
        n = self._set_hidden(queryset, False)
        self.message_user(request, f"{n} stories visible again.")

    @admin.action(description="Re-suggest related boxes (unlocked, unpinned slots)")
    def resuggest_related(self, request, queryset):
        n = boxes.refresh_boxes(queryset.values_list("pk", flat=True))
        self.message_user(request, f"{n} boxes changed.")

    @admin.action(description="Re-run automatic tagging (editors' tags kept)")
    def retag(self, request, queryset):
        n = apply_tags(queryset.select_related("source", "source__country"))
        self.message_user(request, f"{n} stories' tags changed.")


# --- Related-box curation (feeds/related/curation.py): its change log, and a link to its editor


@admin.register(RelatedChange)
class RelatedChangeAdmin(RecordAdmin, admin.ModelAdmin):
    """Every change editors made to related boxes: read-only, the record of who did what."""

    list_display = ["story", "username", "at", "action", "country"]
    list_display_links = ["at"]
    list_filter = ["action", "country", "at"]
    list_select_related = ["story", "country"]
    search_fields = ["story__title", "username"]
    date_hierarchy = "at"
    raw_id_fields = ["story"]
    readonly_fields = ("at", "story", "country", "action", "user", "username", "before", "after")
    fields = readonly_fields

    def has_view_permission(self, request, obj=None):
        return is_editor(request.user) or super().has_view_permission(request, obj)


tagging_admin.register(admin.site)
digest_admin.register(admin.site)
storylines_admin.register(admin.site)
entities_admin.register(admin.site)
