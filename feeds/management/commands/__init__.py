"""``manage.py`` commands: each one a thin call into the stage that does the work."""
