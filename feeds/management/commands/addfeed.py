from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.text import slugify

from feeds.ingest.discovery import advertised_feeds, looks_like_html
from feeds.ingest.fetching import (
    AddressNotAllowed,
    FetchError,
    URLNotAllowed,
    fetch,
    validate_feed_url,
)
from feeds.ingest.parsing import parse_feed
from feeds.models import Country, Feed, Source

# Exit statuses: 2 for input that can never work (as argparse does), 1 for a URL that does not
# give a feed right now.
BAD_INPUT = 2
NOT_A_FEED = 1
# What an operator who means it (a feed server on their own network, a test) can change.
PRIVATE_HINT = (
    "; feeds on loopback or private addresses are refused unless the setting "
    "FEEDS_ALLOW_PRIVATE_ADDRESSES=true allows them all (tests, offline demos) or "
    "FEEDS_ALLOWED_PRIVATE_ENDPOINTS=ip:port allows one"
)


class Command(BaseCommand):
    help = (
        "Add a feed to poll, creating its source (outlet) if it is new. The URL is fetched "
        "and parsed first; a web page that advertises a feed (<link rel=alternate>) is "
        "offered, or with --discover replaced by its first advertised feed."
    )

    def add_arguments(self, parser):
        parser.add_argument("url")
        parser.add_argument("--source", required=True, help='Outlet name, e.g. "Yle News"')
        parser.add_argument("--country", help="The outlet's home country slug, e.g. finland")
        parser.add_argument(
            "--no-check",
            action="store_true",
            help="add the URL without fetching it (a feed that is down right now)",
        )
        parser.add_argument(
            "--discover",
            action="store_true",
            help="given a web page, add the first feed it advertises",
        )

    def handle(
        self,
        *args,
        url: str,
        source: str,
        country: str | None,
        no_check: bool = False,
        discover: bool = False,
        **options,
    ):
        # Everything that needs no network first: a typo costs no fetch.
        home = None
        if country:
            home = Country.objects.filter(slug=country).first()
            if home is None:
                slugs = ", ".join(Country.objects.values_list("slug", flat=True))
                raise CommandError(
                    f"unknown country {country!r}; choose one of: {slugs}", returncode=BAD_INPUT
                )
        slug = slugify(source)
        if not slug:
            raise CommandError(
                "the source name needs at least one letter or digit", returncode=BAD_INPUT
            )
        # The columns' limits, checked here: PostgreSQL would refuse the row with a traceback
        # after the feed had been fetched (SQLite stores it whatever its length).
        limits = {
            "name": (source.strip(), Source._meta.get_field("name").max_length or 0),
            "slug": (slug, Source._meta.get_field("slug").max_length or 0),
        }
        for field, (value, limit) in limits.items():
            if len(value) > limit:
                raise CommandError(
                    f"the source's {field} would be {len(value)} characters long; "
                    f"it has at most {limit}",
                    returncode=BAD_INPUT,
                )
        url = self._allowed(url)
        if not no_check:
            url = self._check(url, discover)

        outlet, created = Source.objects.get_or_create(
            slug=slug, defaults={"name": source.strip(), "country": home}
        )
        if home and outlet.country_id != home.pk:
            outlet.country = home
            outlet.save(update_fields=["country"])
        feed, feed_created = Feed.objects.get_or_create(url=url, defaults={"source": outlet})
        if not feed_created and feed.source_id != outlet.pk:
            raise CommandError(f"{url} is already a feed of {feed.source}", returncode=BAD_INPUT)
        if not feed.is_active:
            feed.is_active = True
            feed.deactivated_reason = ""
            feed.save(update_fields=["is_active", "deactivated_reason"])
        verb = "added" if feed_created else "already present"
        self.stdout.write(f"{url}: {verb} (source {outlet.name!r}, slug {outlet.slug})")

    def _allowed(self, url: str) -> str:
        limit = Feed._meta.get_field("url").max_length or 0
        if len(url) > limit:
            raise CommandError(
                f"the URL is {len(url)} characters long; a feed URL has at most {limit}",
                returncode=BAD_INPUT,
            )
        try:
            url = validate_feed_url(url)
        except URLNotAllowed as exc:
            hint = PRIVATE_HINT if isinstance(exc, AddressNotAllowed) else ""
            raise CommandError(f"{url}: {exc.reason}{hint}", returncode=BAD_INPUT) from None
        except FetchError as exc:
            raise CommandError(
                f"{url}: {exc.reason} (--no-check adds it anyway)", returncode=NOT_A_FEED
            ) from None
        if len(url) > limit:  # normalising can lengthen it (percent-encoding)
            raise CommandError(
                f"the URL is {len(url)} characters long once normalised; at most {limit}",
                returncode=BAD_INPUT,
            )
        return url

    def _check(self, url: str, discover: bool) -> str:
        """``url`` if it answers with a feed that parses, or the feed its page advertises."""
        try:
            result = fetch(
                url,
                total_timeout=settings.FEEDS_FETCH_TIMEOUT,
                max_bytes=settings.FEEDS_MAX_BYTES,
            )
        except AddressNotAllowed as exc:  # redirected to a private address
            raise CommandError(
                f"{url}: cannot fetch it: {exc.reason}{PRIVATE_HINT}", returncode=BAD_INPUT
            ) from None
        except FetchError as exc:
            raise CommandError(
                f"{url}: cannot fetch it: {exc.reason} (--no-check adds it anyway)",
                returncode=NOT_A_FEED,
            ) from None
        body = result.body or b""
        if looks_like_html(body, result.headers.get("content-type", "")):
            offered = advertised_feeds(body, result.url)
            if not offered:
                raise CommandError(
                    f"{url} is a web page, not a feed, and it advertises no feed",
                    returncode=NOT_A_FEED,
                )
            if not discover:
                raise CommandError(
                    f"{url} is a web page, not a feed. It advertises: {', '.join(offered)}\n"
                    f"Add one of those, or run again with --discover to add the first.",
                    returncode=NOT_A_FEED,
                )
            self.stdout.write(f"{url} is a web page; it advertises {offered[0]}")
            return self._check(self._allowed(offered[0]), discover=False)
        parsed = parse_feed(body, url=result.url, headers=result.headers)
        if not parsed.entries and (parsed.bozo or not parsed.title):
            reason = parsed.bozo_reason or "no items and no title"
            raise CommandError(f"{url} is not a usable feed: {reason}", returncode=NOT_A_FEED)
        return url
