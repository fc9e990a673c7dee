"""The provider interface: find, create, update. Providers build requests and parse answers only.

A provider gets its account options and an `Http` object. It does not retry, sleep, read files,
keep state or log. It raises `ddns_agent.errors` classes; transport errors come from `Http`
already translated. The cached-id dance (update by id, NotFoundError, find, create) lives in
publish.py, written once.
"""

from __future__ import annotations

from ddns_agent.errors import UnconfirmedError
from ddns_agent.jsonlib import dumps  # state.py loaded it already: the run read the state first


class RecordSpec:
    """What a provider needs to know about one record."""

    __slots__ = ("key", "domain", "name", "type", "ttl", "options", "in_set")

    def __init__(self, key: str, domain: str, name: str, type: str, ttl: int | None = None,
                 options: dict | None = None, in_set: bool = False) -> None:
        self.key = key          # the UCI section name of the record
        self.domain = domain    # the zone, e.g. example.com
        self.name = name        # '@' for the apex, else the label(s) below the zone
        self.type = type        # 'A' or 'AAAA'
        self.ttl = ttl          # None: the provider's default
        self.options = options or {}  # record-level provider options (e.g. proxied)
        self.in_set = in_set    # one member of a record set: never replace the others

    @property
    def fqdn(self) -> str:
        """The full name, e.g. home.example.com (the zone itself for '@')."""
        return self.domain if self.name in ("@", "") else "%s.%s" % (self.name, self.domain)

    def __str__(self) -> str:
        return "%s %s" % (self.fqdn, self.type)


class Remote:
    """A record as the provider holds it; `id` is None for update-only protocols.

    `others` is set by a lookup that saw every match: the other records of the same name, type
    (and line) the provider holds, which the agent does not touch (an empty tuple: none; None:
    not looked up, e.g. an update by cached id).
    """

    __slots__ = ("id", "value", "ttl", "others", "prior")

    def __init__(self, id: str | None, value: str | None, ttl: int | None = None,
                 others: tuple | None = None) -> None:
        self.id = id
        self.value = value
        self.ttl = ttl
        self.others = others
        self.prior = None  # an update's answer saying what the record held before (dyndns2 nochg)

    def __repr__(self) -> str:
        return "Remote(id=%r, value=%r, ttl=%r)" % (self.id, self.value, self.ttl)


def first_of(matches: list) -> Remote | None:
    """The record the agent manages among `matches` (the first), the rest as its `others`."""
    if not matches:
        return None
    ours = matches[0]
    return Remote(ours.id, ours.value, ours.ttl, tuple(matches[1:]))


def holding(matches: list, address: str) -> Remote | None:
    """The record among `matches` holding `address` (after "it exists already"), the rest as its `others`."""
    ours = next((m for m in matches if m.value == address), None)
    if ours is None:
        return None
    return Remote(ours.id, ours.value, ours.ttl, tuple(m for m in matches if m is not ours))


def ours_holding(matches: list, record_id: str, address: str, who: str, action: str, code: object,
                 provider: str) -> Remote:
    """After "an identical record exists" to an update of `record_id`: ours, if it holds `address`.

    That answer is success only when our record holds the address. When another record holds it
    and ours stays stale, raise ProviderError naming both (no stop: the next run looks again);
    NotFoundError when ours is not listed any more.
    """
    from ddns_agent.errors import NotFoundError, ProviderError

    ours = next((m for m in matches if m.id == str(record_id)), None)
    if ours is None:
        raise NotFoundError("%s does not list record %s any more" % (who, record_id), provider=provider)
    others = tuple(m for m in matches if m.id != ours.id)
    if ours.value == address:
        return Remote(ours.id, address, ours.ttl, others)
    holders = ", ".join(m.id for m in others if m.value == address) or "another record"
    raise ProviderError("%s refused %s: record %s already holds %s (%s) while ours, %s, still holds %s: "
                        "delete one of them" % (who, action, holders, address, code, ours.id, ours.value),
                        status=code, provider=provider)


#: longest provider message kept in an error (the log, state.json and `status` show it)
BRIEF_CHARS = 160


def brief(code: object, message: object, secrets: tuple = ()) -> str:
    """`code message` on one printable line of at most BRIEF_CHARS, with every secret replaced.

    Provider messages can be long (Alibaba's SignatureDoesNotMatch appends its whole string to
    sign) or hostile (newlines, escapes); only the start says what went wrong.
    """
    text = "%s %s" % (code, message) if message not in (None, "") else str(code)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return text if len(text) <= BRIEF_CHARS else text[:BRIEF_CHARS - 3].rstrip() + "..."


class Provider:
    """Base class. Full APIs implement find/create/update; update-only ones just `update`."""

    #: provider type name, as in `option type`
    type = ""
    #: True when the API can read records (find/create); False for update-only protocols
    can_find = True
    #: False for providers that speak no HTTP (log, rfc2136): no Http object is built for them
    uses_http = True
    #: True when the provider can hold several records of one name/type (record sets)
    multi = False

    def __init__(self, options: dict, http) -> None:
        self.options = options
        self.http = http

    def secret(self, name: str) -> str:
        """The text of secret option `name` ('' when unset)."""
        value = self.options.get(name)
        return value.reveal() if hasattr(value, "reveal") else str(value or "")

    def key_pair(self, id_option: str, secret_option: str) -> tuple:
        """A signed API's key: (the key id as written, its secret revealed; '' when unset)."""
        return str(self.options.get(id_option) or ""), self.secret(secret_option)

    @staticmethod
    def signed_host(endpoint: str) -> str:
        """The Host header of `endpoint` as a signature covers it: host[:port], lower case, no userinfo.

        Host is signed, so it is sent exactly as signed rather than left to the transport.
        """
        from urllib.parse import urlsplit

        return urlsplit(endpoint).netloc.rpartition("@")[2].lower()

    def exchange(self, method: str, url: str, headers: dict, body: dict | bytes | None) -> tuple:
        """Send one request; (response, its parsed JSON or None), 429 and 5xx raised.

        A dict body goes as JSON with Content-Type set; bytes go as they are.
        """
        data = body
        if isinstance(body, dict):
            data = dumps(body).encode("utf-8")
            headers = {**headers, "Content-Type": "application/json"}
        resp = self.http.request(method, url, headers, data)
        if resp.status == 429 or resp.status >= 500:  # an import statement per request costs ~1 us
            from ddns_agent.http import raise_for_status

            raise_for_status(resp, self.type)
        try:
            return resp, resp.json()
        except UnconfirmedError:
            # an error status may come with an HTML page; the caller words the error from the status
            return resp, None

    def json_exchange(self, method: str, url: str, headers: dict, body: dict | bytes | None, malformed,
                      want: type = dict, empty: bool = False) -> tuple:
        """`exchange` with the REST rule: (response, the answer of a 2xx, else the error object or {}).

        A 2xx answer that is not a `want` raises `malformed(status)`; `empty`: a 204 answers {}.
        """
        resp, answer = self.exchange(method, url, headers, body)
        if 200 <= resp.status < 300:
            if empty and resp.status == 204:
                return resp, {}
            if answer is None or not isinstance(answer, want):
                raise malformed(resp.status)
            return resp, answer
        return resp, answer if isinstance(answer, dict) else {}

    def find(self, rec: RecordSpec) -> Remote | None:
        """Return the remote record for `rec`, or None when it does not exist."""
        return None

    def find_all(self, rec: RecordSpec) -> list:
        """Every record of `rec`'s name and type (and line) at the provider, as Remotes with ids."""
        raise NotImplementedError

    def delete(self, rec: RecordSpec, remote: Remote) -> None:
        """Delete the record `remote` (by id); NotFoundError when it is already gone counts as done."""
        raise NotImplementedError

    def create(self, rec: RecordSpec, address: str) -> Remote:
        """Create the record with `address`; return it with its id."""
        return self.update(rec, Remote(None, None), address)

    def update(self, rec: RecordSpec, remote: Remote, address: str) -> Remote:
        """Point the existing record `remote` at `address`; raise NotFoundError if its id is stale."""
        raise NotImplementedError

    def check(self) -> str:
        """One read-only call proving credentials and zone access; return a short description."""
        return "no read-only check for this protocol"


def ascii_name(name: str) -> str:
    """A DNS name as APIs want it: lower case, punycode for an IDN, no trailing dot."""
    name = name.rstrip(".").lower()
    if name.isascii():
        return name
    from ddns_agent.errors import ConfigError

    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        raise ConfigError("not a valid internationalised domain name: %r" % name, option="domain")
