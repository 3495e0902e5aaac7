"""The digest's pages: the archive (/digest/), one week (/digest/<year>/<week>/), and the
email subscription (sign up, confirm, unsubscribe).

The archive and week pages are public and go through the page cache. The subscription forms
carry no CSRF token, so cached pages can hold the sign-up form: a forged sign-up can only
mail a confirmation link to the address it names, which anyone can do by typing it in, and
the unsubscribe URL must take the mail client's one-click POST (RFC 8058), which has no
cookie. Their answers are never cached (``never_cache``).
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus

from django.conf import settings
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from feeds.digest import candidates, mailing, subscriptions
from feeds.digest.subscriptions import InvalidAddress, Outcome
from feeds.digest.weeks import IsoWeek, NoSuchWeek
from feeds.models import Digest
from feeds.permissions import is_editor
from feeds.web.caching import public_page
from feeds.web.params import NoParams
from feeds.web.throttle import RETRY_AFTER_SECONDS, too_many_signups, too_many_signups_for
from feeds.web.views import FeedListing, Navigation

ARCHIVE_SIZE = 104  # two years of weeks on one page
FEED_TITLE = "Around the North, weekly"


@dataclass(frozen=True)
class ArchiveRow:
    digest: Digest
    week: IsoWeek


def _context(request: HttpRequest, **extra) -> dict:
    nav = Navigation.load()
    return {
        "nav_countries": nav.countries,
        "nav_topics": nav.topics,
        "canonical_url": request.build_absolute_uri(request.path),
        "feeds": FeedListing("digest"),
        "feeds_title": FEED_TITLE,
        **extra,
    }


@require_safe
@public_page(NoParams.parse)
def archive(request: HttpRequest, params: NoParams) -> HttpResponse:
    digests = list(
        Digest.objects.published().newest_first().annotate(line_count=Count("lines"))[:ARCHIVE_SIZE]
    )
    latest = digests[0] if digests else None
    context = _context(
        request,
        editions=[ArchiveRow(d, IsoWeek(d.year, d.week)) for d in digests],
        latest=latest,
        latest_week=IsoWeek(latest.year, latest.week) if latest else None,
        lines=list(latest.shown_lines()) if latest else [],
        description="Around the North: each week, one story from every Arctic country, "
        "chosen from the week's most covered news. By web, feed or email.",
    )
    return TemplateResponse(request, "feeds/digest/archive.html", context)


@require_safe
@public_page(NoParams.parse)
def week(request: HttpRequest, year: int, week: int, params: NoParams) -> HttpResponse:
    try:
        iso = IsoWeek(year, week)
    except NoSuchWeek:
        raise Http404("No such week.") from None
    digest = Digest.objects.filter(year=iso.year, week=iso.week).first()
    # Drafts exist for editors only (a preview, marked as such); readers get a 404.
    if digest is None or not (digest.is_published or is_editor(request.user)):
        raise Http404("No digest for that week.")
    neighbours = Digest.objects.published().order_by("year", "week")
    older = neighbours.filter(year__lte=iso.year).exclude(year=iso.year, week__gte=iso.week)
    newer = neighbours.filter(year__gte=iso.year).exclude(year=iso.year, week__lte=iso.week)
    context = _context(
        request,
        digest=digest,
        week=iso,
        lines=list(digest.shown_lines()),
        storylines=candidates.digest_storylines(digest),
        older=older.last(),
        newer=newer.first(),
        description=f"{digest.title}, {iso.label}: one story from every Arctic country.",
    )
    return TemplateResponse(request, "feeds/digest/week.html", context)


# --- Subscription ---------------------------------------------------------------------------


def _answer(
    request: HttpRequest, template: str, status: int = HTTPStatus.OK, **extra
) -> HttpResponse:
    response = TemplateResponse(request, template, _context(request, noindex=True, **extra))
    response.status_code = status
    return response


@csrf_exempt
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def subscribe(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _answer(request, "feeds/digest/subscribe.html")
    raw = request.POST.get("email", "")
    # Every attempt counts, valid or not: a client trying addresses is limited too.
    if too_many_signups(request):
        response = _answer(
            request,
            "feeds/digest/subscribe.html",
            HTTPStatus.TOO_MANY_REQUESTS,
            error="Too many sign-ups from your network. Please try again in an hour.",
        )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS * 60)
        return response
    try:
        address = subscriptions.normalise_address(raw)
    except InvalidAddress as problem:
        return _answer(
            request,
            "feeds/digest/subscribe.html",
            HTTPStatus.BAD_REQUEST,
            error=str(problem),
            value=raw[:300],
        )
    if too_many_signups_for(request, subscriptions.address_key(address)):
        response = _answer(
            request,
            "feeds/digest/subscribe.html",
            HTTPStatus.TOO_MANY_REQUESTS,
            error="We have already sent that address several confirmation emails today. "
            "Please look for them, or try again tomorrow.",
        )
        response["Retry-After"] = str(24 * 3600)
        return response
    try:
        mailing.confirmation_message(address).send()
    except OSError:  # smtplib's errors included: the mail server is down or refused
        return _answer(
            request,
            "feeds/digest/subscribe.html",
            HTTPStatus.SERVICE_UNAVAILABLE,
            error="We could not send the confirmation email just now. Please try again later.",
            value=address,
        )
    # The same answer whether or not the address is subscribed already: the form does not
    # tell strangers who reads the digest.
    return _answer(
        request,
        "feeds/digest/check_inbox.html",
        address=address,
        hours=settings.DIGEST_CONFIRM_MAX_AGE // 3600,
    )


_CONFIRM_STATUS = {
    Outcome.CONFIRMED: HTTPStatus.OK,
    Outcome.ALREADY_SUBSCRIBED: HTTPStatus.OK,
    Outcome.USED: HTTPStatus.GONE,
    Outcome.EXPIRED: HTTPStatus.GONE,
    Outcome.INVALID: HTTPStatus.BAD_REQUEST,
}


@csrf_exempt
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button (mail scanners follow links; they must not subscribe anyone);
    POST confirms."""
    if request.method != "POST":
        problem = subscriptions.confirmation_problem(token)
        if problem is not None:
            return _answer(
                request,
                "feeds/digest/confirmed.html",
                _CONFIRM_STATUS[problem],
                outcome=problem.name,
            )
        return _answer(request, "feeds/digest/confirm.html", token=token)
    outcome, _ = subscriptions.confirm(token)
    return _answer(
        request, "feeds/digest/confirmed.html", _CONFIRM_STATUS[outcome], outcome=outcome.name
    )


@csrf_exempt
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a one-button page; POST unsubscribes: the button, and mail clients' one-click
    ``List-Unsubscribe=One-Click`` POST (RFC 8058). The address is deleted."""
    if request.method != "POST":
        subscriber = subscriptions.subscriber_for(token)
        if subscriber is None:
            outcome = Outcome.GONE if subscriptions.token_is_signed(token) else Outcome.INVALID
            status = HTTPStatus.OK if outcome is Outcome.GONE else HTTPStatus.BAD_REQUEST
            return _answer(request, "feeds/digest/unsubscribed.html", status, outcome=outcome.name)
        return _answer(request, "feeds/digest/unsubscribe.html", token=token)
    outcome = subscriptions.unsubscribe(token)
    status = HTTPStatus.BAD_REQUEST if outcome is Outcome.INVALID else HTTPStatus.OK
    return _answer(request, "feeds/digest/unsubscribed.html", status, outcome=outcome.name)
