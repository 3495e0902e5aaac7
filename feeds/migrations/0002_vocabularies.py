"""The fixed vocabularies: the nine Arctic states and the ten topics.

Migrations create these and nothing else: sources and stories come from their own commands.
"""

from django.db import migrations

COUNTRIES = [
    ("canada", "Canada",
     "Yukon, the Northwest Territories, Nunavut, Nunavik and Nunatsiavut: Inuit self-government, "
     "the Northwest Passage and a rapidly changing Arctic coastline."),
    ("denmark", "Denmark",
     "The Kingdom of Denmark's Arctic policy, seen from Copenhagen: the realm with Greenland and "
     "the Faroe Islands, defence of the North Atlantic and Arctic diplomacy."),
    ("finland", "Finland",
     "Lapland and the north of Finland: the border with Russia, Sámi affairs, mining, tourism "
     "and Arctic research."),
    ("greenland", "Greenland",
     "Kalaallit Nunaat: self-rule in Nuuk, minerals and fisheries, melting ice and a place at "
     "the centre of great-power attention."),
    ("iceland", "Iceland",
     "Iceland's Arctic outlook: fisheries, volcanoes and geothermal energy, the Arctic Circle "
     "Assembly and the North Atlantic."),
    ("norway", "Norway",
     "Northern Norway, Svalbard and the Barents Sea: oil and gas, fisheries, the border with "
     "Russia at Kirkenes and NATO's northern flank."),
    ("russia", "Russia",
     "Russia's Arctic from Murmansk and the Kola Peninsula to Yamal and Chukotka: the Northern "
     "Sea Route, the Northern Fleet, LNG and Indigenous peoples."),
    ("sweden", "Sweden",
     "Norrbotten and Västerbotten: mining in Kiruna and Gällivare, green steel, Sámi rights and "
     "Sweden's place in NATO."),
    ("united-states", "United States",
     "Alaska and US Arctic policy: the North Slope, Bering Strait, Alaska Native communities, "
     "military bases and climate change on the coast."),
]

TOPICS = [
    ("shipping", "Shipping",
     "The Northern Sea Route and the Northwest Passage, ports, icebreakers and Arctic navigation."),
    ("security", "Security",
     "Defence, military activity, border security and hybrid threats across the North."),
    ("energy", "Energy", "Oil, gas, LNG, mining, minerals and power generation."),
    ("environment", "Environment",
     "Climate change, sea ice, permafrost, wildlife, pollution and conservation."),
    ("indigenous-peoples", "Indigenous peoples",
     "Inuit, Sámi, Alaska Native, Nenets and other Indigenous peoples of the Arctic: rights, "
     "languages, self-government and land."),
    ("politics", "Politics", "Governments, elections, diplomacy and the Arctic Council."),
    ("business", "Business", "Companies, trade, fisheries, tourism and the northern economy."),
    ("science", "Science", "Arctic research, expeditions, discoveries and data."),
    ("society", "Society", "Health, education, housing, communities and everyday life in the North."),
    ("culture", "Culture", "Arts, music, film, literature, sport and heritage."),
]


def create(apps, schema_editor):
    Country = apps.get_model("feeds", "Country")
    Topic = apps.get_model("feeds", "Topic")
    for slug, name, description in COUNTRIES:
        Country.objects.update_or_create(
            slug=slug, defaults={"name": name, "description": description}
        )
    for slug, name, description in TOPICS:
        Topic.objects.update_or_create(
            slug=slug, defaults={"name": name, "description": description}
        )


def remove(apps, schema_editor):
    apps.get_model("feeds", "Country").objects.all().delete()
    apps.get_model("feeds", "Topic").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("feeds", "0001_initial")]
    operations = [migrations.RunPython(create, remove)]
