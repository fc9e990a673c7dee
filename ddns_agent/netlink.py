"""Source: read a device's addresses from the Linux kernel over rtnetlink (stdlib socket only).

Message layouts from linux/netlink.h, linux/rtnetlink.h, linux/if_addr.h, linux/if_link.h.
"""

from __future__ import annotations

import socket
import struct

from ddns_agent.addresses import Candidate
from ddns_agent.errors import SourceError

NETLINK_ROUTE = 0
NLMSG_ERROR, NLMSG_DONE, NLMSG_OVERRUN = 2, 3, 4
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_DUMP_INTR, NLM_F_DUMP = 0x1, 0x2, 0x10, 0x300
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTMGRP_LINK, RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR = 0x1, 0x10, 0x100
IFA_ADDRESS, IFA_LOCAL, IFA_CACHEINFO, IFA_FLAGS = 1, 2, 6, 8
IFLA_IFNAME = 3
IFA_F_TEMPORARY = 0x01   # IPv6 only; the same bit is IFA_F_SECONDARY for IPv4
IFA_F_DADFAILED = 0x08
IFA_F_DEPRECATED = 0x20
IFA_F_TENTATIVE = 0x40
IFF_UP, IFF_RUNNING = 0x1, 0x40
INFINITY = 0xFFFFFFFF
_HDR = struct.Struct("=IHHII")       # nlmsghdr: len, type, flags, seq, pid
_IFADDR = struct.Struct("=BBBBi")    # ifaddrmsg: family, prefixlen, flags, scope, index
_IFINFO = struct.Struct("=BxHiII")   # ifinfomsg: family, type, index, flags, change
_RTA = struct.Struct("=HH")          # rtattr: len, type
_CACHEINFO = struct.Struct("=IIII")  # ifa_cacheinfo: preferred, valid, cstamp, tstamp
_BUFSIZE = 65536


def _messages(data: bytes):
    """(type, flags, seq, body) for each netlink message in one datagram."""
    offset = 0
    while offset + _HDR.size <= len(data):
        length, kind, flags, seq, _ = _HDR.unpack_from(data, offset)
        if length < _HDR.size or offset + length > len(data):
            break
        yield kind, flags, seq, data[offset + _HDR.size:offset + length]
        offset += (length + 3) & ~3


def _attrs(data: bytes, offset: int) -> dict:
    """rtattr type -> payload, from `offset` on."""
    found = {}
    while offset + _RTA.size <= len(data):
        length, kind = _RTA.unpack_from(data, offset)
        if length < _RTA.size or offset + length > len(data):
            break
        found[kind & 0x3FFF] = data[offset + _RTA.size:offset + length]  # drop NLA_F_* bits
        offset += (length + 3) & ~3
    return found


def _open(groups: int = 0) -> socket.socket:
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
    except (AttributeError, OSError) as e:
        raise SourceError("cannot open a netlink socket: %s" % (getattr(e, "strerror", None) or e))
    try:
        sock.bind((0, groups))
    except OSError as e:
        sock.close()
        raise SourceError("cannot bind the netlink socket: %s" % (e.strerror or e))
    return sock


def _request(kind: int, flags: int, body: bytes, timeout: float = 5.0) -> list:
    """Send one request; the (type, body) replies up to NLMSG_DONE (or the single reply)."""
    sock = _open()
    try:
        sock.settimeout(timeout)
        seq = 1
        sock.send(_HDR.pack(_HDR.size + len(body), kind, NLM_F_REQUEST | flags, seq, 0) + body)
        replies = []
        while True:
            data = sock.recv(_BUFSIZE)
            for rkind, rflags, rseq, rbody in _messages(data):
                if rseq != seq:
                    continue
                if rkind == NLMSG_DONE:
                    return replies
                if rkind == NLMSG_ERROR:
                    errno = -struct.unpack_from("=i", rbody)[0]
                    if errno == 0:
                        return replies
                    raise OSError(errno, _strerror(errno))
                if rflags & NLM_F_DUMP_INTR:
                    raise InterruptedError("netlink dump interrupted by a change")
                replies.append((rkind, rbody))
                if not rflags & NLM_F_MULTI:
                    return replies
    except socket.timeout:
        raise SourceError("netlink: no answer from the kernel within %g s" % timeout)
    finally:
        sock.close()


def _strerror(errno: int) -> str:
    import os

    return os.strerror(errno)


def _index(device: str) -> int:
    try:
        return socket.if_nametoindex(device)
    except OSError:
        raise SourceError("device %s does not exist" % device)


def _parse_address(body: bytes, index: int, origin: str) -> Candidate | None:
    import ipaddress

    family, _, flags, _, ifindex = _IFADDR.unpack_from(body)
    if ifindex != index or family not in (socket.AF_INET, socket.AF_INET6):
        return None
    attrs = _attrs(body, _IFADDR.size)
    if IFA_FLAGS in attrs:  # the 32-bit attribute supersedes the 8-bit ifa_flags
        flags = struct.unpack_from("=I", attrs[IFA_FLAGS])[0]
    if flags & IFA_F_DADFAILED:
        return None
    # IFA_LOCAL is this host's side; IFA_ADDRESS is the peer on point-to-point links (PPP).
    raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
    if raw is None:
        return None
    address = ipaddress.ip_address(raw[:4] if family == socket.AF_INET else raw[:16])
    preferred = None
    if IFA_CACHEINFO in attrs:
        value = _CACHEINFO.unpack_from(attrs[IFA_CACHEINFO])[0]
        preferred = None if value == INFINITY else value
    v6 = family == socket.AF_INET6
    return Candidate(address, origin, preferred,
                     deprecated=bool(flags & IFA_F_DEPRECATED) or preferred == 0,
                     temporary=v6 and bool(flags & IFA_F_TEMPORARY),
                     tentative=bool(flags & IFA_F_TENTATIVE))


def addresses(device: str) -> list:
    """Every usable address on `device` (both families) in kernel order; DAD-failed ones skipped."""
    index = _index(device)
    origin = "netlink " + device
    body = _IFADDR.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    for attempt in (0, 1, 2):
        try:
            replies = _request(RTM_GETADDR, NLM_F_DUMP, body)
            break
        except InterruptedError:
            if attempt == 2:
                raise SourceError("netlink: address dump for %s kept changing; try again" % device)
        except OSError as e:
            raise SourceError("netlink: cannot list addresses of %s: %s" % (device, e.strerror or e))
    found = []
    for kind, rbody in replies:
        if kind == RTM_NEWADDR:
            candidate = _parse_address(rbody, index, origin)
            if candidate is not None:
                found.append(candidate)
    return found


def is_up(device: str) -> bool:
    """True when `device` is administratively up and has carrier (IFF_UP and IFF_RUNNING)."""
    index = _index(device)
    try:
        replies = _request(RTM_GETLINK, 0, _IFINFO.pack(socket.AF_UNSPEC, 0, index, 0, 0))
    except OSError as e:
        raise SourceError("netlink: cannot read the state of %s: %s" % (device, e.strerror or e))
    for kind, rbody in replies:
        if kind == RTM_NEWLINK:
            flags = _IFINFO.unpack_from(rbody)[3]
            return (flags & (IFF_UP | IFF_RUNNING)) == (IFF_UP | IFF_RUNNING)
    raise SourceError("netlink: no link information for %s" % device)


class Watcher:
    """Kernel notifications of address and link changes, as the names of the devices concerned."""

    __slots__ = ("_sock", "_names")

    def __init__(self, rcvbuf: int = 1 << 18) -> None:
        self._sock = _open(RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)
        self._sock.setblocking(False)
        if rcvbuf:
            # A burst (PPP redial, PD change on many VLANs) must not overflow into ENOBUFS.
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        # Address messages carry only an index; remember names so a deleted device is still named.
        self._names = {index: name for index, name in socket.if_nameindex()}

    def fileno(self) -> int:
        """The socket's descriptor, for select/poll loops."""
        return self._sock.fileno()

    def read(self, timeout: float | None = 0.0) -> set:
        """Wait up to `timeout` s (None = forever), then drain every pending message.

        Returns the names of the devices whose addresses or links changed; "*" means messages
        were lost (ENOBUFS) or a device could not be named: re-read everything.
        """
        import select

        changed: set = set()
        if not select.select([self._sock], [], [], timeout)[0]:
            return changed
        while True:
            try:
                data = self._sock.recv(_BUFSIZE)
            except BlockingIOError:
                return changed
            except OSError as e:
                import errno

                if e.errno == errno.ENOBUFS:
                    changed.add("*")
                    continue
                raise SourceError("netlink: cannot read notifications: %s" % (e.strerror or e))
            for kind, _, _, body in _messages(data):
                self._note(kind, body, changed)

    def _note(self, kind: int, body: bytes, changed: set) -> None:
        if kind in (RTM_NEWADDR, RTM_DELADDR) and len(body) >= _IFADDR.size:
            index = _IFADDR.unpack_from(body)[4]
            name = self._names.get(index)
            if name is None:
                try:
                    name = self._names[index] = socket.if_indextoname(index)
                except OSError:
                    name = "*"
            changed.add(name)
        elif kind in (RTM_NEWLINK, RTM_DELLINK) and len(body) >= _IFINFO.size:
            index = _IFINFO.unpack_from(body)[2]
            raw = _attrs(body, _IFINFO.size).get(IFLA_IFNAME)
            name = raw.split(b"\0", 1)[0].decode("utf-8", "replace") if raw else self._names.get(index, "*")
            if kind == RTM_NEWLINK:
                self._names[index] = name
            else:
                self._names.pop(index, None)
            changed.add(name)
        elif kind == NLMSG_OVERRUN:
            changed.add("*")

    def close(self) -> None:
        """Stop listening."""
        self._sock.close()

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
