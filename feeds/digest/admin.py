"""The digest in the editors' admin: edit a draft's lines (pick another story for a country,
reorder), approve it, withdraw it; every change recorded. Subscribers' addresses are shown
only to users holding ``view_subscriber`` (the Editors group does not by default)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from feeds.adminforms import LabelledInlineFormSet
from feeds.digest import candidates, drafting, publishing
from feeds.digest.choosing import alternatives
from feeds.digest.weeks import IsoWeek
from feeds.models import (
    Digest,
    DigestChange,
    DigestLine,
    DigestSend,
    DigestStoryline,
    Story,
    Subscriber,
)
from feeds.permissions import RecordAdmin, post_only


class DigestLineForm(forms.ModelForm):
    class Meta:
        model = DigestLine
        fields = ["position", "country", "target"]

    def clean(self) -> dict:
        data = super().clean() or {}
        story = data.get("target")
        if story is not None and (story.is_hidden or story.canonical_id):
            raise forms.ValidationError(
                "Pick a story readers can see: that one is hidden or a copy of another."
            )
        return data


ALTERNATIVES_SECONDS = 120


def week_alternatives(digest_id: int) -> dict[int, list[tuple[int, str, str]]]:
    """Per country, the week's next best stories (id, headline, why), for the line editor.

    Read once per digest every couple of minutes, not once per line: the rows of one form
    share it, and a past week's coverage hardly changes.
    """

    def compute() -> dict[int, list[tuple[int, str, str]]]:
        digest = Digest.objects.get(pk=digest_id)
        week = IsoWeek(digest.year, digest.week)
        pool = candidates.week_candidates(week)
        used = set(digest.lines.values_list("target_id", flat=True))
        offers = {
            country_id: alternatives(pool, country_id, used, limit=4)
            for country_id in digest.lines.values_list("country_id", flat=True)
        }
        ids = {c.story_id for found in offers.values() for c in found}
        stories = {s.pk: s for s in Story.objects.filter(pk__in=ids).select_related("source")}
        return {
            country_id: [
                (
                    c.story_id,
                    stories[c.story_id].title,
                    f"{stories[c.story_id].outlet}; {c.reason()}",
                )
                for c in found
            ]
            for country_id, found in offers.items()
        }

    found = cache.get_or_set(f"digest:alternatives:{digest_id}", compute, ALTERNATIVES_SECONDS)
    return found if found is not None else compute()  # a cache outage: no cache


class DraftOnlyInline(admin.TabularInline):
    """Rows of a draft: an approved digest is locked (withdraw it to change it)."""

    extra = 0
    formset = LabelledInlineFormSet

    def _editable(self, obj: Digest | None) -> bool:
        return obj is None or not obj.is_published

    def has_change_permission(self, request, obj=None):
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_add_permission(self, request, obj=None):
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._editable(obj) and super().has_delete_permission(request, obj)


class DigestLineInline(DraftOnlyInline):
    model = DigestLine
    form = DigestLineForm
    fields = ["position", "country", "target", "reason", "other_stories"]
    readonly_fields = ["reason", "other_stories"]
    raw_id_fields = ["target"]
    ordering = ["position", "country__name"]
    verbose_name = "line"
    verbose_name_plural = "Lines (Country: Headline, Source) — change the story or the order"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("country", "target__source")

    @admin.display(description="Or pick (story id: headline, outlet, coverage)")
    def other_stories(self, line: DigestLine) -> str:
        if not line.pk:
            return ""
        offers = week_alternatives(line.digest_id).get(line.country_id, [])
        offers = [offer for offer in offers if offer[0] != line.target_id][:3]
        if not offers:
            return "no other story this week"
        items = format_html_join(
            "",
            '<li><a href="{}">{}</a>: {} ({})</li>',
            ((reverse("feeds:story", args=[pk]), pk, title, why) for pk, title, why in offers),
        )
        return format_html('<ul class="digest-offers">{}</ul>', items)


class DigestStorylineInline(DraftOnlyInline):
    model = DigestStoryline
    fields = ["position", "storyline", "reason"]
    readonly_fields = ["reason"]
    raw_id_fields = ["storyline"]
    ordering = ["position", "id"]
    verbose_name = "storyline"
    verbose_name_plural = "Storylines of the week (at most five)"
    max_num = 5


class DigestChangeInline(RecordAdmin, admin.TabularInline):
    model = DigestChange
    fields = ["at", "username", "action", "before", "after"]
    readonly_fields = ["at", "username", "action", "before", "after"]
    extra = 0
    verbose_name_plural = "History (who, when, before, after)"


def send_counts(digest: Digest) -> dict[str, int]:
    counts = dict.fromkeys(DigestSend.State.values, 0)
    for state, n in digest.sends.values_list("state").annotate(n=Count("id")).order_by():
        counts[state] = n
    return counts


class DigestAdmin(admin.ModelAdmin):
    list_display = ["__str__", "week_label", "status", "approved_by", "approved_at", "mailing"]
    list_filter = ["status"]
    readonly_fields = ["week_label", "status", "approved_by", "approved_at", "page", "mailing"]
    fields = [
        "page",
        "week_label",
        "title",
        "introduction",
        "status",
        "approved_by",
        "approved_at",
        "mailing",
    ]
    inlines = [DigestLineInline, DigestStorylineInline, DigestChangeInline]
    actions = ["approve", "withdraw"]

    # The list's "Draft last week now" button (beat drafts at DIGEST_DRAFT_HOUR only).
    change_list_template = "admin/feeds/digest/change_list.html"
    # A draft's "Save and approve" (admin/feeds/digest/submit_line.html, for approvers).

    def has_add_permission(self, request):
        return False  # the beat drafts each week once

    def get_urls(self) -> list[URLPattern]:
        draft = self.admin_site.admin_view(
            post_only("admin:feeds_digest_changelist")(self.draft_last_week_view)
        )
        own = [path("draft-last-week/", draft, name="feeds_digest_draft_last_week")]
        return own + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        can_draft = self.has_change_permission(request)
        return super().changelist_view(request, {"can_draft": can_draft, **(extra_context or {})})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # A draft's page offers "Save and approve": the editor who has just checked the
        # lines approves where they are, not from the list's actions.
        context = {"can_approve": self._approver(request), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, context)

    def response_change(self, request, obj):
        if "_approve" not in request.POST:
            return super().response_change(request, obj)
        self.approve(request, Digest.objects.filter(pk=obj.pk))  # the action, said the same way
        return HttpResponseRedirect(reverse("admin:feeds_digest_change", args=[obj.pk]))

    def draft_last_week_view(self, request: HttpRequest) -> HttpResponse:
        """What beat does each morning, now: idempotent, so an existing draft is kept."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        made = drafting.draft_last_week()
        digest = made.digest
        label = IsoWeek(digest.year, digest.week).label
        if made.created:
            self.message_user(request, f"Drafted {label}.", messages.SUCCESS)
        else:
            self.message_user(
                request, f"{label} already has its digest; left as it is.", messages.WARNING
            )
        return HttpResponseRedirect(reverse("admin:feeds_digest_change", args=[digest.pk]))

    def get_queryset(self, request):
        # The list's mailing column from one query, not one per week.
        counts = {
            f"sends_{state}": Count("sends", filter=Q(sends__state=state))
            for state in DigestSend.State.values
        }
        return super().get_queryset(request).select_related("approved_by").annotate(**counts)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or not obj.is_published)

    @admin.display(description="Week")
    def week_label(self, obj: Digest) -> str:
        return IsoWeek(obj.year, obj.week).label

    @admin.display(description="Page")
    def page(self, obj: Digest) -> str:
        label = "View on site" if obj.is_published else "Preview (only editors can see it)"
        return format_html('<a href="{}">{}</a>', obj.get_absolute_url(), label)

    @admin.display(description="Mailing")
    def mailing(self, obj: Digest) -> str:
        if not obj.is_published:
            return "not sent (a draft is never mailed)"
        if obj.mailing_queued_at is None:
            return "to be mailed to subscribers within minutes"
        if hasattr(obj, "sends_sent"):  # annotated by get_queryset (the list)
            counts = {state: getattr(obj, f"sends_{state}") for state in DigestSend.State.values}
        else:
            counts = send_counts(obj)
        text = f"{counts['sent']} sent"
        if counts["sending"]:
            text += f", {counts['sending']} outcome unknown (a worker stopped mid-send; not resent)"
        if counts["failed"]:
            text += f", {counts['failed']} refused by the mail server"
        return text

    def save_model(self, request, obj, form, change):
        before = publishing.snapshot(Digest.objects.get(pk=obj.pk)) if change else None
        super().save_model(request, obj, form, change)
        request._digest_before = before  # the lines are saved after the digest

    def save_related(self, request, form, formsets, change):
        with transaction.atomic():
            super().save_related(request, form, formsets, change)
            before = getattr(request, "_digest_before", None)
            after = publishing.snapshot(form.instance)
            if change and before != after:
                publishing.record(
                    form.instance, request.user, DigestChange.Action.EDIT, before, after
                )

    def _approver(self, request: HttpRequest) -> bool:
        return request.user.has_perm("feeds.approve_digest")

    @admin.action(description="Approve and publish (then mailed to subscribers)")
    def approve(self, request, queryset):
        if not self._approver(request):
            self.message_user(request, "You may not approve digests.", messages.ERROR)
            return
        for digest in queryset:
            try:
                done = publishing.approve(digest, request.user)
            except publishing.NotAllowed as refusal:
                self.message_user(request, f"{digest}: {refusal}", messages.ERROR)
                continue
            if done:
                self.message_user(
                    request, f"{digest}: published; the email goes out within minutes."
                )

    @admin.action(description="Withdraw from the site")
    def withdraw(self, request, queryset):
        if not self._approver(request):
            self.message_user(request, "You may not withdraw digests.", messages.ERROR)
            return
        for digest in queryset:
            if publishing.withdraw(digest, request.user):
                self.message_user(request, f"{digest}: withdrawn.")

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not self._approver(request):
            actions.pop("approve", None)
            actions.pop("withdraw", None)
        return actions


class SubscriberAdmin(admin.ModelAdmin):
    """Addresses: only for users with ``feeds.view_subscriber``; no one adds them by hand
    (double opt-in only)."""

    list_display = ["email", "confirmed_at"]
    search_fields = ["email"]
    readonly_fields = ["email", "confirmed_at"]
    fields = ["email", "confirmed_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def register(site: admin.AdminSite) -> None:
    site.register(Digest, DigestAdmin)
    site.register(Subscriber, SubscriberAdmin)


def admin_url(digest: Digest) -> str:
    return reverse("admin:feeds_digest_change", args=[digest.pk])
