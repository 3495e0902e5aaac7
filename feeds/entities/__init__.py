"""Entities: the vessels, ports and terminals, sea routes and waters, companies and
institutions, and places that stories are about, each with a page and feeds.

Owns: the catalogue (``data/*.toml``, reviewed by hand with a source per entry; read and
validated by ``catalogue.py``, pure), linking (``linking.py``, pure: which entities a story is
about, from the terms the tagger matched in it, never a second pass over the text; ambiguous
names such as "Yamal" or "Healy" count only beside a word of their kind, ``data/cues.toml``),
the database side (``store.py``: syncing the catalogue into ``Entity`` rows, the alias index of
editors' and data names, writing ``StoryEntity`` links without touching an editor's), the
map's projection (``geo.py``, pure), editors' merges (``editing.py``) and the labelled
evaluation (``evaluate.py``, pure).

May import: ``feeds.tagging`` (the matcher and its term syntax) and the ground floor. Never
``feeds.ingest``, ``feeds.web``, ``feeds.syndication``, ``feeds.storylines``, ``feeds.related``
or ``feeds.tasks``: ingest and the pages call in.
"""
