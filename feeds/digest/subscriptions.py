"""Email subscriptions to the digest: addresses checked, double opt-in with signed, expiring
links (``django.core.signing``), and unsubscribing, which deletes the address.

Nothing is stored before the confirmation: the address travels inside the signed link, so
a sign-up that is never confirmed leaves nothing behind, and a flood of sign-ups fills no
table. A used confirmation link is remembered by its hash until it would have expired
anyway, so it cannot subscribe the address again after an unsubscribe.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
import unicodedata
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from feeds.models import Subscriber, UsedConfirmation

CONFIRM_SALT = "feeds.digest.confirm"
UNSUBSCRIBE_SALT = "feeds.digest.unsubscribe"
MAX_ADDRESS_LENGTH = 254  # RFC 5321's path limit, less the brackets


class InvalidAddress(ValueError):
    """An address we will not send to; the message says why, for the reader."""


class Outcome(enum.Enum):
    CONFIRMED = "confirmed"
    ALREADY_SUBSCRIBED = "already subscribed"
    USED = "link already used"
    EXPIRED = "link expired"
    INVALID = "link invalid"
    REMOVED = "unsubscribed"
    GONE = "not subscribed"


def normalise_address(raw: str) -> str:
    """The address as we store and send to it: trimmed, its domain lower-case and in ASCII
    (IDNA), checked by Django's validator. Raises ``InvalidAddress``.

    Refused: line breaks and other control characters (header injection), more than one
    address, display names, local parts outside ASCII (we do not offer SMTPUTF8), and
    anything longer than an SMTP path may be.
    """
    if len(raw) > 4 * MAX_ADDRESS_LENGTH:
        raise InvalidAddress("That is far too long for an email address.")
    value = raw.strip()
    if not value:
        raise InvalidAddress("Enter your email address.")
    if any(unicodedata.category(ch).startswith(("C", "Z")) and ch != " " for ch in value) or (
        " " in value
    ):
        raise InvalidAddress("An email address cannot contain spaces, line breaks or controls.")
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        raise InvalidAddress("Enter a complete email address, like name@example.org.")
    if not local.isascii():
        raise InvalidAddress(
            "We can only send to addresses whose part before the @ is in Latin letters."
        )
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidAddress("The part after the @ is not a valid domain name.") from None
    address = f"{local}@{ascii_domain}"
    if len(address) > MAX_ADDRESS_LENGTH:
        raise InvalidAddress(f"An email address has at most {MAX_ADDRESS_LENGTH} characters.")
    try:
        validate_email(address)
    except ValidationError:
        raise InvalidAddress("Enter a valid email address, like name@example.org.") from None
    return address


def address_key(address: str) -> str:
    """A stable, non-reversible name for an address (rate limits, logs)."""
    return hashlib.sha256(address.encode()).hexdigest()[:32]


# --- Tokens ---------------------------------------------------------------------------------


def confirmation_token(address: str) -> str:
    return signing.dumps({"e": address}, salt=CONFIRM_SALT)


def unsubscribe_token(subscriber: Subscriber) -> str:
    return signing.dumps({"s": subscriber.pk, "k": subscriber.key}, salt=UNSUBSCRIBE_SALT)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def confirmation_problem(token: str) -> Outcome | None:
    """Why a confirmation link cannot be used, without using it (None: it can be)."""
    try:
        signing.loads(token, salt=CONFIRM_SALT, max_age=settings.DIGEST_CONFIRM_MAX_AGE)
    except signing.SignatureExpired:
        return Outcome.EXPIRED
    except signing.BadSignature:
        return Outcome.INVALID
    # Used links are remembered while they could still be valid (``confirm`` prunes older).
    if UsedConfirmation.objects.filter(token_hash=_token_hash(token)).exists():
        return Outcome.USED
    return None


def confirm(token: str) -> tuple[Outcome, Subscriber | None]:
    """Subscribe the address a confirmation link carries, once."""
    max_age = settings.DIGEST_CONFIRM_MAX_AGE
    try:
        payload = signing.loads(token, salt=CONFIRM_SALT, max_age=max_age)
        address = normalise_address(str(payload["e"]))
    except signing.SignatureExpired:
        return Outcome.EXPIRED, None
    except (signing.BadSignature, InvalidAddress, KeyError, TypeError):
        return Outcome.INVALID, None
    now = timezone.now()
    UsedConfirmation.objects.filter(used_at__lt=now - timedelta(seconds=max_age + 60)).delete()
    try:
        with transaction.atomic():
            UsedConfirmation.objects.create(token_hash=_token_hash(token), used_at=now)
            subscriber, created = Subscriber.objects.get_or_create(
                email=address, defaults={"key": secrets.token_hex(16), "confirmed_at": now}
            )
    except IntegrityError:
        return Outcome.USED, None
    return (Outcome.CONFIRMED if created else Outcome.ALREADY_SUBSCRIBED), subscriber


def subscriber_for(token: str) -> Subscriber | None:
    """The subscriber an unsubscribe link names, or None (bad link, or already gone)."""
    try:
        payload = signing.loads(token, salt=UNSUBSCRIBE_SALT)
        subscriber_id, key = int(payload["s"]), str(payload["k"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None or not secrets.compare_digest(subscriber.key, key):
        return None
    return subscriber


def token_is_signed(token: str) -> bool:
    try:
        signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return False
    return True


def unsubscribe(token: str) -> Outcome:
    """Delete the address the link names (with its send records)."""
    subscriber = subscriber_for(token)
    if subscriber is None:
        return Outcome.GONE if token_is_signed(token) else Outcome.INVALID
    subscriber.delete()
    return Outcome.REMOVED
