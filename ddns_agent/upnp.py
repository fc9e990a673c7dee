"""Source: ask the upstream UPnP Internet Gateway Device (the modem) for its external IPv4 address.

SSDP M-SEARCH on the WAN device only (bound to its address and device, multicast TTL 2), then the
device description, then SOAP GetExternalIPAddress on WANIPConnection:2/1 or WANPPPConnection:1.
Every peer must be on the WAN's own subnet or be its gateway. xml.* is not on a router (python3-xml
is a separate package), so a small tag extractor reads the answers, within strict size limits.
"""

from __future__ import annotations

import re
import socket
import time

from ddns_agent.errors import SourceError
from ddns_agent.upstream import NO_PUBLIC

SSDP_GROUP = ("239.255.255.250", 1900)
SEARCH_TARGETS = ("urn:schemas-upnp-org:device:InternetGatewayDevice:1",
                  "urn:schemas-upnp-org:device:InternetGatewayDevice:2",
                  "urn:schemas-upnp-org:service:WANIPConnection:1")
# Preferred first; a DSL modem may list both an IP and a PPP connection, only one of them connected.
SERVICES = ("urn:schemas-upnp-org:service:WANIPConnection:2",
            "urn:schemas-upnp-org:service:WANIPConnection:1",
            "urn:schemas-upnp-org:service:WANPPPConnection:1")
DESCRIPTION_LIMIT = 128 * 1024   # bytes; vendor descriptions run to ~20 KiB
SOAP_LIMIT = 16 * 1024
SSDP_LIMIT = 2048
RESEND_AFTER = 1.0               # s; one M-SEARCH repeat, SSDP is plain UDP
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)

_TAG = re.compile(r"<(/?)(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)(?:\s[^<>]*?)?(/?)>")
# Comments and processing instructions are skipped with str.find, never with a lazy `.*?` regex:
# a 128 KiB answer of unclosed `<?` made that regex rescan the rest of the text at every `<?`.
_SKIPPED = re.compile(r"<!--|<\?|<!\[CDATA\[")
_SKIPPED_END = {"<!--": "-->", "<?": "?>", "<![CDATA[": "]]>"}
_MARKUP = re.compile(r"<[^<>]*>")
_ENTITY = re.compile(r"&(#[0-9]{1,7}|#x[0-9A-Fa-f]{1,6}|lt|gt|quot|apos|amp);")
_NAMED = {"lt": "<", "gt": ">", "quot": '"', "apos": "'", "amp": "&"}
_SOAP = ('<?xml version="1.0"?>\r\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
         's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>'
         '<u:GetExternalIPAddress xmlns:u="%s"></u:GetExternalIPAddress></s:Body></s:Envelope>\r\n')


def _entity(m) -> str:
    name = m.group(1)
    if name[0] != "#":
        return _NAMED[name]
    code = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
    return chr(code) if 0 < code < 0x110000 else ""


def _sections(doc: str):
    """(kind, text) pieces of `doc` in order: ("", markup), ("<![CDATA[", its data), comments and
    processing instructions as their opener; an unclosed one runs to the end. Linear in len(doc)."""
    pos = 0
    while True:
        m = _SKIPPED.search(doc, pos)
        if m is None:
            yield "", doc[pos:]
            return
        yield "", doc[pos:m.start()]
        end = doc.find(_SKIPPED_END[m.group()], m.end())
        stop = len(doc) if end < 0 else end + len(_SKIPPED_END[m.group()])
        yield m.group(), doc[m.end():end if end >= 0 else len(doc)]
        pos = stop


def _plain(markup: str) -> str:
    return _ENTITY.sub(_entity, _MARKUP.sub("", markup))


def text(inner: str) -> str:
    """The character data of an element's inside: CDATA kept, entities decoded, tags dropped, stripped."""
    parts = []
    for kind, piece in _sections(inner):
        if kind == "":
            parts.append(_plain(piece))
        elif kind == "<![CDATA[":
            parts.append(piece)
    return "".join(parts).strip()


def elements(doc: str, name: str, limit: int = 256, deadline: float | None = None) -> list:
    """The raw insides of the outermost elements whose local name is `name` (any prefix, any case).

    Tolerant on purpose: unknown tags, namespaces and stray text are skipped, an unclosed element
    is dropped. At most `limit` results. Linear in len(doc); past `deadline` (monotonic) a
    SourceError.
    """
    # comments and processing instructions go; CDATA stays, for text() to keep
    doc = "".join(piece if kind == "" else "<![CDATA[%s]]>" % piece if kind == "<![CDATA[" else ""
                  for kind, piece in _sections(doc))
    name = name.lower()
    found = []
    depth = 0
    start = 0
    for n, m in enumerate(_TAG.finditer(doc)):
        if deadline is not None and n % 512 == 0:
            _remaining(deadline, "reading the gateway's description")
        closing, local, empty = m.groups()
        if local.lower() != name:
            continue
        if empty:
            if depth == 0:
                found.append("")
        elif not closing:
            if depth == 0:
                start = m.end()
            depth += 1
        elif depth:
            depth -= 1
            if depth == 0:
                found.append(doc[start:m.start()])
        if len(found) >= limit:
            break
    return found


def first(doc: str, name: str, deadline: float | None = None) -> str | None:
    """The text of the first element named `name`, None when there is none."""
    found = elements(doc, name, 1, deadline)
    return text(found[0]) if found else None


def _split_url(url: str) -> tuple:
    m = re.match(r"http://([0-9.]+)(?::([0-9]{1,5}))?(/[^\s]*)?$", url, re.I)
    if m is None:
        raise SourceError("UPnP URL %r is not http://<IPv4 address>[:port]/path" % url[:200])
    return m.group(1), int(m.group(2) or 80), m.group(3) or "/"


def join_url(base: str, ref: str) -> str:
    """`ref` (absolute, /rooted or relative) resolved against the http `base` URL."""
    ref = ref.strip()
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", ref):
        return ref
    host, port, path = _split_url(base)
    if not ref.startswith("/"):
        ref = path[:path.rfind("/") + 1] + ref
    return "http://%s:%d%s" % (host, port, ref)


def _remaining(deadline: float, what: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise SourceError("UPnP: no answer in time while %s" % what)
    return left


def _dechunk(body: bytes, what: str) -> bytes:
    out = []
    while True:
        line, sep, body = body.partition(b"\r\n")
        try:
            size = int(line.split(b";")[0].strip(), 16)
        except ValueError:
            raise SourceError("UPnP: malformed chunked answer to %s" % what)
        if size == 0 or not sep:
            return b"".join(out)
        out.append(body[:size])
        body = body[size + 2:]


def http(link, method: str, url: str, deadline: float, limit: int, body: bytes = b"",
         headers: tuple = ()) -> tuple:
    """One HTTP/1.1 exchange with a host `link` allows; (status, body bytes). Bounded in time and size."""
    host, port, path = _split_url(url)
    if not link.allows(host):
        raise SourceError("UPnP: refusing %s: %s is outside the WAN subnet %s" % (url, host, link.network))
    what = "%s %s" % (method, url)
    request = ["%s %s HTTP/1.1" % (method, path), "Host: %s:%d" % (host, port), "Connection: close",
               "User-Agent: Linux UPnP/1.1 ddns_agent", "Content-Length: %d" % len(body)]
    request.extend(headers)
    data = ("\r\n".join(request) + "\r\n\r\n").encode("latin-1") + body
    answer = bytearray()
    head_end, expected = -1, None  # found once, not rescanned per chunk: a dripping peer sends 1 byte
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(_remaining(deadline, what))
            s.bind((str(link.address), 0))
            s.connect((host, port))
            s.sendall(data)
            while True:
                s.settimeout(_remaining(deadline, what))
                chunk = s.recv(8192)
                if not chunk:
                    break
                answer += chunk
                if len(answer) > limit + 4096:
                    raise SourceError("UPnP: answer to %s is larger than %d KiB" % (what, limit // 1024))
                if head_end < 0:
                    head_end = answer.find(b"\r\n\r\n", max(0, len(answer) - len(chunk) - 3))
                    if head_end >= 0:
                        m = re.search(rb"(?im)^content-length:\s*([0-9]+)\s*$", bytes(answer[:head_end]))
                        expected = head_end + 4 + int(m.group(1)) if m else None
                if expected is not None and len(answer) >= expected:
                    break
    except socket.timeout:
        raise SourceError("UPnP: no answer in time to %s" % what)
    except OSError as e:
        raise SourceError("UPnP: %s failed: %s" % (what, e.strerror or e))
    head, sep, rest = bytes(answer).partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.[01] ([0-9]{3})", head)
    if not sep or m is None:
        raise SourceError("UPnP: answer to %s is not HTTP" % what)
    length = re.search(rb"(?im)^content-length:\s*([0-9]+)\s*$", head)
    if re.search(rb"(?im)^transfer-encoding:\s*chunked\s*$", head):
        rest = _dechunk(rest, what)
    elif length:
        rest = rest[:int(length.group(1))]
    if len(rest) > limit:
        raise SourceError("UPnP: answer to %s is larger than %d KiB" % (what, limit // 1024))
    return int(m.group(1)), rest


def _ssdp_socket(link) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        try:
            s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, link.device.encode())
        except OSError:
            pass  # needs CAP_NET_RAW; the bound address and IP_MULTICAST_IF still pick the WAN
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(str(link.address)))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        s.bind((str(link.address), 0))
    except OSError as e:
        s.close()
        raise SourceError("UPnP: cannot open an SSDP socket on %s (%s): %s"
                          % (link.device, link.address, e.strerror or e))
    return s


def _search(s: socket.socket) -> None:
    for target in SEARCH_TARGETS:
        s.sendto(("M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\n"
                  "MX: 1\r\nST: %s\r\n\r\n" % target).encode(), SSDP_GROUP)


def discover(link, deadline: float, log=None) -> str:
    """The description URL of the first IGD on the WAN side that answers an SSDP search."""
    ignored = []
    with _ssdp_socket(link) as s:
        try:
            _search(s)
        except OSError as e:
            raise SourceError("UPnP: cannot send an SSDP search on %s: %s" % (link.device, e.strerror or e))
        resend = time.monotonic() + RESEND_AFTER
        while True:
            now = time.monotonic()
            if now >= deadline:
                detail = " (ignored: %s)" % "; ".join(ignored[:3]) if ignored else ""
                raise SourceError("UPnP: no gateway on %s answered the SSDP search%s" % (link.device, detail))
            if resend and now >= resend:
                resend = 0.0
                try:
                    _search(s)
                except OSError:
                    pass
            s.settimeout(max(0.01, min(deadline, resend or deadline) - now))
            try:
                data, peer = s.recvfrom(SSDP_LIMIT)
            except socket.timeout:
                continue
            except OSError as e:
                raise SourceError("UPnP: SSDP receive on %s failed: %s" % (link.device, e.strerror or e))
            if not link.allows(peer[0]):
                ignored.append("answer from %s outside the WAN subnet" % peer[0])
                continue
            message = data.decode("latin-1")
            m = re.search(r"(?im)^location:[ \t]*(\S+)[ \t]*\r?$", message)
            if not re.match(r"HTTP/1\.[01] 200", message) or m is None:
                ignored.append("malformed SSDP answer from %s" % peer[0])
                continue
            try:
                host = _split_url(m.group(1))[0]
            except SourceError as e:
                ignored.append(str(e))
                continue
            if not link.allows(host):
                ignored.append("%s points to %s outside the WAN subnet" % (peer[0], host))
                continue
            if log is not None:
                log.debug("upnp: %s answered on %s: %s" % (peer[0], link.device, m.group(1)))
            return m.group(1)


def control_urls(description: str, location: str, deadline: float | None = None) -> list:
    """(serviceType, absolute controlURL) of each WAN connection service, preferred first."""
    base = first(description, "URLBase", deadline) or location
    found = []
    for block in elements(description, "service", 64, deadline):
        kind = first(block, "serviceType", deadline) or ""
        control = first(block, "controlURL", deadline)
        if kind in SERVICES and control:
            found.append((kind, join_url(base, control)))
    return sorted(found, key=lambda f: SERVICES.index(f[0]))


def external_address(link, kind: str, control: str, deadline: float) -> str:
    """GetExternalIPAddress on one service; the text the IGD reports (may be "" or private)."""
    status, body = http(link, "POST", control, deadline, SOAP_LIMIT, (_SOAP % kind).encode(),
                        ('Content-Type: text/xml; charset="utf-8"',
                         'SOAPAction: "%s#GetExternalIPAddress"' % kind))
    answer = body.decode("utf-8", "replace")
    if status != 200:
        code = first(answer, "errorCode")
        if code is not None:
            raise SourceError("UPnP gateway %s refused GetExternalIPAddress: error %s %s"
                              % (_split_url(control)[0], code[:10], (first(answer, "errorDescription")
                                                                   or "")[:80]))
        raise SourceError("UPnP gateway %s answered GetExternalIPAddress with HTTP %d"
                          % (_split_url(control)[0], status))
    value = first(answer, "NewExternalIPAddress")
    if value is None:
        raise SourceError("UPnP gateway %s sent a malformed GetExternalIPAddress answer "
                          "(no NewExternalIPAddress)" % _split_url(control)[0])
    return value[:64]


def lookup(link, deadline: float, log=None) -> tuple:
    """(external address text, gateway host) from the first IGD on `link`; SourceError otherwise."""
    import ipaddress

    discovery_end = min(deadline, max(deadline - 1.0, time.monotonic() + 0.6 * (deadline - time.monotonic())))
    location = discover(link, discovery_end, log)
    gateway = _split_url(location)[0]
    status, body = http(link, "GET", location, deadline, DESCRIPTION_LIMIT)
    if status != 200:
        raise SourceError("UPnP gateway %s answered HTTP %d for its description" % (gateway, status))
    services = control_urls(body.decode("utf-8", "replace"), location, deadline)
    if not services:
        raise SourceError("UPnP gateway %s offers no WANIPConnection or WANPPPConnection service" % gateway)
    problems = []
    for kind, control in services[:4]:
        try:
            value = external_address(link, kind, control, deadline)
        except SourceError as e:
            problems.append(str(e))
            continue
        try:
            address = ipaddress.IPv4Address(value)
        except ValueError:
            problems.append("UPnP gateway %s reports %r as its external address, not an IPv4 address"
                            % (gateway, value) if value else
                            "UPnP gateway %s reports no external address (empty answer): %s"
                            % (gateway, NO_PUBLIC))
            continue
        if address.is_unspecified:
            problems.append("UPnP gateway %s reports 0.0.0.0: %s" % (gateway, NO_PUBLIC))
            continue
        if log is not None:
            log.debug("upnp: %s %s says %s" % (gateway, kind.rsplit(":", 2)[-2], address))
        return str(address), gateway
    raise SourceError(problems[0])


def read(record, family: int, log=None, timeout: float = 3.0, cache=None) -> list:
    """The external IPv4 address the upstream IGD reports, as one Candidate ("upnp <gateway>").

    Asks once per WAN device and update cycle; SourceError with a one-line reason otherwise.
    """
    from ddns_agent import upstream
    from ddns_agent.addresses import Candidate

    if family != 4:
        raise SourceError("UPnP IGD reports only an IPv4 address; use netifd or netlink for AAAA records")
    deadline = time.monotonic() + timeout
    link = upstream.wan_link(record, timeout, log, cache)
    address, gateway = upstream.cached(("upnp", link.device), lambda: lookup(link, deadline, log), cache)
    import ipaddress

    return [Candidate(ipaddress.IPv4Address(address), "upnp %s" % gateway)]
