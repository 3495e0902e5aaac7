from django.core.management.base import BaseCommand

from feeds.ingest.samples import install_default_sources


class Command(BaseCommand):
    help = "Create the default northern outlets and their real feed URLs (idempotent)."

    def handle(self, *args, **options):
        feeds = install_default_sources()
        self.stdout.write(f"{len(feeds)} default feeds present")
