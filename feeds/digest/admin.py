"""The digest in the editors' admin: edit a draft's lines (pick another story for a country,
reorder), approve it, withdraw it; every change recorded. Subscribers' addresses are shown
only to users holding ``view_subscriber`` (the Editors group does not by default)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from feeds.digest import publishing
from feeds.digest.weeks import IsoWeek
from feeds.models import Digest, DigestChange, DigestLine, DigestSend, DigestStoryline, Subscriber


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


class DraftOnlyInline(admin.TabularInline):
    """Rows of a draft: an approved digest is locked (withdraw it to change it)."""

    extra = 0

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
    fields = ["position", "country", "target", "reason"]
    readonly_fields = ["reason"]
    raw_id_fields = ["target"]
    ordering = ["position", "country__name"]
    verbose_name = "line"
    verbose_name_plural = "Lines (Country: Headline, Source) — change the story or the order"


class DigestStorylineInline(DraftOnlyInline):
    model = DigestStoryline
    fields = ["position", "storyline", "reason"]
    readonly_fields = ["reason"]
    raw_id_fields = ["storyline"]
    ordering = ["position", "id"]
    verbose_name = "storyline"
    verbose_name_plural = "Storylines of the week (at most five)"
    max_num = 5


class DigestChangeInline(admin.TabularInline):
    model = DigestChange
    fields = ["at", "username", "action", "before", "after"]
    readonly_fields = ["at", "username", "action", "before", "after"]
    extra = 0
    can_delete = False
    verbose_name_plural = "History (who, when, before, after)"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


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

    def has_add_permission(self, request):
        return False  # the beat drafts each week once

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
        counts = dict.fromkeys(DigestSend.State.values, 0)
        for state in obj.sends.values_list("state", flat=True):
            counts[state] += 1
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
