"""Storylines: stories about one event or developing subject, grouped across outlets,
countries and languages, incrementally as stories arrive.

Owns: anchors (language-independent names of places, companies and things, data in
``data/anchors.toml``; pure), signatures and scoring (what a story and a storyline are about
and how alike they are; pure), clustering (pure: join the best candidate above the threshold
or start a storyline), assignment (the only SQL: candidates from the recent window through
``StorylineTerm``, writing memberships and counts), editing (editors' rename, merge, split,
hide and move, each recorded in ``StorylineChange``; pinned memberships are never moved by
the clusterer), the storyline page's data, and the labelled evaluation.

May import: ``feeds.related`` (words and profiles: the same terms as the related box),
``feeds.tagging`` (the gazetteer) and the ground floor. Never ``feeds.ingest``,
``feeds.web``, ``feeds.syndication`` or ``feeds.tasks``.
"""
