"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives: the outside world's
mail server in tests. Messages are read back as the recipient's mail client would."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import threading
from dataclasses import dataclass
from email.message import EmailMessage

from aiosmtpd.controller import Controller

# Within the ports this checkout's tests may use (SMTP_TEST_PORT overrides). The digest's
# tests take this port and the next two (test_digest, its worker test, its browser test), so
# that each can run beside the others.
DEFAULT_PORT = int(os.environ.get("SMTP_TEST_PORT", "8251"))


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    def part(self, content_type: str) -> str:
        body = self.message.get_body(preferencelist=(content_type.split("/")[1],))
        assert body is not None and body.get_content_type() == content_type, content_type
        return body.get_content()


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, smtp_server, session, envelope) -> str:
        received = Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
        with self.server.lock:
            self.server.messages.append(received)
        hold = self.server.hold_after
        if hold is not None and len(self.server.messages) >= hold:
            # The message is the server's now; the client waits for our "250" while the
            # test does what it wants (kill the client, say).
            self.server.holding.set()
            while not self.server.release.is_set():
                await asyncio.sleep(0.05)
        for rcpt in envelope.rcpt_tos:
            if rcpt in self.server.refuse:
                return "550 5.1.1 mailbox unavailable"
        return "250 OK"

    async def handle_RCPT(self, smtp_server, session, envelope, address, rcpt_options) -> str:
        if address in self.server.refuse_rcpt:
            return "550 5.1.1 no such user"
        if address in self.server.defer_rcpt:
            return "451 4.7.1 greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"


class SmtpServer:
    def __init__(self, port: int = DEFAULT_PORT) -> None:
        self.port = port
        self.messages: list[Received] = []
        self.lock = threading.Lock()
        self.refuse: set[str] = set()
        self.refuse_rcpt: set[str] = set()
        self.defer_rcpt: set[str] = set()
        self.hold_after: int | None = None
        self.holding = threading.Event()
        self.release = threading.Event()
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=port)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.controller.stop()

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [m for m in self.messages if address in m.rcpt_tos]

    def recipients(self) -> list[str]:
        with self.lock:
            return [rcpt for m in self.messages for rcpt in m.rcpt_tos]
