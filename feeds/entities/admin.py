"""Entities in the editors' admin: add one (with its names), alias it, hide it, merge several
(an action on the list: into the one with the most stories). Every change reaches new stories
at once (the alias index is rebuilt at each process's next batch) and old ones through
``manage.py retag``. Stories' links are edited on the story's page (``StoryEntityInline``)."""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count
from django.http import HttpRequest

from feeds.adminforms import LabelledInlineFormSet
from feeds.entities import editing
from feeds.entities.store import entities_changed, folded
from feeds.generation import bump_generation
from feeds.models import Entity, EntityAlias, Origin, StoryEntity
from feeds.tagging.countries import DataError, check_term
from feeds.tagging.tagger import fold


class EntityAliasForm(forms.ModelForm):
    """A name the tagger's matcher can hold. Every process rebuilds its matcher from all
    names at its next batch, so one unmatchable name ("*", "=") would stop every feed run."""

    class Meta:
        model = EntityAlias
        fields = ["term", "needs_cue"]

    def clean_term(self) -> str:
        term = " ".join((self.cleaned_data.get("term") or "").split())
        try:
            check_term(Path("<entity names>"), "term", term)
        except DataError as exc:
            raise forms.ValidationError(exc.problem) from None
        if not fold(term.lstrip("=!").replace("*", "")):
            raise forms.ValidationError("The name has no word to match.")
        return term


class EntityAliasInline(admin.TabularInline):
    model = EntityAlias
    form = EntityAliasForm
    fields = ["term", "needs_cue", "origin"]
    readonly_fields = ["origin"]
    extra = 1
    verbose_name_plural = (
        'Names (the tagger\'s term syntax: "Sabetta", "сабетт*" for any ending, "=NSR" '
        "case-sensitive; tick 'needs cue' for a name that is also a word or another thing's)"
    )


class EntityAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "country", "stories", "hidden", "merged_into"]
    list_filter = ["kind", "hidden", "country"]
    search_fields = ["name", "slug", "aliases__term"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["data_key", "merged_into"]
    fields = [
        "kind", "name", "slug", "country", "latitude", "longitude", "imo", "ice_class",
        "operator", "description", "source", "hidden", "merged_into", "data_key",
    ]  # fmt: skip
    inlines = [EntityAliasInline]
    actions = ["merge_selected", "hide_selected", "show_selected"]
    empty_value_display = "none"

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).annotate(n=Count("story_links", distinct=True))

    @admin.display(description="stories", ordering="n")
    def stories(self, obj: Entity) -> int:
        return getattr(obj, "n", 0)

    def save_model(self, request, obj: Entity, form, change: bool) -> None:
        if change:
            obj.edited = True  # the data file no longer overwrites an editor's facts
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change: bool) -> None:
        instances = formset.save(commit=False)
        for alias in instances:
            alias.origin = Origin.EDITOR
            alias.folded, alias.stem = folded(alias.term), "*" in alias.term
            alias.save()
        for alias in formset.deleted_objects:
            alias.delete()

    def save_related(self, request, form, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        entities_changed()
        transaction.on_commit(bump_generation)

    @admin.action(description="Merge the selected entities into the one with the most stories")
    def merge_selected(self, request: HttpRequest, queryset) -> None:
        chosen = list(queryset.filter(merged_into__isnull=True).order_by("-n", "pk"))
        if len(chosen) < 2:
            self.message_user(request, "Select at least two entities.", messages.ERROR)
            return
        target = editing.merge(chosen[0], chosen[1:])
        transaction.on_commit(bump_generation)
        self.message_user(request, f"Merged {len(chosen) - 1} into “{target}”.")

    @admin.action(description="Hide from readers")
    def hide_selected(self, request: HttpRequest, queryset) -> None:
        queryset.update(hidden=True, edited=True)
        entities_changed()
        transaction.on_commit(bump_generation)
        self.message_user(request, "Hidden.")

    @admin.action(description="Show to readers again")
    def show_selected(self, request: HttpRequest, queryset) -> None:
        queryset.update(hidden=False, edited=True)
        entities_changed()
        transaction.on_commit(bump_generation)
        self.message_user(request, "Shown again.")


class StoryEntityInline(admin.TabularInline):
    """On a story's admin page: its entities. A system link an editor deletes is kept as
    removed (``rejected``), so linking never adds it again."""

    model = StoryEntity
    formset = LabelledInlineFormSet  # the row's boxes had only a title, or nothing, as a name
    fields = ["entity", "origin", "rejected", "reason"]
    readonly_fields = ["origin", "reason"]
    autocomplete_fields = ["entity"]
    extra = 0
    verbose_name_plural = "Entities (system links you delete are kept as removed)"


def register(site: admin.AdminSite) -> None:
    site.register(Entity, EntityAdmin)
