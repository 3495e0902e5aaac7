from django.core.management.base import BaseCommand, CommandError
from django.utils.text import slugify

from feeds.ingest.fetching import FetchError, validate_feed_url
from feeds.models import Country, Feed, Source


class Command(BaseCommand):
    help = "Add a feed to poll, creating its source (outlet) if it is new."

    def add_arguments(self, parser):
        parser.add_argument("url")
        parser.add_argument("--source", required=True, help='Outlet name, e.g. "Yle News"')
        parser.add_argument("--country", help="The outlet's home country slug, e.g. finland")

    def handle(self, *args, url: str, source: str, country: str | None, **options):
        try:
            url = validate_feed_url(url)
        except FetchError as exc:
            raise CommandError(f"{url}: {exc.reason}") from None
        home = None
        if country:
            home = Country.objects.filter(slug=country).first()
            if home is None:
                slugs = ", ".join(Country.objects.values_list("slug", flat=True))
                raise CommandError(f"unknown country {country!r}; choose one of: {slugs}")
        slug = slugify(source)
        if not slug:
            raise CommandError("the source name needs at least one letter or digit")
        outlet, created = Source.objects.get_or_create(
            slug=slug, defaults={"name": source.strip(), "country": home}
        )
        if home and outlet.country_id != home.pk:
            outlet.country = home
            outlet.save(update_fields=["country"])
        feed, feed_created = Feed.objects.get_or_create(url=url, defaults={"source": outlet})
        if not feed_created and feed.source_id != outlet.pk:
            raise CommandError(f"{url} is already a feed of {feed.source}")
        if not feed.is_active:
            feed.is_active = True
            feed.deactivated_reason = ""
            feed.save(update_fields=["is_active", "deactivated_reason"])
        verb = "added" if feed_created else "already present"
        self.stdout.write(f"{url}: {verb} (source {outlet.name!r}, slug {outlet.slug})")
