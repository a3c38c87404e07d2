"""Real HTTP receivers for webhook tests, and the receivers' verification recipe from README.md.

A receiver is a threaded HTTP server on 127.0.0.1 that records every request it gets and answers
with the statuses it was given, in order (the last one repeats). One can also hold requests open until
released, to catch a gateway in the middle of a delivery.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_verifier() -> Callable[..., bool]:
    """`verify_webhook` exactly as README.md's "Webhooks" section tells receivers to write it."""
    section = README.read_text().split("\n## Webhooks\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "README.md's Webhooks section has no Python recipe"
    namespace: dict[str, Any] = {}
    exec(compile(match.group(1), "README.md (Webhooks)", "exec"), namespace)  # noqa: S102 (our own README)
    verify: Callable[..., bool] = namespace["verify_webhook"]
    return verify


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int


class Receiver:
    def __init__(self, statuses: tuple[int, ...] = (200,), *, hold: bool = False) -> None:
        self.statuses = statuses
        self.requests: list[Received] = []
        self.released = threading.Event()
        if not hold:
            self.released.set()
        self.arrived = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, count: int, *, within: float = 30) -> list[Received]:
        """The requests once at least `count` have arrived (or `within` seconds have passed)."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.requests) >= count, timeout=within)
            return list(self.requests)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.arrived:
                    status = receiver.statuses[min(len(receiver.requests), len(receiver.statuses) - 1)]
                    receiver.requests.append(Received(self.path, dict(self.headers), body, status))
                    receiver.arrived.notify_all()
                receiver.released.wait(timeout=60)
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", f"http://127.0.0.1:{receiver.port}/redirected")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                """Quiet: the tests read `requests`."""

        return Handler
