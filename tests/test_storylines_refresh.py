"""manage.py refresh_storylines: the storylines new stories can still join re-read as the
clusterer reads stories now (after anchors.toml or the scoring changed), on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from feeds.models import Country, Storyline, StorylineTerm
from feeds.storylines import assign
from tests.test_storylines_headlines import BLAST, RUNWAY
from tests.test_views import make_source, make_story


@pytest.mark.services
@pytest.mark.django_db
def test_refresh_storylines_rereads_the_open_storylines_only() -> None:
    now = timezone.now() - timedelta(hours=6)
    barents = make_source("The Barents Observer", country=Country.objects.get(slug="norway"))
    recent = make_story(RUNWAY[0], summary=RUNWAY[1], source=barents, published=now)
    old = make_story(BLAST[0], summary=BLAST[1], source=barents, published=now - timedelta(60))
    assign.assign([old.pk, recent.pk])
    open_line = Storyline.objects.get(memberships__story=recent)
    closed = Storyline.objects.get(memberships__story=old)
    rebuilt = dict(open_line.profile)
    # As a release or an anchors.toml edit leaves them: keys the clusterer no longer makes.
    stale = {"=svalb": 2.0, "=longy": 1.0}
    Storyline.objects.filter(pk__in=[open_line.pk, closed.pk]).update(profile=stale)
    StorylineTerm.objects.filter(storyline=open_line).delete()
    out = StringIO()
    call_command("refresh_storylines", stdout=out)
    assert out.getvalue().strip() == "re-read 1 storyline"
    open_line.refresh_from_db()
    closed.refresh_from_db()
    assert open_line.profile == rebuilt and closed.profile == stale
    assert StorylineTerm.objects.filter(storyline=open_line).exists()
    assert (open_line.story_count, open_line.title) == (1, RUNWAY[0])


@pytest.mark.services
@pytest.mark.django_db
def test_refresh_storylines_refuses_a_window_of_no_days() -> None:
    with pytest.raises(CommandError, match="at least 1"):
        call_command("refresh_storylines", days=0)
