"""The reader's site: pages, search, sitemaps, template tags, and the one page cache and
conditional-GET design (``caching``) that syndication shares.

Owns request-parameter validation (``params``: bad input answers 400), throttling, error
pages and presentation. May import the stages below it (``feeds.ingest``, ``feeds.related``,
``feeds.tagging``) and the ground floor; never ``feeds.syndication`` or ``feeds.tasks``.
"""
