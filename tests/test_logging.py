"""What the logs say about a request: one line for a reader's bad request, a traceback for a bug.

Through the test client and the configured logging (arcticnews/settings.py LOGGING): the
console handler's filters run on each record before pytest's caplog handler sees it.
"""

from __future__ import annotations

import logging

import pytest

from feeds.web import caching

pytestmark = [pytest.mark.django_db]


def _console() -> logging.Handler:
    return next(h for h in logging.getLogger().handlers if h.get_name() == "console")


def _records(caplog: pytest.LogCaptureFixture, status: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "status_code", None) == status]


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/?before=garbage", {}),
        ("/search/?q=%00", {}),
        ("/", {"HTTP_HOST": "evil.example"}),  # SuspiciousOperation (DisallowedHost)
    ],
)
def test_a_bad_request_is_logged_on_one_line_without_a_traceback(caplog, client, path, headers):
    with caplog.at_level(logging.INFO):
        response = client.get(path, HTTP_X_REQUEST_ID="bad-request-0001", **headers)
    assert response.status_code == 400
    [record] = _records(caplog, 400)
    assert record.exc_info is None
    assert record.request_id == "bad-request-0001"
    line = _console().format(record)
    assert "Traceback" not in line and "\n" not in line, line
    assert path.split("?")[0] in line or "evil.example" in line, line


def test_a_server_error_keeps_its_traceback(caplog, client, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug in a page")

    monkeypatch.setattr(caching, "serve", broken)
    client.raise_request_exception = False
    with caplog.at_level(logging.INFO):
        response = client.get("/", HTTP_X_REQUEST_ID="server-error-0001")
    assert response.status_code == 500
    [record] = _records(caplog, 500)
    assert record.exc_info is not None
    assert record.request_id == "server-error-0001"
    line = _console().format(record)
    assert "Traceback" in line and "RuntimeError: a bug in a page" in line
