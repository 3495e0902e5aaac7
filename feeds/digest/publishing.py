"""Approval: nothing of a digest reaches readers or subscribers until an editor approves it.

Every approval, withdrawal and edit is recorded (``DigestChange``: who, when, before, after).
Approving bumps the page-cache generation (the pages and feeds show it at once); the mailing
is queued by the sending sweep (``feeds.tasks.send_approved_digests``), which only ever sees
approved digests.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.utils import timezone

from feeds.generation import bump_generation
from feeds.models import Digest, DigestChange


class NotAllowed(Exception):
    """The change is refused (says why)."""


def snapshot(digest: Digest) -> dict[str, Any]:
    """What readers would see of the digest, for the audit trail."""
    return {
        "status": digest.status,
        "title": digest.title,
        "introduction": digest.introduction,
        "lines": [
            {"country": line.country.slug, "story": line.target_id, "position": line.position}
            for line in digest.lines.select_related("country").order_by("position", "id")
        ],
        "storylines": list(
            digest.storylines.order_by("position", "id").values_list("storyline_id", flat=True)
        ),
    }


def record(
    digest: Digest,
    user: AbstractBaseUser | AnonymousUser | None,
    action: str,
    before: dict | None,
    after: dict | None,
) -> DigestChange:
    return DigestChange.objects.create(
        digest=digest,
        **DigestChange.by(user),
        action=action,
        before=before,
        after=after,
    )


def approve(digest: Digest, user: AbstractBaseUser | AnonymousUser) -> bool:
    """Publish the digest; False if it already was (nothing changes then)."""
    if not user.is_authenticated:
        raise NotAllowed("Only a signed-in editor can approve a digest.")
    with transaction.atomic():
        locked = Digest.objects.select_for_update().get(pk=digest.pk)
        if locked.is_published:
            return False
        if not locked.lines.exists():
            raise NotAllowed("A digest without a single line cannot be published.")
        before = snapshot(locked)
        locked.status = Digest.Status.APPROVED
        locked.approved_at = timezone.now()
        locked.approved_by = user  # type: ignore[assignment]
        locked.save(update_fields=["status", "approved_at", "approved_by"])
        record(locked, user, DigestChange.Action.APPROVE, before, snapshot(locked))
        transaction.on_commit(bump_generation)
    digest.refresh_from_db()
    return True


def withdraw(digest: Digest, user: AbstractBaseUser | AnonymousUser) -> bool:
    """Take a published digest off the site (emails already sent stay sent, and are never
    sent again should it be approved once more)."""
    with transaction.atomic():
        locked = Digest.objects.select_for_update().get(pk=digest.pk)
        if not locked.is_published:
            return False
        before = snapshot(locked)
        locked.status = Digest.Status.DRAFT
        locked.save(update_fields=["status"])
        record(locked, user, DigestChange.Action.WITHDRAW, before, snapshot(locked))
        transaction.on_commit(bump_generation)
    digest.refresh_from_db()
    return True
