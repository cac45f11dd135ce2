"""Fixtures for the reliability tests: a tiny HTTP server that answers every request with junk
(a broken Horizon)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

JUNK_BODIES = {
    "html": (200, "text/html", b"<html><body>502 Bad Gateway (nginx)</body></html>"),
    "truncated": (200, "application/hal+json", b'{"_embedded": {"records": [{"id": "12'),
    "wrong_shape": (200, "application/hal+json", b'["not", "an", "object"]'),
    "bad_gateway": (502, "text/plain", b"upstream went away"),
}


class JunkHorizon:
    """A local HTTP server on a free port whose every answer is ``kind`` of junk."""

    def __init__(self, kind: str) -> None:
        status, content_type, body = JUNK_BODIES[kind]
        self.requests: list[str] = []
        requests = self.requests

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                requests.append(f"{self.command} {self.path}")
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> JunkHorizon:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(params=sorted(JUNK_BODIES))
def junk_horizon(request: pytest.FixtureRequest) -> Iterator[JunkHorizon]:
    with JunkHorizon(request.param) as server:
        yield server
