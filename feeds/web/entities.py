"""Entity pages (/vessel/, /port/, /route/, /org/, /place/ + slug) and /shipping/.

An entity page is a listing like a country's: the entity's facts, its stories keyset-paginated,
its feeds. Seven queries whatever the page: the entity, its names, the navigation (2), the
stories and their tags (3). /shipping/ is the week's shipping stories with the routes, ports and
vessels they mention, on the circumpolar map."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_safe

from feeds.entities import geo
from feeds.entities.catalogue import catalogue
from feeds.models import Entity, EntityAlias, EntityKind, Story, Topic
from feeds.web.caching import public_page
from feeds.web.params import ListingParams
from feeds.web.templatetags import cached_reverse
from feeds.web.views import (
    MAP_WINDOW,
    FeedListing,
    Navigation,
    _context,
    _map_regions,
    _page_context,
    _visible_stories,
    keyset_page,
    map_pins,
)

SHIPPING_TOPIC = "shipping"
SHIPPING_PINS = 15
SHIPPING_VESSELS = 12
KICKERS = {
    EntityKind.VESSEL: "Vessel",
    EntityKind.PORT: "Port",
    EntityKind.ROUTE: "Sea route and waters",
    EntityKind.ORG: "Company or institution",
    EntityKind.PLACE: "Place",
}


def _readable(term: str) -> str | None:
    """An alias as a reader would write it, or None for a stem ("мурманск*")."""
    if "*" in term:
        return None
    return term[1:] if term[:1] in "=!" else term


def _facts(entity: Entity, names: list[str]) -> list[tuple[str, str]]:
    facts = []
    if entity.country is not None:
        facts.append(("Country", entity.country.name))
    if entity.imo:
        facts.append(("IMO number", str(entity.imo)))
    if entity.ice_class:
        facts.append(("Ice class", entity.ice_class))
    if entity.operator:
        facts.append(("Operator", entity.operator))
    lat, lon = entity.latitude, entity.longitude
    if lat is not None and lon is not None and entity.kind != EntityKind.ROUTE:
        ns, ew = ("N" if lat >= 0 else "S"), ("E" if lon >= 0 else "W")
        facts.append(("Position", f"{abs(lat):.2f}° {ns}, {abs(lon):.2f}° {ew}"))
    if names:
        facts.append(("Also written", ", ".join(names)))
    if entity.source:
        facts.append(("Source", entity.source))
    return facts


def entity_page(kind: str):
    @require_safe
    @public_page(ListingParams.parse)
    def view(request: HttpRequest, slug: str, params: ListingParams) -> HttpResponse:
        entity = Entity.objects.filter(kind=kind, slug=slug).select_related("country").first()
        if entity is None or entity.hidden:
            raise Http404("No such page")
        if entity.merged_into_id:
            # Merged by an editor: its address lives on at the entity it became part of.
            target = Entity.objects.filter(pk=entity.merged_into_id, hidden=False).first()
            if target is None:
                raise Http404("No such page")
            return HttpResponsePermanentRedirect(target.get_absolute_url())
        nav = Navigation.load()
        page = keyset_page(params, _visible_stories().for_entity(entity.pk))
        terms = EntityAlias.objects.filter(entity=entity).order_by("pk")
        names = [
            n
            for n in dict.fromkeys(_readable(a.term) for a in terms)
            if n and n.casefold() != entity.name.casefold()
        ]
        context = _context(
            request,
            nav,
            **_page_context(request, page),
            kicker=KICKERS[EntityKind(kind)],
            heading=entity.name,
            description=entity.description,
            facts=_facts(entity, names),
            feeds=FeedListing(kind, (entity.slug,)),
            feeds_title=entity.name,
        )
        return TemplateResponse(request, "feeds/listing.html", context)

    view.__name__ = f"{kind}_detail"
    return view


vessel_detail = entity_page(EntityKind.VESSEL)
port_detail = entity_page(EntityKind.PORT)
route_detail = entity_page(EntityKind.ROUTE)
org_detail = entity_page(EntityKind.ORG)
place_detail = entity_page(EntityKind.PLACE)


@require_safe
@public_page(ListingParams.parse)
def shipping(request: HttpRequest, params: ListingParams) -> HttpResponse:
    """The week's shipping stories (keyset-paginated), and on the map the routes and ports
    they mention; the vessels in the news. Five queries."""
    nav = Navigation.load()
    since = timezone.now() - MAP_WINDOW
    topic = next((t for t in nav.topics if t.slug == SHIPPING_TOPIC), None) or Topic(
        slug=SHIPPING_TOPIC, name="Shipping"
    )
    stories = _visible_stories().filter(published_at__gte=since)
    if topic.pk:
        stories = stories.for_topic(topic)
    else:
        stories = Story.objects.none()
    page = keyset_page(params, stories)
    courses = {e.key: e.path for e in catalogue() if e.path}
    mentioned = map_pins(
        since, ("port", "place", "route", "vessel"), SHIPPING_TOPIC, 60, frozenset(courses)
    )
    routes = [
        {**pin, "path": geo.svg_path(courses[pin["data_key"]])}
        for pin in mentioned
        if pin["kind"] == "route" and pin["data_key"] in courses
    ]
    pins = [p for p in mentioned if p["kind"] != "vessel" and p["on_map"]][:SHIPPING_PINS]
    vessels = [p for p in mentioned if p["kind"] == "vessel"][:SHIPPING_VESSELS]
    regions = _map_regions(nav)
    context = _context(
        request,
        nav,
        **_page_context(request, page),
        heading="Shipping this week",
        description="Ships, ports and sea routes in the news from around the North in the last "
        "seven days.",
        map_regions=[r for r in regions if r["shape"]],
        map_pins=pins,
        map_routes=routes,
        vessels=vessels,
        mentioned=[p for p in mentioned if p["kind"] != "vessel"],
        topic_url=cached_reverse("feeds:topic", SHIPPING_TOPIC),
        feeds=FeedListing("topic", (SHIPPING_TOPIC,)),
        feeds_title="Shipping",
    )
    return TemplateResponse(request, "feeds/shipping.html", context)
