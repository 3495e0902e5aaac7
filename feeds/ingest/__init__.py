"""Ingest: getting outlets' feeds into the archive, politely, safely and without losing a story.

Owns fetching (the only code that talks to the network), parsing (feedparser and JSON Feed into
``feeds.types`` records), extraction (outlets' related boxes, bylines, lead images), images,
scheduling and backoff, leases (which worker polls which feed), copies (linking republications),
the pure ``decide`` step, story storage, the bundled samples and the demo archive generator;
``pipeline`` runs fetch -> parse -> store -> tag in one transaction per feed.

May import: ``feeds.related`` (the outlet's own box lines, in the same transaction),
``feeds.tagging``, and the ground floor (models, types, text, search, bulk, columns,
generation). Never ``feeds.web``, ``feeds.syndication`` or ``feeds.tasks``: follow-up after a
fetch is queued by ``feeds.tasks``.
"""
