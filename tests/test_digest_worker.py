"""The digest's mailing on the real parts: a Celery worker on Redis, PostgreSQL, and an SMTP
server on loopback. A worker killed (SIGKILL) in the middle of a batch, and a new one started:
every subscriber receives the digest exactly once."""

from __future__ import annotations

import re
import secrets
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from feeds.digest.admin import DigestAdmin
from feeds.models import Digest, DigestLine, DigestSend, Subscriber
from feeds.syndication.feeds import hub_url
from feeds.syndication.formats import LISTING_FORMATS
from feeds.tasks import send_approved_digests
from tests.conftest import Worker, wait_for
from tests.smtpserver import DEFAULT_PORT, SmtpServer
from tests.test_syndication import hub  # noqa: F401  (the local WebSub hub fixture)
from tests.test_views import country, make_source, make_story

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SMTP_PORT = DEFAULT_PORT + 1  # apart from test_digest.py's and the browser test's
SUBSCRIBERS = 24
HOLD_AT = 8  # the message the server holds while the worker is killed


def _approved_digest() -> Digest:
    digest = Digest.objects.create(
        year=2026, week=48, status=Digest.Status.APPROVED, approved_at=timezone.now()
    )
    outlet = make_source("The Barents Observer", country=country("norway"))
    for position, slug in enumerate(("norway", "russia", "finland")):
        story = make_story(
            f"News from {slug}",
            source=outlet,
            countries=(slug,),
            published=timezone.now() - timedelta(days=8),
        )
        DigestLine.objects.create(
            digest=digest, country=country(slug), target=story, position=position
        )
    return digest


def test_a_worker_killed_mid_send_then_restarted_mails_every_subscriber_once(
    vocabularies, worker_env
):
    from arcticnews.celery import app

    digest = _approved_digest()
    readers = [
        Subscriber.objects.create(email=f"reader{i:02d}@example.org", key=secrets.token_hex(16))
        for i in range(SUBSCRIBERS)
    ]
    env = {
        **worker_env,
        "EMAIL_URL": f"smtp://127.0.0.1:{SMTP_PORT}",
        "EMAIL_TIMEOUT": "30",
        "DIGEST_BATCH_SIZE": "10",
        "SITE_URL": "http://news.example",
    }
    app.control.purge()
    with SmtpServer(SMTP_PORT) as smtp:
        smtp.hold_after = HOLD_AT
        first = Worker(env, concurrency=1, name="digest1").start()
        second = Worker(env, concurrency=1, name="digest2")
        try:
            # Beat's sweep, run here: it queues the approved digest's mailing once.
            assert send_approved_digests() == 1
            assert send_approved_digests() == 0
            assert smtp.holding.wait(90), "the worker never reached the held message\n" + (
                first.log()
            )
            # The server has the message and the worker waits for its "250": kill it now,
            # the worst moment (the message is out, its record still says "sending").
            first.kill()
            smtp.hold_after = None
            smtp.release.set()
            in_doubt = DigestSend.objects.get(state=DigestSend.State.SENDING)
            assert in_doubt.subscriber.email == smtp.messages[HOLD_AT - 1].rcpt_tos[0]

            second.start()  # Redis redelivers the unacknowledged batch to it
            wait_for(
                lambda: DigestSend.objects.filter(digest=digest).count() == SUBSCRIBERS,
                # Redis gives an unacknowledged task back after the visibility timeout, at
                # kombu's next restore round (about a minute or two).
                timeout=240,
                what="every subscriber recorded\n" + second.log(),
            )
            wait_for(
                lambda: (
                    DigestSend.objects.filter(state=DigestSend.State.SENT).count()
                    == SUBSCRIBERS - 1
                ),
                timeout=30,
                what="the rest sent",
            )
        finally:
            first.kill()
            second.stop()
        received = Counter(smtp.recipients())
    assert received == Counter(r.email for r in readers), "each subscriber exactly once"
    # The message in flight at the kill stays "outcome unknown": never resent, and editors
    # see it.
    in_doubt.refresh_from_db()
    assert in_doubt.state == DigestSend.State.SENDING
    digest.refresh_from_db()
    assert "1 outcome unknown" in DigestAdmin.mailing(None, digest)  # type: ignore[arg-type]
    # The batch the first worker died in is the one the second worker finished.
    killed = re.findall(r"send_digest_batch\[([0-9a-f-]+)\] received", first.log())[-1]
    assert re.search(rf"send_digest_batch\[{killed}\] succeeded", second.log())


def test_the_sweep_mails_an_approved_week_and_pushes_the_digests_feeds(
    vocabularies,
    worker_env,
    hub,  # noqa: F811
):
    """Beat's sweep on a real worker: the approved week is mailed through the SMTP server
    and the WebSub hub hears of the digest's feeds (they advertise it)."""
    from arcticnews.celery import app

    digest = _approved_digest()
    reader = Subscriber.objects.create(email="reader@example.org", key=secrets.token_hex(16))
    env = {
        **worker_env,
        "EMAIL_URL": f"smtp://127.0.0.1:{SMTP_PORT}",
        "WEBSUB_HUB_URL": hub_url(),
        "SITE_URL": "https://arctic.example",
    }
    app.control.purge()
    with SmtpServer(SMTP_PORT) as smtp:
        worker = Worker(env, concurrency=1, name="digest-push").start()
        try:
            assert send_approved_digests() == 1
            wait_for(lambda: smtp.messages, timeout=90, what="the digest mailed\n" + worker.log())
            wait_for(lambda: hub.received, timeout=30, what="the hub pinged\n" + worker.log())
        finally:
            worker.stop()
        (received,) = smtp.messages
    assert received.rcpt_tos == [reader.email]
    assert "News from norway" in received.part("text/plain")
    topics = [url for _, _, form in hub.received for url in form["hub.url"]]
    assert topics == [f"https://arctic.example/digest/{fmt.route}" for fmt in LISTING_FORMATS]
    assert DigestSend.objects.get(digest=digest).state == DigestSend.State.SENT
    assert send_approved_digests() == 0  # a week is mailed and pushed once
