"""Related stories from around the North: the box at the end of every story page.

Owns words and profiles (what a story is about; pure), candidates (the only SQL), ranking
(pure), boxes (the only writer of the system's and outlets' lines), curation (editors' pick,
reorder, pin, lock, each recorded) and the editor's page (views, urls).

May import: ``feeds.tagging`` (its vocabulary and places) and the ground floor. Never
``feeds.ingest``, ``feeds.web``, ``feeds.syndication`` or ``feeds.tasks``.
"""
