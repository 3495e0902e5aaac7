"""What every log line carries: the request id, the Celery task id and the feed id.

Context variables, set by :class:`RequestIdMiddleware` in the web process and by Celery's
task signals (arcticnews/celery.py) in workers, are copied onto each record by
:class:`ContextFilter`, so both the plain and the JSON formats can show them.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

request_id: ContextVar[str] = ContextVar("request_id", default="")
task_id: ContextVar[str] = ContextVar("task_id", default="")
feed_id: ContextVar[int | None] = ContextVar("feed_id", default=None)

# A proxy's request id is kept only if it looks like one: it is written into every log line.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,128}$")


# Where the middleware also leaves the id on the request itself (see ContextFilter).
REQUEST_ID_META = "arcticnews.request_id"


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # Django logs a response's status ("Not Found: /x", django.request) after the
        # middleware has returned, outside the context variable's scope; those records carry
        # the request, which carries its id.
        meta = getattr(getattr(record, "request", None), "META", None)
        carried = meta.get(REQUEST_ID_META, "") if isinstance(meta, dict) else ""
        record.request_id = request_id.get() or carried
        record.task_id = task_id.get()
        record.feed_id = feed_id.get()
        return True


class ClientErrorFilter(logging.Filter):
    """A 4xx answered for a bad request is logged on one line, without its traceback.

    Django logs BadRequest (a wrong query parameter, feeds/web/params.py) and
    SuspiciousOperation (a bad Host header, too many fields) with the exception's traceback,
    so anyone could fill the logs with a few bytes a request. The line (path, message,
    request id, status) says all there is to know; 5xx records keep their tracebacks.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and 400 <= status < 500 and record.exc_info:
            exc = record.exc_info[1] if isinstance(record.exc_info, tuple) else None
            record.exc_info = None
            record.exc_text = None
            if exc is not None:
                record.msg = f"{record.msg} [{type(exc).__name__}]"
        return True


class RequestIdMiddleware:
    """Take the proxy's X-Request-ID (or make one), log with it, and send it back."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get("X-Request-ID", "")
        value = given if _SAFE_ID.match(given) else uuid.uuid4().hex
        request.META[REQUEST_ID_META] = value
        token = request_id.set(value)
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(token)
        response["X-Request-ID"] = value
        return response


def task_started(task_id_value: str, task_name: str, args: tuple | list | None) -> None:
    task_id.set(task_id_value or "")
    first = args[0] if args else None
    feed_id.set(first if task_name == "feeds.fetch_feed" and isinstance(first, int) else None)


def task_finished() -> None:
    task_id.set("")
    feed_id.set(None)
