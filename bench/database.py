"""Create a benchmark's PostgreSQL database if it is missing: ``python bench/database.py URL``."""

from __future__ import annotations

import sys
from urllib.parse import urlsplit


def ensure_database(url: str) -> None:
    import psycopg2
    from psycopg2 import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    conn = psycopg2.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password,
        dbname="postgres",
    )
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if not cur.fetchone():
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")
    conn.close()


if __name__ == "__main__":
    ensure_database(sys.argv[1])
