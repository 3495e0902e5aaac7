"""Who may do what: the "Editors" group curates stories, tags, related boxes and feeds."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group, Permission

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
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or user.groups.filter(name=EDITORS).exists()
