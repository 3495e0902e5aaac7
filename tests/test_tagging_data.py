"""The tagger's knowledge is data: every file parses, every term is usable, and a mistake
is reported with its file and entry instead of tagging wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from feeds.ingest.extraction import country_slug
from feeds.models import Country, Topic
from feeds.tagging import gazetteer as gz
from feeds.tagging.countries import (
    COUNTRIES,
    COUNTRY_SLUGS,
    DATA_DIR,
    TOPIC_SLUGS,
    DataError,
    load_countries,
    load_topics,
)
from feeds.tagging.tagger import _term_keys

GOOD = """
slug = "atlantis"
name = "Atlantis"
languages = ["en"]
category_labels = ["atlantis"]
outlets = ["Atlantis Daily"]

[map]
order = 1
path = "M1 1 L2 2Z"
label = [10, 20]

[terms]
name = ["Atlantis", "атлантид*"]
place = ["Poseidonia"]
"""


def every_term() -> list[tuple[str, str]]:
    terms = [
        (f"countries/{c}.toml {kind}", t)
        for c, kinds in gz.GAZETTEER.items()
        for kind, listed in kinds.items()
        for t in listed
    ]
    terms += [("shared.toml [shared]", t) for t in gz.SHARED_TERMS]
    terms += [("shared.toml [spread]", t) for t in gz.SPREAD_TERMS]
    terms += [("shared.toml [neutral]", t) for t in gz.NEUTRAL_TERMS]
    terms += [
        (f"topics.toml {topic} {weight}", t)
        for topic, tiers in gz.TOPIC_TERMS.items()
        for weight, listed in tiers.items()
        for t in listed
    ]
    return terms


def test_every_term_parses_into_words() -> None:
    terms = every_term()
    assert len(terms) > 5000  # the whole gazetteer, not an empty directory
    bad = [
        (where, t)
        for where, t in terms
        if not _term_keys(t) or not all(k for k, _ in _term_keys(t))
    ]
    assert bad == []


def test_every_country_file_is_complete() -> None:
    assert COUNTRY_SLUGS == tuple(sorted(COUNTRY_SLUGS))
    for country in COUNTRIES:
        assert country.terms.get("name"), country.slug
        assert country.map is not None and country.map.path.startswith("M"), country.slug
        assert country.languages, country.slug
    assert len({c.map.order for c in COUNTRIES if c.map}) == len(COUNTRIES)
    # The outlets' priors and feed labels come from the country files.
    assert gz.OUTLETS["Yle News"] == {"finland": gz.OUTLET_STRONG}
    assert gz.OUTLETS["Reuters"] == {}
    assert gz.CATEGORY_COUNTRIES["usa"] == ("united-states",)


@pytest.mark.django_db
def test_vocabulary_rows_match_the_data_files() -> None:
    """Adding a country file without its migration (or the reverse) is caught here."""
    assert sorted(Country.objects.values_list("slug", flat=True)) == sorted(COUNTRY_SLUGS)
    assert sorted(Topic.objects.values_list("slug", flat=True)) == sorted(TOPIC_SLUGS)
    names = dict(Country.objects.values_list("slug", "name"))
    assert all(names[c.slug] == c.name for c in COUNTRIES)


def test_a_new_country_is_one_file(tmp_path: Path) -> None:
    (tmp_path / "atlantis.toml").write_text(GOOD, encoding="utf-8")
    (country,) = load_countries(tmp_path)
    assert country.slug == "atlantis"
    assert country.terms["name"] == ("Atlantis", "атлантид*")
    assert country.map is not None and (country.map.label_x, country.map.label_y) == (10, 20)


@pytest.mark.parametrize(
    ("change", "entry", "problem"),
    [
        (('place = ["Poseidonia"]', 'place = ["Poseidonia", "*"]'), "terms.place[1]", "letter"),
        (('place = ["Poseidonia"]', 'place = ["Pos*eidonia"]'), "terms.place[0]", "'*'"),
        (('place = ["Poseidonia"]', 'place = ["=Posei*"]'), "terms.place[0]", "stem"),
        (('place = ["Poseidonia"]', 'places = ["Poseidonia"]'), "terms.places", "unknown kind"),
        (('place = ["Poseidonia"]', "place = [3]"), "terms.place[0]", "string"),
        (('slug = "atlantis"', 'slug = "Atlantis"'), "slug", "file name"),
        (('languages = ["en"]', 'languages = ["English"]'), "languages[0]", "ISO 639"),
        (("label = [10, 20]", "label = [10, 2000]"), "map.label", "800"),
        (('path = "M1 1 L2 2Z"', 'path = "<script>"'), "map.path", "commands"),
        (('name = "Atlantis"', 'name = "Atlantis'), "file", "not valid TOML"),
        (
            ("outlets = [", 'label_aliases = ["Poseidonia"]\noutlets = ['),
            "label_aliases[0]",
            "lower",
        ),
    ],
)
def test_a_bad_entry_names_its_file_and_entry(
    tmp_path: Path, change: tuple[str, str], entry: str, problem: str
) -> None:
    path = tmp_path / "atlantis.toml"
    path.write_text(GOOD.replace(*change), encoding="utf-8")
    with pytest.raises(DataError) as caught:
        load_countries(tmp_path)
    message = str(caught.value)
    assert str(path) in message
    assert entry in message
    assert problem in message


def test_a_bad_topic_tier_is_named(tmp_path: Path) -> None:
    path = tmp_path / "topics.toml"
    path.write_text('[fish]\nname = "Fish"\n[[fish.tier]]\nweight = -1\nterms = ["cod"]\n')
    with pytest.raises(DataError, match=r"topics\.toml: fish\.tier\[0\]\.weight"):
        load_topics(path)


def test_a_label_alias_names_one_country_only(tmp_path: Path) -> None:
    (tmp_path / "atlantis.toml").write_text(GOOD, encoding="utf-8")
    lemuria = GOOD.replace("atlantis", "lemuria").replace("Atlantis", "Lemuria")
    lemuria = lemuria.replace("order = 1", "order = 2")
    (tmp_path / "lemuria.toml").write_text(
        lemuria.replace("outlets = [", 'label_aliases = ["atlantis"]\noutlets = ['),
        encoding="utf-8",
    )
    with pytest.raises(DataError, match="'atlantis' also names"):
        load_countries(tmp_path)


def test_an_outlets_box_label_is_read_from_the_country_files() -> None:
    """The labels an outlet prints over its related links (RCI: "Nunavut", "U.S.A.") map to
    countries through the country files: a country or alias added there is known here too."""
    for country in COUNTRIES:
        for label in (country.name, *country.category_labels, *country.label_aliases):
            assert country_slug(label) == country.slug, label
            assert country_slug(f"{label.title()}:") == country.slug, label
    assert country_slug("United States (Alaska)") == "united-states"
    assert country_slug("Nunavut") == "canada"
    assert country_slug("Atlantis") is None


def test_the_shipped_files_are_the_ones_read() -> None:
    files = sorted(p.relative_to(DATA_DIR).as_posix() for p in DATA_DIR.rglob("*.toml"))
    assert "countries/greenland.toml" in files
    assert {"shared.toml", "outlets.toml", "categories.toml", "rules.toml", "topics.toml"} <= set(
        files
    )


@pytest.mark.parametrize(
    "path", sorted((Path(__file__).parent / "data").glob("tagging_*.jsonl")), ids=lambda p: p.name
)
def test_labelled_sets_use_only_known_countries_and_topics(path: Path) -> None:
    """A label the tagger cannot give (a misspelt slug, a topic we do not have) would count
    as a miss for ever and silently lower every figure."""
    import json

    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        item = json.loads(line)
        assert item["countries"] and set(item["countries"]) <= set(COUNTRY_SLUGS), (path, n)
        assert set(item.get("topics") or ()) <= set(TOPIC_SLUGS), (path, n, item["topics"])
