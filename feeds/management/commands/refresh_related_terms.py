"""Write the related box's stored terms and profiles where they are missing or out of date.

    python manage.py refresh_related_terms

Ingest writes them with every story (``Story.related_terms``, ``Story.related_profile``);
this is for the stories stored under another related vocabulary: after an edit of
``feeds/related/vocabulary.toml`` (or of the gazetteer's place names, or of the profile's
weights), every stored profile is out of date. Boxes stay right meanwhile (an out-of-date
profile is made from the text again, more slowly), but the candidate index still holds the
old terms. Safe to run at any time, and again: it rewrites only what is out of date, a few
thousand stories per transaction.
"""

from django.core.management.base import BaseCommand

from feeds.related.candidates import refresh_stored


class Command(BaseCommand):
    help = "Write the related box's stored terms of stories whose are missing or out of date."

    def handle(self, *args, **options):
        def report(done: int) -> None:
            if options["verbosity"] >= 2:
                self.stdout.write(f"  {done} stories")

        done = refresh_stored(report=report)
        self.stdout.write(f"related terms written for {done} stories")
