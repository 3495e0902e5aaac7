"""The weekly digest, "Around the North": drafting it from the week's most covered stories
(and storylines), editors' approval, its pages and feeds, and its email: subscriptions with
double opt-in and the batched, idempotent mailing.

Owns ``weeks`` and ``choosing`` (pure: ISO weeks, which story fills each country's line),
``candidates`` (the only SQL that gathers a week's coverage), ``drafting``, ``publishing``
(approval, audited), ``subscriptions`` (signed tokens), ``mailing`` (messages and the
record-then-send order), ``views``/``urls``/``feeds`` (pages and syndication) and ``admin``.

May import ``feeds.syndication`` (the format registry and its generators), ``feeds.web``
(page cache, throttling, template tags), the stages below them and the ground floor. Never
``feeds.tasks`` or the top floor: the tasks call in here, not the other way round.
"""
