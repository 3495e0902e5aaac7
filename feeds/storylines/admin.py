"""Storylines in the editors' admin: rename, hide and show, merge (an action on the list),
split stories off and move a story to another storyline (on a storyline's page), each through
``feeds.storylines.editing``, so each is recorded and pinned against the clusterer; the
record of changes, read-only."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.html import format_html

from feeds.models import Story, Storyline, StorylineChange, StorylineMembership
from feeds.permissions import RecordAdmin
from feeds.storylines import editing


class MembershipForm(forms.ModelForm):
    split_off = forms.BooleanField(
        required=False, label="Split off", help_text="into a new storyline, with the others ticked"
    )
    move_to = forms.CharField(
        required=False,
        max_length=120,
        label="Move to",
        help_text="the address name (slug) of another storyline",
    )

    class Meta:
        model = StorylineMembership
        fields: list[str] = []

    def clean_move_to(self) -> Storyline | None:
        slug = (self.cleaned_data.get("move_to") or "").strip().strip("/").split("/")[-1]
        if not slug:
            return None
        target = Storyline.objects.shown().filter(slug=slug).first()
        if target is None:
            raise forms.ValidationError(f"No storyline readers can see is called {slug!r}.")
        return target


class MembershipInline(admin.TabularInline):
    model = StorylineMembership
    form = MembershipForm
    fields = ["story_link", "outlet", "published", "pinned", "split_off", "move_to"]
    readonly_fields = ["story_link", "outlet", "published", "pinned"]
    # The row's key is its story (a one-to-one primary key, editable to Django): only an
    # excluded key is rendered by the inline as the hidden input each row posts back.
    exclude = ["story"]
    extra = 0
    max_num = 0
    can_delete = False
    verbose_name = "story"
    verbose_name_plural = "Stories (tick some to split them off, or name a storyline to move one)"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("story__source")
            .order_by("-story__published_at")
        )

    @admin.display(description="Story")
    def story_link(self, obj: StorylineMembership) -> str:
        return format_html('<a href="{}">{}</a>', obj.story.get_absolute_url(), obj.story.title)

    @admin.display(description="Outlet")
    def outlet(self, obj: StorylineMembership) -> str:
        return obj.story.source.name

    @admin.display(description="Published")
    def published(self, obj: StorylineMembership):
        return obj.story.published_at


class ChangeInline(RecordAdmin, admin.TabularInline):
    model = StorylineChange
    fk_name = "storyline"
    fields = ("at", "username", "action", "story", "before", "after")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "History (who, when, before, after)"


class StorylineAdmin(admin.ModelAdmin):
    list_display = ["title", "told_by", "in_countries", "in_outlets", "last_published_at", "hidden"]
    list_filter = ["hidden"]
    search_fields = ["title", "slug"]
    date_hierarchy = "last_published_at"
    fields = ["title", "hidden", "slug", "merged_into", "counts", "dates"]
    readonly_fields = ["slug", "merged_into", "counts", "dates"]
    inlines = [MembershipInline, ChangeInline]
    actions = ["merge_selected", "hide_selected", "show_selected"]
    empty_value_display = "none"

    def has_add_permission(self, request):
        return False  # storylines are made by the clusterer and by splitting

    def has_delete_permission(self, request, obj=None):
        return False  # hide or merge instead: both are recorded, and links keep working

    @admin.display(description="Stories", ordering="story_count")
    def told_by(self, obj: Storyline) -> int:
        return obj.story_count

    @admin.display(description="Countries", ordering="country_count")
    def in_countries(self, obj: Storyline) -> int:
        return obj.country_count

    @admin.display(description="Outlets", ordering="outlet_count")
    def in_outlets(self, obj: Storyline) -> int:
        return obj.outlet_count

    @admin.display(description="Coverage")
    def counts(self, obj: Storyline) -> str:
        return (
            f"{obj.story_count} stories, {obj.outlet_count} outlets, {obj.country_count} countries"
        )

    @admin.display(description="Published")
    def dates(self, obj: Storyline) -> str:
        def when(value) -> str:
            return f"{value:%d %B %Y, %H:%M} UTC" if value else "none"

        return f"{when(obj.first_published_at)} – {when(obj.last_published_at)}"

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if "title" in form.base_fields:
            form.base_fields["title"].widget.attrs["class"] = "vLargeTextField"
        return form

    def save_model(self, request: HttpRequest, obj: Storyline, form, change: bool) -> None:
        stored = Storyline.objects.get(pk=obj.pk)
        if "title" in form.changed_data:
            editing.rename(stored, obj.title, request.user)
        if "hidden" in form.changed_data:
            editing.set_hidden(stored, obj.hidden, request.user)

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        # Nothing is saved row by row: each change goes through ``editing`` (and its record).
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        if formset.model is not StorylineMembership:
            return
        line = form.instance
        split_ids = []
        for row in formset.forms:
            data = getattr(row, "cleaned_data", None) or {}
            member = row.instance
            if data.get("move_to") is not None:
                target = data["move_to"]
                try:
                    editing.move(Story.objects.get(pk=member.story_id), target, request.user)
                except editing.EditError as exc:
                    messages.error(request, str(exc))
                else:
                    messages.success(request, f"Moved “{member.story}” to “{target}”.")
            elif data.get("split_off"):
                split_ids.append(member.story_id)
        if split_ids:
            try:
                new = editing.split(line, split_ids, request.user)
            except editing.EditError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, f"Split {len(split_ids)} stories off into “{new}”.")

    @admin.action(description="Merge the selected storylines into the most covered one")
    def merge_selected(self, request: HttpRequest, queryset) -> None:
        lines = list(queryset.filter(merged_into__isnull=True).ranked())
        if len(lines) < 2:
            self.message_user(request, "Select at least two storylines.", messages.ERROR)
            return
        # The most covered storyline readers can see takes the others in.
        lines.sort(key=lambda line: line.hidden)
        try:
            target = editing.merge(lines[0], lines[1:], request.user)
        except editing.EditError as error:
            self.message_user(request, str(error), messages.ERROR)
            return
        self.message_user(request, f"Merged {len(lines) - 1} storylines into “{target}”.")

    @admin.action(description="Hide from readers")
    def hide_selected(self, request: HttpRequest, queryset) -> None:
        for line in queryset:
            editing.set_hidden(line, True, request.user)
        self.message_user(request, "Hidden.")

    @admin.action(description="Show to readers again")
    def show_selected(self, request: HttpRequest, queryset) -> None:
        for line in queryset:
            editing.set_hidden(line, False, request.user)
        self.message_user(request, "Shown again.")


class StorylineChangeAdmin(RecordAdmin, admin.ModelAdmin):
    """Every change editors made to storylines: read-only, the record of who did what."""

    list_display = ["at", "username", "action", "storyline", "story"]
    list_filter = ["action", "at"]
    list_select_related = ["storyline", "story"]
    search_fields = ["storyline__title", "username"]
    readonly_fields = ("at", "storyline", "story", "action", "user", "username", "before", "after")
    fields = readonly_fields


def register(site: admin.AdminSite) -> None:
    site.register(Storyline, StorylineAdmin)
    site.register(StorylineChange, StorylineChangeAdmin)
