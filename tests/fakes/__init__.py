"""Fake provider APIs for tests: a fake is a function acting as the server (like httpx's MockTransport).

    handler(req: FakeRequest) -> FakeResponse

One handler serves two ways (tests/fakes/server.py): in process behind the Http seam (`FakeHttp`)
or over real HTTPS with a throwaway trustme CA (`FakeServer`). Both take the same `Fault`s.
"""

from __future__ import annotations

import json
import os
import threading
from collections import namedtuple
from urllib.parse import parse_qs, urlsplit


class FakeRequest(namedtuple("FakeRequest", "method path headers body")):
    """What the fake server received; unpacks as (method, path, headers, body).

    `path` is the request target with its query; `headers` has lower-case names.
    """

    __slots__ = ()

    @property
    def route(self) -> str:
        """The path without its query string."""
        return urlsplit(self.path).path

    @property
    def query(self) -> dict:
        """Query parameters, first value of each."""
        return {k: v[0] for k, v in parse_qs(urlsplit(self.path).query, keep_blank_values=True).items()}

    @property
    def form(self) -> dict:
        """The body as application/x-www-form-urlencoded, first value of each."""
        text = self.body.decode("utf-8", "replace")
        return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}

    def json(self):
        """The body parsed as JSON (ValueError when it is not)."""
        return json.loads(self.body.decode("utf-8"))


class FakeResponse(namedtuple("FakeResponse", "status headers body")):
    """What a handler answers: status, headers (dict), body (bytes)."""

    __slots__ = ()


def json_response(obj, status: int = 200, headers: dict | None = None) -> FakeResponse:
    """A JSON answer."""
    out = {"Content-Type": "application/json; charset=utf-8"}
    out.update(headers or {})
    return FakeResponse(status, out, json.dumps(obj, ensure_ascii=False).encode("utf-8"))


def text_response(text: str, status: int = 200, content_type: str = "text/plain") -> FakeResponse:
    """A text answer."""
    return FakeResponse(status, {"Content-Type": content_type + "; charset=utf-8"}, text.encode("utf-8"))


class Fault:
    """One injected misbehaviour for the next matching request; FakeServer and FakeHttp obey it alike.

    status, body, headers  answer this instead of the handler's answer (status defaults to 200)
    raw                    write these bytes as the whole answer, then close the connection
    delay                  seconds to wait before answering (past the client's read timeout: no answer)
    close                  close the connection without answering
    truncate               send the real headers (full Content-Length) and half the body, then close
    close_after            answer, then close the connection without saying so (stale keep-alive)
    process                whether the handler still sees the request; default False when the answer
                           is replaced (status/body/headers/raw), True otherwise (the change landed)
    path                   only requests whose path (with query) starts with this
    """

    __slots__ = ("status", "body", "headers", "raw", "delay", "close", "truncate", "close_after",
                 "process", "path")

    def __init__(self, status: int | None = None, body: bytes | str | None = None,
                 headers: dict | None = None, raw: bytes | None = None, delay: float = 0.0,
                 close: bool = False, truncate: bool = False, close_after: bool = False,
                 process: bool | None = None, path: str = "") -> None:
        self.status = status
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.headers = headers
        self.raw = raw
        self.delay = delay
        self.close = close
        self.truncate = truncate
        self.close_after = close_after
        self.path = path
        if process is None:
            process = not self.replaces_answer and raw is None
        self.process = process

    @property
    def replaces_answer(self) -> bool:
        """True when status, body or headers stand in for the handler's answer."""
        return self.status is not None or self.body is not None or self.headers is not None

    def answer(self, real: FakeResponse | None) -> FakeResponse | None:
        """The answer to send: the replacement, or the handler's."""
        if not self.replaces_answer:
            return real
        headers = {"Content-Type": "application/json"} if self.body else {}
        headers.update(self.headers or {})
        return FakeResponse(self.status or 200, headers, self.body or b"")


class Faults:
    """A thread-safe queue of faults; each applies to `times` matching requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list = []

    def add(self, fault: Fault, times: int = 1) -> Fault:
        """Queue `fault` for the next `times` matching requests."""
        with self._lock:
            self._queue.append([fault, times])
        return fault

    def take(self, req: FakeRequest) -> Fault | None:
        """The fault for this request, if one is queued for it."""
        with self._lock:
            for entry in self._queue:
                fault = entry[0]
                if req.path.startswith(fault.path):
                    entry[1] -= 1
                    if entry[1] <= 0:
                        self._queue.remove(entry)
                    return fault
        return None

    def __len__(self) -> int:
        return len(self._queue)


def call_handler(handler, req: FakeRequest) -> FakeResponse:
    """Run a handler; a crash answers 500 and is re-raised by the test through `errors`."""
    try:
        resp = handler(req)
    except Exception as exc:  # a bug in the fake must not look like a provider answer
        errors = getattr(handler, "errors", None)
        if isinstance(errors, list):
            errors.append(exc)
        return text_response("fake handler crashed: %r" % exc, 500)
    if not isinstance(resp, FakeResponse):
        resp = FakeResponse(*resp)
    return resp


# -- suite-wide secret guard (tests/secret_guard.py) -------------------------------------------------

#: every test secret -> a name for it; the guard fails the session if one shows up in any output
SECRETS: dict = {}
#: the file that collects every output the guard scans; set by tests/secret_guard.py
capture_path: str | None = None
_MIN_SECRET = 8  # shorter values would match ordinary text


def register_secret(value, name: str) -> None:
    """Declare `value` a secret the agent must never print; `name` is what a leak report shows."""
    value = getattr(value, "reveal", lambda: value)()
    if isinstance(value, str) and len(value) >= _MIN_SECRET:
        SECRETS.setdefault(value, name)


def record_output(where: str, text, test: str | None = None) -> None:
    """Append one output (a process's stdout, a state file...) to the guard's capture file."""
    if not capture_path or not text:
        return
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    test = test or os.environ.get("PYTEST_CURRENT_TEST", "(no test)")
    with open(capture_path, "a", encoding="utf-8", errors="backslashreplace") as f:
        f.write("\x1e%s: %s\x1f%s" % (test, where, text))
