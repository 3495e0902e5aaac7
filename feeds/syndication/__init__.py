"""What subscribers read: RSS, Atom, JSON Feed and OPML through one registry of formats
(``formats``), and WebSub pings.

May import: ``feeds.web`` (its page cache and search), the stages below it and the ground floor.
Never ``feeds.tasks`` or the top floor.
"""
