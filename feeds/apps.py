"""The app's configuration: system checks and the columns derived from a story's text registered,
and the Editors group kept after migrations."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class FeedsConfig(AppConfig):
    name = "feeds"
    verbose_name = "ArcticNews"

    def ready(self) -> None:
        from feeds import search
        from feeds.permissions import ensure_editors_group
        from feeds.related import candidates

        from . import checks  # noqa: F401  (registers the system checks)

        # The related box's stored terms are written wherever a story's search vector is.
        search.derive_from_text(candidates.STORED_FIELDS, candidates.stored)

        # After migrate, when Django has created the permissions the group needs.
        post_migrate.connect(_editors_group, sender=self, dispatch_uid="feeds-editors-group")
        # The entity catalogue (feeds/entities/data/) into the database, after every migrate.
        post_migrate.connect(_entities, sender=self, dispatch_uid="feeds-entities")
        # Web processes keep the navigation (countries, topics) until the global generation
        # changes; a migration may change the vocabularies.
        post_migrate.connect(_bump, sender=self, dispatch_uid="feeds-bump-generation")
        self._ensure = ensure_editors_group


def _editors_group(sender, **kwargs) -> None:
    sender._ensure()


def _entities(sender, **kwargs) -> None:
    from feeds.entities.store import sync_catalogue

    sync_catalogue()


def _bump(sender, **kwargs) -> None:
    from feeds.generation import bump_generation

    bump_generation()
