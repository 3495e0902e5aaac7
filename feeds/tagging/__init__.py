"""Tagging: every story's Arctic countries and topics, with the reason for each.

Owns the pure tagger and its knowledge as validated TOML data (``data/``: one file per country
with its names, aliases, outlets and map shape; topics; rules), the learned tie-breaker
(``data/model.json``, made by ``manage.py fit_tagger``), the store of tag rows (never
overriding an editor), the evaluation, and the editors' review screens.

May import: the ground floor only. ``tagger``, ``countries`` and ``gazetteer`` import no Django.
"""
