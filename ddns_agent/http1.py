"""HTTP/1.1 on a socket: the request head written, the answer framed as RFC 9112 says.

What the stdlib transport (transports.StdlibHttp) and the ip_url source (ipurl.py) send and read,
instead of http.client, whose import pulls in the `email` package (docs/design/http.md). Every read
waits only until the request's deadline, so a server dripping its answer is cut off like a silent one.
"""

from __future__ import annotations

from ddns_agent import http
from ddns_agent.errors import ConfigError

#: limits on an answer's head, as http.client has them: a hostile server cannot grow it without end
MAX_LINE = 65536
MAX_HEADERS = 100
_NO_BODY = (204, 304)


class Wire:
    """One HTTP/1.1 connection (plain or TLS) and what has been read from it but not yet used.

    Every read waits at most until the request's deadline (and at most `read_s`), so a server
    dripping its answer a byte at a time is cut off like a silent one.
    """

    __slots__ = ("sock", "buf", "deadline", "limit", "timeout")

    def __init__(self, sock, deadline: http._Deadline, limit: int | None = None) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.deadline = deadline
        self.limit = http.MAX_BODY if limit is None else limit  # the largest body accepted
        self.timeout = None

    def arm(self) -> None:
        """Give the next socket call only the time left (at most `read_s`)."""
        seconds = min(self.deadline.left(), self.deadline.read_s)
        if seconds != self.timeout:  # settimeout is a system call; mostly it is read_s again
            self.sock.settimeout(seconds)
            self.timeout = seconds

    def send(self, data: bytes) -> None:
        """Send all of `data` within the time left."""
        self.arm()
        sent = self.sock.send(data)  # TLS writes it whole (no partial writes): ssl's sendall loop spared
        if sent < len(data):
            self.sock.sendall(data[sent:])

    def _fill(self) -> bool:
        """Read what the server sent next into `buf`; False at end of stream."""
        self.arm()
        data = self.sock.recv(65536)
        self.buf += data
        return bool(data)

    def line(self) -> bytes | None:
        """The next CRLF- (or LF-) terminated line without its ending; None when the stream ended first."""
        start = 0
        while True:
            end = self.buf.find(b"\n", start)
            if end > MAX_LINE or end < 0 and len(self.buf) > MAX_LINE:
                raise Malformed("a header line longer than %d bytes" % MAX_LINE)
            if end >= 0:
                line = bytes(self.buf[:end])
                del self.buf[:end + 1]
                return line[:-1] if line.endswith(b"\r") else line
            start = len(self.buf)
            if not self._fill():
                return None

    def take(self, n: int) -> bytes | None:
        """Exactly `n` bytes; None when the stream ended first."""
        while len(self.buf) < n:
            if not self._fill():
                return None
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def rest(self) -> bytes:
        """Everything up to the end of the stream (an answer without length), refused past the limit."""
        while self._fill():
            if len(self.buf) > self.limit:
                raise TooLarge()
        data, self.buf = bytes(self.buf), bytearray()
        return data

    def close(self) -> None:
        """Close the socket (a TLS one without waiting for the server's close_notify)."""
        try:
            self.sock.close()
        except OSError:
            pass


class Malformed(Exception):
    """The answer is not HTTP/1.x as RFC 9112 frames it."""


class TooLarge(Exception):
    """The answer's body is over the wire's limit."""


def request_head(method: str, dest: http._Dest, headers: dict, body: bytes | None) -> bytes:
    """The request line and headers, as http.client would write them (Host first, Content-Length)."""
    fields = "".join(["%s: %s\r\n" % item for item in headers.items()])
    if fields.count("\n") != len(headers) or fields.count("\r") != len(headers) or ":" in "".join(headers):
        for name, value in headers.items():  # which one: a line break (or a colon in a name) is in it
            value = str(value)
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
                raise ConfigError("header %s: a line break or colon cannot be sent in an HTTP header" % name)
    if body is not None or method in ("POST", "PUT", "PATCH"):
        fields += "Content-Length: %d\r\n" % len(body or b"")
    try:
        return ("%s %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (method, dest.target, dest.host_header, fields)
                ).encode("latin-1")
    except UnicodeEncodeError:
        raise ConfigError("a header holds a character HTTP cannot carry (only Latin-1)")


def read_answer(wire: Wire, method: str) -> tuple:
    """(status, headers with lower-case names, body, keep_alive) of the next answer on `wire`.

    1xx interim answers are skipped; the body is framed by chunked coding, Content-Length, or the
    end of the stream, in that order (RFC 9112 section 6.3).
    """
    first = True
    while True:
        lines = _head(wire)
        if lines is None:
            raise Closed() if first and not wire.buf else Short()
        first = False
        version, status = _status(lines[0])
        headers = _fields(lines)
        if not 100 <= status < 200 or status == 101:
            break
    tokens = {t.strip() for t in headers["connection"].lower().split(",")} if "connection" in headers else ()
    keep = "close" not in tokens and (version == "HTTP/1.1" or "keep-alive" in tokens) and status != 101
    if method == "HEAD" or status in _NO_BODY or 100 <= status < 200:
        return status, headers, b"", keep
    if "transfer-encoding" in headers:
        if headers["transfer-encoding"].lower().rpartition(",")[2].strip() != "chunked":
            return status, headers, wire.rest(), False
        # with a Content-Length beside it the answer may be a smuggling attempt: not reused
        return status, headers, _read_chunked(wire), keep and "content-length" not in headers
    length = headers.get("content-length")
    if length is None:
        return status, headers, wire.rest(), False
    n = length if length.isdigit() and length.isascii() else _one_length(length)
    n = int(n)
    if n > wire.limit:
        raise TooLarge()
    body = wire.take(n)
    if body is None:
        raise Short()
    return status, headers, body, keep


def _head(wire: Wire) -> list | None:
    """The next head's lines (status line first, then fields) without line endings, its empty line
    consumed; None when the stream ended first. CRLF or bare LF ends a line."""
    buf, start, checked = wire.buf, 0, False
    while True:
        crlf, lf = buf.find(b"\n\r\n", start), buf.find(b"\n\n", start)
        if crlf >= 0 or lf >= 0:
            end, skip = (crlf, 3) if lf < 0 or 0 <= crlf < lf else (lf, 2)
            text = bytes(buf[:end]).decode("latin-1")
            del buf[:end + skip]
            text = text[:-1] if text.endswith("\r") else text
            lines = text.split("\r\n") if text.count("\r\n") == text.count("\n") else [
                line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
            if len(lines) > MAX_HEADERS + 1:
                _status(lines[0])
                raise Malformed("more than %d header fields" % MAX_HEADERS)
            if max(map(len, lines)) > MAX_LINE:
                raise Malformed("a header line longer than %d bytes" % MAX_LINE)
            return lines
        if buf:  # a part of a head
            if not checked and b"\n" in buf:  # not HTTP: refused before waiting for more
                _status(bytes(buf[:buf.find(b"\n")]).decode("latin-1").rstrip("\r"))
                checked = True
            if len(buf) - buf.rfind(b"\n") - 1 > MAX_LINE:
                raise Malformed("a header line longer than %d bytes" % MAX_LINE)
            if buf.count(b"\n") > MAX_HEADERS + 1:
                raise Malformed("more than %d header fields" % MAX_HEADERS)
            start = max(0, len(buf) - 2)  # the empty line may begin in what is already here
        if not wire._fill():
            return None


def _status(line: str) -> tuple:
    """(version, status code) of a status line; Malformed when it is not HTTP/1.x."""
    version, _, rest = line.partition(" ")
    code = rest[:3]
    if version not in ("HTTP/1.1", "HTTP/1.0") or not (code.isdigit() and code.isascii()) \
            or rest[3:4] not in ("", " "):
        raise Malformed("not an HTTP/1.x status line")
    return version, int(code)


def _one_length(length: str) -> str:
    """The one length in a Content-Length list ("5, 5" is one length said twice, RFC 9110 8.6)."""
    values = {v.strip() for v in length.split(",")}
    if len(values) != 1 or not next(iter(values)).isdigit() or not next(iter(values)).isascii():
        raise Malformed("Content-Length %r" % length[:40])
    return values.pop()


def _fields(lines: list) -> dict:
    """Header fields of a head's lines; names lower-cased, a repeated name keeps its last value."""
    headers: dict = {}
    name = None
    for text in lines[1:]:
        field, colon, value = text.partition(":")
        if colon and field and field == field.strip():
            name = field.lower()
            headers[name] = value.strip()
        elif text[:1] in (" ", "\t") and name is not None:  # obsolete line folding: part of the last value
            headers[name] += " " + text.strip()
        else:
            raise Malformed("a header line without a field name")
    return headers


def _read_chunked(wire: Wire) -> bytes:
    """A chunked body (its trailer fields are read and dropped)."""
    chunks, size = [], 0
    while True:
        line = wire.line()
        if line is None:
            raise Short()
        digits = line.split(b";", 1)[0].strip()
        if not digits or digits.strip(b"0123456789abcdefABCDEF") or len(digits) > 16:
            raise Malformed("a chunk size that is not hexadecimal")
        n = int(digits, 16)
        if n == 0:
            break
        size += n
        if size > wire.limit:
            raise TooLarge()
        chunk = wire.take(n + 2)
        if chunk is None:
            raise Short()
        if chunk[-2:] != b"\r\n":
            raise Malformed("a chunk longer than its size")
        chunks.append(chunk[:-2])
    while True:  # trailer fields, then the empty line
        line = wire.line()
        if line is None:
            raise Short()
        if not line:
            return b"".join(chunks)


class Closed(Exception):
    """The connection ended before any answer."""


class Short(Exception):
    """The connection ended inside the answer."""
