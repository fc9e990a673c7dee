"""UPnP IGD source: a real miniupnpd modem in a namespace lab, fake IGDs for the failure cases."""

from __future__ import annotations

import ipaddress
import json
import select
import socket
import struct
import threading
import time

import pytest
from nat_lab import Lab, build, require, start_miniupnpd, start_stun

from ddns_agent import upnp, upstream
from ddns_agent.addresses import REFUSED, Candidate
from ddns_agent.addresses import select as select_address
from ddns_agent.errors import SourceError

IP_RECVTTL = 12  # linux/in.h; not exported by the socket module
IP_TTL = 2
TIMEOUT = 3.0
SLACK = 2.0  # generous: the bound is what matters, not the speed


@pytest.fixture(scope="module")
def modem():
    """router -> modem running Debian's miniupnpd (which learns 203.0.113.7 by STUN) -> isp (coturn)."""
    require("nft", "miniupnpd", "turnserver")
    lab = Lab()
    try:
        build(lab)
        start_stun(lab, "isp", "203.0.113.1")
        lab.daemon = start_miniupnpd(lab)
        yield lab
    finally:
        lab.close()


@pytest.fixture()
def bare():
    """router -> modem with nothing listening on the modem."""
    require("nft")
    lab = Lab()
    try:
        build(lab)
        yield lab
    finally:
        lab.close()


def test_router_behind_modem_gets_the_modems_public_address(modem):
    out = modem.read("router", "upnp", {"device": "wan0"})
    assert out.get("addresses") == ["203.0.113.7"], out
    assert out["origins"] == ["upnp 192.168.1.1"]


def test_wan_found_from_the_default_route_when_no_device_is_set(modem):
    out = modem.read("router", "upnp", {})
    assert out.get("addresses") == ["203.0.113.7"], out


def test_aaaa_record_is_told_upnp_is_ipv4_only(modem):
    out = modem.read("router", "upnp", {"device": "wan0"}, family=6)
    assert "only an IPv4 address" in out["error"]


PLAN_CONFIG = """
config provider 'demo'
	option type 'log'

config record 'home'
	option provider 'demo'
	option domain 'example.com'
	option name 'home'
	option device 'wan0'
	option source 'netlink upnp'
"""


def test_plan_json_shows_the_address_came_from_the_modem_by_upnp(modem):
    done = modem.cli("router", PLAN_CONFIG, "plan", "--json")
    assert done.returncode == 0, done.stderr
    [item] = json.loads(done.stdout)["records"]
    assert (item["action"], item["address"], item["source"]) == ("publish", "203.0.113.7", "upnp 192.168.1.1")
    assert "WAN has a private address" in item["reason"]
    assert "upstream gateway reports 203.0.113.7 via UPnP" in item["reason"]


def test_modem_without_public_address_is_refused_with_the_reason(bare):
    # Without STUN, miniupnpd sees only the documentation address on its WAN, which it counts as
    # reserved, and answers an empty NewExternalIPAddress: what an ISP modem behind CGNAT does.
    require("miniupnpd")
    start_miniupnpd(bare, stun_host=None)
    out = bare.read("router", "upnp", {"device": "wan0"})
    assert out["error"] == ("UPnP gateway 192.168.1.1 reports no external address (empty answer): it has no "
                            "public address of its own (its WAN is down, private or CGNAT)")


def test_no_gateway_answering_fails_in_bounded_time(bare):
    out = bare.read("router", "upnp", {"device": "wan0"}, timeout=TIMEOUT)
    assert "no gateway on wan0 answered the SSDP search" in out["error"]
    assert out["elapsed"] < TIMEOUT + SLACK


DESCRIPTION = """<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><device>
<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
<deviceList><device><deviceList><device><serviceList><service>
<serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>
<controlURL>/ctl/IPConn</controlURL></service></serviceList></device></deviceList></device></deviceList>
</device></root>"""


class FakeIGD:
    """An IGD on the modem's LAN side (192.168.1.1) that answers in `mode`; records what it got."""

    def __init__(self, mode: str, address: str = "203.0.113.9") -> None:
        self.mode = mode
        self.address = address
        self.searches: list = []   # (source, ttl, ST)
        self.requests: list = []   # request head lines
        self.stop = threading.Event()
        self.ready = threading.Event()

    def serve(self) -> None:
        ssdp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        ssdp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ssdp.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
        ssdp.bind(("0.0.0.0", 1900))
        ssdp.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                        socket.inet_aton("239.255.255.250") + socket.inet_aton("192.168.1.1"))
        web = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        web.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        web.bind(("192.168.1.1", 5000))
        web.listen(8)
        held = []
        self.ready.set()
        try:
            while not self.stop.is_set():
                readable, _, _ = select.select([ssdp, web], [], [], 0.1)
                if ssdp in readable:
                    self._search(ssdp)
                if web in readable:
                    conn, _ = web.accept()
                    if self._answer(conn):
                        held.append(conn)
        finally:
            for s in held + [ssdp, web]:
                s.close()

    def _search(self, ssdp: socket.socket) -> None:
        data, ancillary, _, peer = ssdp.recvmsg(2048, socket.CMSG_SPACE(4))
        ttl = next((struct.unpack("i", d[:4])[0] for _, kind, d in ancillary if kind == IP_TTL), None)
        target = [line[3:].strip() for line in data.decode().split("\r\n") if line.upper().startswith("ST:")]
        self.searches.append((peer[0], ttl, target[0] if target else ""))
        if self.mode == "silent":
            return
        location = "http://10.9.9.9:5000/desc.xml" if self.mode == "elsewhere" else \
            "http://192.168.1.1:5000/desc.xml"
        answer = ("HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: %s\r\nUSN: uuid:fake::%s\r\n"
                  "EXT:\r\nSERVER: Fake/1 UPnP/1.1 FakeIGD/1\r\nLOCATION: %s\r\n\r\n"
                  % (target[0], target[0], location))
        if self.mode == "old":  # some ISP modems: HTTP/1.0 status line, lower-case header names
            answer = answer.replace("HTTP/1.1 200", "HTTP/1.0 200").replace("LOCATION:", "location:")
        ssdp.sendto(answer.encode(), peer)

    def _answer(self, conn: socket.socket) -> bool:
        conn.settimeout(2)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        head = data.split(b"\r\n\r\n")[0].decode("latin-1")
        self.requests.append(head.split("\r\n")[0])
        if head.startswith("GET"):
            body = DESCRIPTION.encode()
            if self.mode == "huge":
                body = body.replace(b"<device>", b"<device>" + b"<x>pad</x>" * 20000, 1)
            elif self.mode == "unclosed":  # 128 KiB of markup that never closes
                body = (DESCRIPTION.encode() + b"<?" * 65536)[:128 * 1024]
            return self._send(conn, 200, body)
        if self.mode == "slow":
            return True  # hold the SOAP call open without a word
        status, body = 200, ('<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/'
                             'envelope/"><s:Body><u:GetExternalIPAddressResponse xmlns:u="urn:schemas-upnp-'
                             'org:service:WANIPConnection:1"><NewExternalIPAddress>%s</NewExternalIPAddress>'
                             '</u:GetExternalIPAddressResponse></s:Body></s:Envelope>' % self.address)
        if self.mode == "malformed":
            body = "<s:Envelope><s:Body><u:GetExternalIPAddressResponse>203.0.113.9</s:Body>"
        elif self.mode == "fault":
            status, body = 500, ('<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
                                 '<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring>'
                                 '<detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>501'
                                 '</errorCode><errorDescription>Action Failed</errorDescription></UPnPError>'
                                 '</detail></s:Fault></s:Body></s:Envelope>')
        return self._send(conn, status, body.encode())

    @staticmethod
    def _send(conn: socket.socket, status: int, body: bytes) -> bool:
        try:
            conn.sendall(b"HTTP/1.1 %d X\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n"
                         % (status, len(body)) + body)
        except OSError:
            pass
        conn.close()
        return False


@pytest.fixture()
def fake_igd(bare):
    """Start a FakeIGD in the bare lab's modem: `fake_igd(mode, address)`; stopped afterwards."""
    started = []

    def start(mode: str, address: str = "203.0.113.9") -> FakeIGD:
        fake = FakeIGD(mode, address)
        thread = bare.inside("modem", fake.serve)
        started.append((fake, thread))
        assert fake.ready.wait(5), thread.failed
        return fake

    try:
        yield start
    finally:
        for fake, thread in started:
            fake.stop.set()
            thread.join(5)


def test_search_goes_out_of_the_wan_only_with_ttl_2(bare, fake_igd):
    # A LAN host listens for SSDP too, and a route sends multicast to the LAN: the search must
    # still leave by the WAN device only.
    bare.add("lanhost")
    bare.veth("router", "lan0", "192.168.2.1/24", "lanhost", "eth0", "192.168.2.2/24")
    bare.sh("router", "ip", "route", "add", "239.0.0.0/8", "dev", "lan0")
    fake = fake_igd("ok")
    lan_heard = FakeIGD("silent")
    lan_heard_ready = threading.Event()

    def listen_on_lan() -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", 1900))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                     socket.inet_aton("239.255.255.250") + socket.inet_aton("192.168.2.2"))
        s.settimeout(0.2)
        lan_heard_ready.set()
        with s:
            while not lan_heard.stop.is_set():
                try:
                    lan_heard.searches.append(s.recvfrom(2048)[1])
                except socket.timeout:
                    pass

    thread = bare.inside("lanhost", listen_on_lan)
    assert lan_heard_ready.wait(5)
    try:
        out = bare.read("router", "upnp", {"device": "wan0"})
    finally:
        lan_heard.stop.set()
        thread.join(5)
    assert out.get("addresses") == ["203.0.113.9"], out
    assert fake.searches and all(src == "192.168.1.2" and ttl == 2 for src, ttl, _ in fake.searches)
    assert "urn:schemas-upnp-org:device:InternetGatewayDevice:1" in [st for _, _, st in fake.searches]
    assert lan_heard.searches == []


def test_old_style_ssdp_answer_is_understood(bare, fake_igd):
    fake_igd("old")
    out = bare.read("router", "upnp", {"device": "wan0"})
    assert out.get("addresses") == ["203.0.113.9"], out


def test_slow_soap_answer_fails_in_bounded_time(bare, fake_igd):
    fake_igd("slow")
    out = bare.read("router", "upnp", {"device": "wan0"}, timeout=TIMEOUT)
    assert "no answer in time" in out["error"], out
    assert out["elapsed"] < TIMEOUT + SLACK


def test_malformed_soap_is_refused_with_the_reason(bare, fake_igd):
    fake_igd("malformed")
    out = bare.read("router", "upnp", {"device": "wan0"})
    assert out["error"] == ("UPnP gateway 192.168.1.1 sent a malformed GetExternalIPAddress answer "
                            "(no NewExternalIPAddress)")


def test_soap_fault_is_reported_with_its_code(bare, fake_igd):
    fake_igd("fault")
    out = bare.read("router", "upnp", {"device": "wan0"})
    assert out["error"] == "UPnP gateway 192.168.1.1 refused GetExternalIPAddress: error 501 Action Failed"


@pytest.mark.parametrize("reported, why", [
    ("192.168.0.10", "is a private (RFC 1918) address"),
    ("100.64.0.7", "is a carrier-grade NAT (CGNAT) address"),
])
def test_gateway_reporting_a_private_address_is_refused_by_selection(bare, fake_igd, reported, why):
    fake_igd("ok", reported)
    out = bare.read("router", "upnp", {"device": "wan0"})
    assert out.get("addresses") == [reported], out
    chosen = select_address([Candidate(ipaddress.ip_address(reported), out["origins"][0])], 4)
    assert chosen.status == REFUSED and why in chosen.reason
    assert chosen.origin == "upnp 192.168.1.1"


@pytest.mark.parametrize("reported, why", [
    ("", "reports no external address"),
    ("0.0.0.0", "reports 0.0.0.0: it has no public address of its own"),
    ("not-an-address", "reports 'not-an-address' as its external address, not an IPv4 address"),
])
def test_gateway_reporting_no_address_is_refused_with_the_reason(bare, fake_igd, reported, why):
    fake_igd("ok", reported)
    out = bare.read("router", "upnp", {"device": "wan0"})
    assert why in out["error"], out


def test_description_elsewhere_than_the_wan_subnet_is_never_fetched(bare, fake_igd):
    fake = fake_igd("elsewhere")
    out = bare.read("router", "upnp", {"device": "wan0"}, timeout=TIMEOUT)
    assert "points to 10.9.9.9 outside the WAN subnet" in out["error"], out
    assert fake.requests == []


def test_a_description_full_of_unclosed_markup_is_read_within_the_deadline(bare, fake_igd):
    # 128 KiB of `<?` once took 66 s to parse, whatever the deadline
    fake = fake_igd("unclosed")
    config = PLAN_CONFIG.replace("netlink upnp", "upnp")
    done = bare.cli("router", config, "plan", "--json", timeout=60)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    [item] = json.loads(done.stdout)["records"]
    assert (item["action"], item["address"], item["source"]) == ("publish", "203.0.113.9", "upnp 192.168.1.1")
    assert fake.requests[0].startswith("GET /desc.xml")


@pytest.mark.parametrize("opener", ["<?", "<!--", "<![CDATA[", "<", "<a ", "</a"])
def test_the_tag_extractor_is_linear_on_unclosed_markup(opener):
    # past the deadline control_urls raises SourceError; the quadratic parser took minutes here
    doc = opener * (128 * 1024 // len(opener))
    assert upnp.control_urls(doc, "http://192.168.1.1/d.xml", time.monotonic() + TIMEOUT) == []


def test_the_tag_extractor_stops_at_the_deadline():
    with pytest.raises(SourceError, match="no answer in time while reading the gateway's description"):
        upnp.control_urls(DESCRIPTION, "http://192.168.1.1/d.xml", time.monotonic() - 1)


def test_oversized_description_is_refused(bare, fake_igd):
    fake_igd("huge")
    out = bare.read("router", "upnp", {"device": "wan0"})
    assert "is larger than 128 KiB" in out["error"], out


# The pieces, on loopback.

LOOP = upstream.Link("lo", ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv4Network("127.0.0.0/8"))

VENDOR = """<?xml version="1.0" encoding="utf-8"?>
<!-- <service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:2</serviceType>
     <controlURL>/commented-out</controlURL></service> -->
<dev:root xmlns:dev="urn:schemas-upnp-org:device-1-0">
<dev:URLBase>http://192.168.1.1:37215/</dev:URLBase>
<dev:device><dev:serviceList>
 <dev:service><dev:serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</dev:serviceType>
  <dev:controlURL>/l3f</dev:controlURL></dev:service>
 <dev:service><dev:serviceType>urn:schemas-upnp-org:service:WANPPPConnection:1</dev:serviceType>
  <dev:controlURL>upnp/control/WANPPPConn1?a=1&amp;b=2</dev:controlURL></dev:service>
 <dev:service><dev:serviceType> urn:schemas-upnp-org:service:WANIPConnection:1 </dev:serviceType>
  <dev:controlURL><![CDATA[/ipc<1>]]></dev:controlURL><dev:eventSubURL/></dev:service>
</dev:serviceList></dev:device></dev:root>"""


def test_control_urls_follow_urlbase_prefixes_entities_and_preference():
    assert upnp.control_urls(VENDOR, "http://192.168.1.1:5000/desc.xml") == [
        ("urn:schemas-upnp-org:service:WANIPConnection:1", "http://192.168.1.1:37215/ipc<1>"),
        ("urn:schemas-upnp-org:service:WANPPPConnection:1",
         "http://192.168.1.1:37215/upnp/control/WANPPPConn1?a=1&b=2"),
    ]


def test_tag_extractor_tolerates_broken_markup():
    assert upnp.first("<a><b>1</b><b>2</b></a>", "b") == "1"
    assert upnp.first("<A>&#x32;&#48;3 &lt;x&gt;</A>", "a") == "203 <x>"
    assert upnp.first("<a>unclosed", "a") is None
    assert upnp.elements("<a><a>in</a></a><a/>", "a") == ["<a>in</a>", ""]
    upnp.first("<<<>>></a><b x='>'>", "b")  # garbage: any answer, but no exception
    assert upnp.elements("<x>" * 100000, "y") == []


def test_join_url_resolves_relative_references():
    assert upnp.join_url("http://192.168.1.1:5000/a/desc.xml", "ctl") == "http://192.168.1.1:5000/a/ctl"
    assert upnp.join_url("http://192.168.1.1/desc.xml", "/ctl") == "http://192.168.1.1:80/ctl"
    with pytest.raises(SourceError):
        upnp.join_url("http://gateway.lan/desc.xml", "/ctl")  # names are never resolved


def _one_shot_server(answer):
    """A loopback TCP server that sends what `answer(conn)` sends to one client; (port, thread)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def run() -> None:
        with server:
            server.settimeout(5)
            try:
                conn, _ = server.accept()
            except socket.timeout:
                return
            with conn:
                conn.recv(65536)
                answer(conn)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return server.getsockname()[1], thread


def test_chunked_answer_is_decoded():
    port, thread = _one_shot_server(lambda c: c.sendall(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6; x=1\r\n world\r\n0\r\n\r\n"))
    status, body = upnp.http(LOOP, "GET", "http://127.0.0.1:%d/d.xml" % port, time.monotonic() + 3, 1024)
    thread.join(5)
    assert (status, body) == (200, b"hello world")


def test_dripping_answer_is_cut_at_the_deadline():
    def drip(conn) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        for _ in range(40):
            time.sleep(0.1)
            try:
                conn.sendall(b"x")
            except OSError:
                return
    port, thread = _one_shot_server(drip)
    start = time.monotonic()
    with pytest.raises(SourceError, match="no answer in time"):
        upnp.http(LOOP, "GET", "http://127.0.0.1:%d/d.xml" % port, start + 1.0, 1024)
    assert time.monotonic() - start < 1.0 + SLACK
    thread.join(5)


def test_http_refuses_hosts_outside_the_wan():
    with pytest.raises(SourceError, match="outside the WAN subnet"):
        upnp.http(LOOP, "GET", "http://192.0.2.1/d.xml", time.monotonic() + 1, 1024)
