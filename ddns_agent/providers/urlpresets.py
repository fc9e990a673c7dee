"""URL presets of the webhook provider: services whose update is one templated GET (issue 12).

Each preset is data: the update URL per family (an empty one: the service has no such family), the
secret option it needs, and how to read its answer. Sources and answer shapes: docs/providers/<name>.md.
An answer reader returns None for success or (kind, words): kind "auth" (the credential was refused),
"reject" (stop until the config changes) or "unconfirmed" (sent, not confirmed); 5xx and 429 are
left to the webhook provider's usual handling.
"""

from __future__ import annotations

import re


class UrlPreset:
    """A known simple-URL service."""

    __slots__ = ("title", "url4", "url6", "secret", "answer")

    def __init__(self, title: str, url4: str, url6: str, secret: str, answer=None) -> None:
        self.title = title
        self.url4 = url4
        self.url6 = url6          # "" when the service takes no IPv6 address
        self.secret = secret      # the option the URL needs: token or password
        self.answer = answer      # (status, text, address) -> None | (kind, words); None: status only


def namecheap_answer(status: int, text: str, address: str):
    """Namecheap's XML <interface-response>: success iff <ErrCount> is 0 (no xml.* on a router)."""
    count = _element(text, "ErrCount")
    if count is None or not count.strip().isdigit():
        return ("unconfirmed", "Namecheap gave no <ErrCount> in its answer (HTTP %d)" % status)
    if int(count) == 0 and 200 <= status < 300:
        return None
    words = _element(text, "Err1") or "HTTP %d" % status
    # "Passwords do not match": the Dynamic DNS password is wrong for this domain
    kind = "auth" if "password" in words.lower() else "reject"
    return (kind, "Namecheap refused the update: %s" % words)


def freedns_answer(status: int, text: str, address: str):
    """FreeDNS v2 sync answers one text line: 'Updated ...', 'No IP change detected ...' or 'ERROR: ...'."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    if 200 <= status < 300 and line.lower().startswith(("updated ", "no ip change detected")):
        return None
    if status >= 500:
        return ("unconfirmed", "FreeDNS answered HTTP %d" % status)
    if "unable to locate this record" in line.lower():  # the answer to an unknown token
        return ("auth", "FreeDNS does not know this update token (%s)" % line)
    return ("reject", "FreeDNS answered %r (HTTP %d)" % (line, status))


def njalla_answer(status: int, text: str, address: str):
    """Njalla's JSON {"status", "message", "value": {"A"|"AAAA": ip}}: 200 + 'record updated'."""
    from ddns_agent import jsonlib

    try:
        body = jsonlib.loads(text)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return ("unconfirmed", "Njalla gave no JSON answer (HTTP %d)" % status)
    message = str(body.get("message") or "")
    if status == 401:
        return ("auth", "Njalla refused the key: %s" % message)
    value = body.get("value")
    published = list(value.values()) if isinstance(value, dict) else []
    if status == 200 and message == "record updated":
        if address in published:
            return None
        return ("unconfirmed", "Njalla answered 'record updated' with %s, not %s"
                % (", ".join(str(v) for v in published)[:90] or "no address", address))
    return ("reject", "Njalla refused the update (HTTP %d): %s" % (status, message))


PRESETS = {
    # the zone's own A/AAAA; ipv6prefix moves the zone's prefix-relative records too (docs/providers/dynv6.md)
    "dynv6": UrlPreset("dynv6", "https://dynv6.com/api/update?zone={domain}&token={token}&ipv4={ip}",
                       "https://dynv6.com/api/update?zone={domain}&token={token}&ipv6={ip}"
                       "&ipv6prefix={ip6prefix}", "token"),
    "namecheap": UrlPreset("Namecheap", "https://dynamicdns.park-your-domain.com/update?host={name}"
                           "&domain={domain}&password={password}&ip={ip}", "", "password", namecheap_answer),
    "freedns": UrlPreset("FreeDNS", "https://sync.afraid.org/u/{token}/?ip={ip}",
                         "https://v6.sync.afraid.org/u/{token}/?ip={ip}", "token", freedns_answer),
    "njalla": UrlPreset("Njalla", "https://njal.la/update/?h={fqdn}&k={token}&a={ip}",
                        "https://njal.la/update/?h={fqdn}&k={token}&aaaa={ip}", "token", njalla_answer),
}


def _element(doc: str, name: str) -> str | None:
    """The text of the first <name>...</name> in `doc` (case-insensitive), or None."""
    m = re.search(r"<%s(?:\s[^>]*)?>(.*?)</%s\s*>" % (name, name), doc, re.S | re.I)
    if m is None:
        return None
    inner = re.sub(r"<!\[CDATA\[(.*?)\]\]>", r"\1", m.group(1), flags=re.S)
    inner = re.sub(r"<[^>]*>", "", inner)
    return inner.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()
