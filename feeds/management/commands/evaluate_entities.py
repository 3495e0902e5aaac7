"""Entity linking against labelled stories: the tagger and the linker as ingest runs them
(with the database's entities and aliases, editors' included), nothing written."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from feeds.entities import linking
from feeds.entities.evaluate import parse_cases, score
from feeds.entities.store import current_index
from feeds.models import Entity
from feeds.tagging import tagger
from feeds.types import TagInput

SETS = Path(settings.BASE_DIR) / "tests" / "fixtures" / "entities"
DEFAULT = (("development (tuned on)", SETS / "dev.txt"), ("held out", SETS / "holdout.txt"))


class Command(BaseCommand):
    help = (
        "Precision and recall of entity linking on labelled headlines and teasers: the "
        "development set (tuned on) and the held-out set (never tuned on), apart."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="*", help="labelled sets (default: dev and held out)")
        parser.add_argument("--misses", action="store_true", help="list every wrong story")

    def handle(self, *args, files, misses, **options):
        try:
            keys = {
                pk: f"{kind}/{slug}"
                for pk, kind, slug in Entity.objects.values_list("pk", "kind", "slug")
            }
        except DatabaseError as exc:
            # A database migrated before the entities arrived has no tables for them.
            raise CommandError(
                f"The entity tables are missing ({str(exc).splitlines()[0]}): run "
                "manage.py migrate (it creates them and loads the catalogue)."
            ) from None
        if not keys:
            raise CommandError("No entities: run manage.py migrate (it loads the catalogue).")
        index = current_index()
        sets = [(str(f), Path(f)) for f in files] or list(DEFAULT)
        for label, path in sets:
            if not path.exists():
                raise CommandError(f"{path}: no such file")
            try:
                cases = parse_cases(path, keys.values())
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            pairs = []
            for case in cases:
                result = tagger.tag(
                    TagInput(title=case.title, text=case.teaser, outlet=case.outlet)
                )
                found = frozenset(keys[i] for i in linking.link(result.terms, index))
                pairs.append((case.expected, found))
                if misses and found != case.expected:
                    self.stdout.write(
                        f"  {path.name}:{case.line} {case.title}\n"
                        f"    missed {sorted(case.expected - found)} "
                        f"wrong {sorted(found - case.expected)}"
                    )
            s = score(pairs)
            self.stdout.write(
                f"{label}: {s.stories} stories, {s.true_positives + s.false_negatives} links; "
                f"precision {s.precision:.3f}, recall {s.recall:.3f} "
                f"({s.true_positives} right, {s.false_positives} wrong, "
                f"{s.false_negatives} missed)"
            )
