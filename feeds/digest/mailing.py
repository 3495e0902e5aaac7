"""The digest's email: messages (plain text and HTML, RFC 8058 one-click unsubscribe) and
the batched mailing, through Django's email backend (``EMAIL_*`` settings).

The order that makes a crash harmless: for each subscriber the send record is written and
committed first (``DigestSend``, state "sending", unique per digest and subscriber), the
message is handed to the mail server second, and the record is marked "sent" third. A
worker killed after the first step leaves a "sending" record and nobody ever sends to that
address again for this digest; a worker killed before it leaves nothing, and the redelivered
batch sends. So no address is mailed twice; at worst the one message in flight when a
worker died is in doubt, and editors see those ("outcome unknown") in the admin.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.utils import formataddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import IntegrityError
from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from feeds.digest.candidates import WeekStoryline, digest_storylines
from feeds.digest.subscriptions import confirmation_token, unsubscribe_token
from feeds.digest.weeks import IsoWeek
from feeds.models import Digest, DigestLine, DigestSend, Subscriber

logger = logging.getLogger(__name__)


def absolute(path: str) -> str:
    return settings.SITE_URL + path


def _sender() -> str:
    return formataddr((f"{settings.SITE_NAME}: Around the North", settings.DEFAULT_FROM_EMAIL))


# --- Messages ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edition:
    """A published digest as every message of its mailing shows it (read once per batch)."""

    digest: Digest
    week: IsoWeek
    lines: list[DigestLine]
    storylines: list[WeekStoryline]

    @classmethod
    def load(cls, digest: Digest) -> Edition:
        lines = list(digest.shown_lines())
        storylines = digest_storylines(digest)
        return cls(digest, IsoWeek(digest.year, digest.week), lines, storylines)

    def context(self) -> dict:
        return {
            "digest": self.digest,
            "week": self.week,
            "lines": [
                {
                    "country": line.country.name,
                    "headline": line.headline,
                    "outlet": line.outlet,
                    "url": absolute(line.target.get_absolute_url()),
                }
                for line in self.lines
            ],
            "storylines": [
                {
                    "title": item.storyline.title,
                    "url": absolute(item.storyline.get_absolute_url()),
                    "week": f"{item.coverage.summary()} that week" if item.coverage else "",
                }
                for item in self.storylines
            ],
            "page_url": absolute(self.digest.get_absolute_url()),
            "site_name": settings.SITE_NAME,
            "site_url": settings.SITE_URL,
        }


def digest_text(context: dict) -> str:
    """The plain-text part (built here, not in a template: plain text must not be
    HTML-escaped, and templates here never switch escaping off)."""
    digest, week = context["digest"], context["week"]
    out = [digest.title.upper(), week.label, ""]
    if digest.introduction:
        out += [digest.introduction, ""]
    out += ["One story from every country:", ""]
    for line in context["lines"]:
        out += [f"{line['country']}: {line['headline']}, {line['outlet']}", line["url"], ""]
    if context["storylines"]:
        out += ["Storylines of the week:"]
        for item in context["storylines"]:
            out += [
                f"- {item['title']}" + (f" ({item['week']})" if item["week"] else ""),
                item["url"],
            ]
        out += [""]
    out += [
        f"On the web: {context['page_url']}",
        "",
        "-- ",
        f"You receive this because you subscribed to {context['site_name']}'s weekly digest.",
        f"Unsubscribe (your address is deleted): {context['unsubscribe_url']}",
    ]
    return "\n".join(out) + "\n"


def unsubscribe_url(subscriber: Subscriber) -> str:
    return absolute(reverse("feeds:digest_unsubscribe", args=[unsubscribe_token(subscriber)]))


def digest_message(
    edition: Edition, subscriber: Subscriber, connection: BaseEmailBackend | None = None
) -> EmailMultiAlternatives:
    leave = unsubscribe_url(subscriber)
    context = {**edition.context(), "unsubscribe_url": leave}
    digest = edition.digest
    message = EmailMultiAlternatives(
        subject=f"{digest.title}: {edition.week.label}",
        body=digest_text(context),
        from_email=_sender(),
        to=[subscriber.email],
        connection=connection,
        headers={
            # RFC 2369 and RFC 8058: mail clients offer a one-click unsubscribe that POSTs
            # "List-Unsubscribe=One-Click" to this URL.
            "List-Unsubscribe": f"<{leave}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": f"{settings.SITE_NAME} weekly digest <digest.{_host()}>",
            # The same message id however often a batch runs: a receiving server may drop a
            # copy it has already seen.
            "Message-ID": f"<digest.{digest.pk}.{subscriber.pk}@{_host()}>",
        },
    )
    message.attach_alternative(render_to_string("feeds/digest/email.html", context), "text/html")
    return message


def _host() -> str:
    return settings.SITE_URL.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0] or "localhost"


def confirmation_message(address: str) -> EmailMultiAlternatives:
    url = absolute(reverse("feeds:digest_confirm", args=[confirmation_token(address)]))
    hours = settings.DIGEST_CONFIRM_MAX_AGE // 3600
    context = {"confirm_url": url, "hours": hours, "site_name": settings.SITE_NAME}
    message = EmailMultiAlternatives(
        subject=f"Confirm your subscription to {settings.SITE_NAME}'s weekly digest",
        body=(
            f"Please confirm your subscription to {settings.SITE_NAME}'s weekly digest, "
            f"Around the North:\n\n{url}\n\nThe link works for {hours} hours. If you did not "
            "ask for this, ignore this email: without a confirmation your address is not "
            "stored and you will hear nothing more from us.\n"
        ),
        from_email=_sender(),
        to=[address],
    )
    message.attach_alternative(
        render_to_string("feeds/digest/confirm_email.html", context), "text/html"
    )
    return message


# --- The mailing ------------------------------------------------------------------------------


def unsent_subscribers(digest: Digest) -> Iterator[int]:
    """Subscribers without a send record for this digest, oldest first."""
    done = DigestSend.objects.filter(digest=digest, subscriber=OuterRef("pk"))
    return (
        Subscriber.objects.filter(~Exists(done))
        .order_by("id")
        .values_list("id", flat=True)
        .iterator(chunk_size=2000)
    )


def batches(digest: Digest, size: int | None = None) -> list[list[int]]:
    size = size or settings.DIGEST_BATCH_SIZE
    out: list[list[int]] = []
    for subscriber_id in unsent_subscribers(digest):
        if not out or len(out[-1]) >= size:
            out.append([])
        out[-1].append(subscriber_id)
    return out


@dataclass
class BatchResult:
    sent: int = 0
    skipped: int = 0  # already claimed (sent, in doubt or refused), or unsubscribed
    refused: int = 0


def refusal_code(error: Exception) -> int | None:
    """The SMTP code with which the server refused the message, or None when nothing says it
    was not accepted (a connection that broke mid-message: it may have been)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        return max(codes) if codes else None
    if isinstance(error, smtplib.SMTPResponseException) and 400 <= error.smtp_code < 600:
        return error.smtp_code
    return None


def send_batch(digest_id: int, subscriber_ids: Sequence[int]) -> BatchResult:
    """Mail a published digest to these subscribers: record, then send, then mark sent.

    A withdrawn or unknown digest sends nothing. A connection that breaks mid-message
    raises (the task retries the batch); that message's record stays "sending".
    """
    result = BatchResult()
    digest = Digest.objects.published().filter(pk=digest_id).first()
    if digest is None:
        return result
    subscribers = Subscriber.objects.filter(pk__in=list(subscriber_ids)).order_by("id")
    edition = Edition.load(digest)
    connection = get_connection()
    with connection:
        for subscriber in subscribers:
            try:
                claim, created = DigestSend.objects.get_or_create(
                    digest=digest, subscriber=subscriber
                )
            except (IntegrityError, DigestSend.DoesNotExist):  # unsubscribed a moment ago
                created = False
            if not created:
                result.skipped += 1
                continue
            try:
                digest_message(edition, subscriber, connection).send()
            except Exception as error:
                code = refusal_code(error)
                if code is None:
                    raise  # outcome unknown: the record stays "sending", never retried
                if code < 500:
                    # "Try later": certainly not accepted, so the record goes and the task's
                    # retry sends it (the subscribers already recorded are skipped then).
                    claim.delete()
                    raise
                claim.state, claim.error = DigestSend.State.FAILED, str(error)[:500]
                claim.save(update_fields=["state", "error"])
                result.refused += 1
                continue
            claim.state, claim.sent_at = DigestSend.State.SENT, timezone.now()
            claim.save(update_fields=["state", "sent_at"])
            result.sent += 1
    result.skipped += len(subscriber_ids) - result.sent - result.refused - result.skipped
    return result


def digests_to_mail() -> list[int]:
    """Published digests whose mailing has not been queued yet."""
    return list(
        Digest.objects.published()
        .filter(mailing_queued_at__isnull=True)
        .order_by("year", "week")
        .values_list("id", flat=True)
    )


def mark_queued(digest_id: int) -> None:
    Digest.objects.filter(pk=digest_id, mailing_queued_at__isnull=True).update(
        mailing_queued_at=timezone.now()
    )
