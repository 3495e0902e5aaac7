"""gunicorn's configuration for the web service: `make serve`, the Procfile, compose.yaml and
the Dockerfile all run ``gunicorn arcticnews.wsgi --config arcticnews/gunicorn_config.py``.

* Metrics from every worker. prometheus_client's multiprocess mode: each worker writes its
  counters and histograms to files under ``PROMETHEUS_MULTIPROC_DIR`` (default
  ``var/metrics/``) and /metrics adds them up, so whichever worker answers a scrape reports
  what all of them served. The directory is emptied when gunicorn starts (counters start from
  zero, as one process's would), and a worker that exits is marked dead. Each gunicorn needs
  a directory of its own: a second one on the same directory refuses to start (for a USR2
  re-exec, stop the old master first or give the new one another directory).
* Request lines up to 8,190 bytes, so an over-long search reaches the search page's message.
* ``LOG_FORMAT=json``: one JSON object per access-log line, carrying the request id our
  middleware put on the response (``X-Request-ID``), and gunicorn's own messages as JSON.

gunicorn's master reads this file by its path before any worker imports Django or
prometheus_client (whose multiprocess mode is chosen when it is imported); it imports
neither Django nor the project.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO, Any

from gunicorn.glogging import Logger  # type: ignore[import-untyped]
from pythonjsonlogger.json import JsonFormatter

# The same default as settings.VAR_DIR (this file may not import the settings).
_VAR_DIR = Path(
    os.environ.get("ARCTICNEWS_VAR_DIR") or Path(__file__).resolve().parent.parent / "var"
)
# Set in the master's environment, so every worker it forks inherits it.
METRICS_DIR = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(_VAR_DIR / "metrics")))

accesslog = "-"
# gunicorn 27 opens a control socket at one per-user path ($HOME/.gunicorn/gunicorn.ctl), so
# every gunicorn on a host would fight over it; nothing here uses gunicornc.
control_socket_disable = True
# A 5,000-character search is a request line of about 5 KB. gunicorn's default limit (4,094
# bytes) refused it with its own bare 414 page, before Django could say what was wrong; up to
# gunicorn's maximum (8,190, nginx's default header buffer is 8 KB too) the search page says
# the query is too long, next to the form.
limit_request_line = 8190
_lock: IO[str] | None = None


def on_starting(server: Any) -> None:
    """Claim the metrics directory for this gunicorn and empty it of a previous run's files."""
    global _lock
    METRICS_DIR.mkdir(parents=True, exist_ok=True)
    _lock = open(METRICS_DIR / ".gunicorn.lock", "w")  # held (locked) while the master runs
    try:
        fcntl.flock(_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise RuntimeError(
            f"another gunicorn uses PROMETHEUS_MULTIPROC_DIR={METRICS_DIR}; "
            "give each gunicorn a directory of its own"
        ) from None
    for stale in METRICS_DIR.glob("*.db"):
        stale.unlink()


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, str(METRICS_DIR))


def _json_formatter() -> JsonFormatter:
    # As settings.LOGGING's "json" formatter (without the ids a gunicorn line cannot know).
    return JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
    )


class JsonLogger(Logger):
    """gunicorn's logger with every line a JSON object, in the fields the project's logs use
    (settings.LOGGING's "json" formatter): time, level, logger, message, request_id."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(_json_formatter())

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        try:
            message, fields = self._event(resp, req, environ, request_time)
            self.access_log.info(message, extra=fields)
        except Exception:  # noqa: BLE001  a log line must never fail a request
            self.exception("could not write the access log line")

    def _event(
        self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any
    ) -> tuple[str, dict[str, Any]]:
        atoms = self.atoms(resp, req, environ, request_time)
        fields = {
            "request_id": atoms.get("{x-request-id}o", ""),
            "method": atoms["m"],
            "path": atoms["U"],
            "query": atoms["q"] or "",
            "status": int(atoms["s"]),
            "bytes": atoms["B"],
            "duration_ms": round(atoms["D"] / 1000, 3),
            "remote_addr": atoms["h"],
            "user_agent": atoms["a"],
            "referer": atoms["f"],
            "pid": os.getpid(),
        }
        return f"{atoms['r']} {atoms['s']}", fields


if os.environ.get("LOG_FORMAT", "plain") == "json":
    logger_class = JsonLogger
