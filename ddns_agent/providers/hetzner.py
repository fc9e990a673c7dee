"""Hetzner DNS through the Hetzner Cloud API (zones and RRSets) with an API token (docs/providers/hetzner.md).

The zone is addressed by its name (the record's domain), so no zone lookup is needed. A Remote id
is the RRSet id ("home/A"). An update is one `set_records` action, which replaces the RRSet's values
and keeps its TTL, labels and protection; a TTL the record sets is sent on create, and changed with
`change_ttl` only when the TTL known for the RRSet (read, or cached in state) is another one.
"""

from __future__ import annotations

from urllib.parse import quote

from ddns_agent.errors import AuthError, NotFoundError, RejectedError, UnconfirmedError
from ddns_agent.http import url_join
from ddns_agent.providers.base import Provider, RecordSpec, Remote, ascii_name, brief

DEFAULT_ENDPOINT = "https://api.hetzner.cloud/v1"


class Hetzner(Provider):
    """A, AAAA RRSets of a primary zone in Hetzner Console (token with Read & Write permission)."""

    type = "hetzner"

    def __init__(self, options: dict, http) -> None:
        super().__init__(options, http)
        self._token = self.secret("api_token")
        self.endpoint = options.get("endpoint") or DEFAULT_ENDPOINT

    def find(self, rec: RecordSpec) -> Remote | None:
        """GET the RRSet of rec.type at rec.name; None when it does not exist."""
        try:
            body = self._call("GET", self._rrset_path(rec))
        except NotFoundError:
            return None
        return self._remote(body.get("rrset"), rec)

    def create(self, rec: RecordSpec, address: str) -> Remote:
        """POST a new RRSet with the one address; the zone's default TTL unless the record sets one."""
        rrset = {"name": _label(rec), "type": rec.type, "records": [{"value": address}]}
        if rec.ttl:
            rrset["ttl"] = rec.ttl
        try:
            body = self._call("POST", "zones/%s/rrsets" % _q(ascii_name(rec.domain)), rrset)
        except NotFoundError as exc:  # the zone itself
            raise RejectedError("zone %s not found with this Hetzner API token: %s"
                                % (rec.domain, exc.message), status=exc.status, provider=self.type)
        return self._remote(body.get("rrset"), rec)

    def update(self, rec: RecordSpec, remote: Remote, address: str) -> Remote:
        """`set_records` to the one address (plus `change_ttl` when a read showed another TTL)."""
        if remote.id != "%s/%s" % (_label(rec), rec.type):
            raise NotFoundError("no current Hetzner RRSet id for %s" % rec, provider=self.type)
        body = self._call("POST", self._rrset_path(rec) + "/actions/set_records",
                          {"records": [{"value": address}]})
        self._action(body)
        ttl = remote.ttl
        if rec.ttl and remote.ttl is not None and remote.ttl != rec.ttl:
            self._action(self._call("POST", self._rrset_path(rec) + "/actions/change_ttl", {"ttl": rec.ttl}))
            ttl = rec.ttl
        return Remote(remote.id, address, ttl)

    def check(self) -> str:
        """List the zones the token reaches; changes nothing."""
        zones = self._call("GET", "zones?per_page=50").get("zones")
        if not isinstance(zones, list):
            raise self._malformed()
        if not zones:
            raise RejectedError("the Hetzner API token reaches no zone (is the zone migrated to Hetzner "
                                "Console, in this token's project?)", provider=self.type)
        return "token accepted; zones " + ", ".join(str(z.get("name")) for z in zones if isinstance(z, dict))

    def _rrset_path(self, rec: RecordSpec) -> str:
        return "zones/%s/rrsets/%s/%s" % (_q(ascii_name(rec.domain)), _q(_label(rec)), rec.type)

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        """One API call; the parsed JSON object of a 2xx answer, else the matching error."""
        headers = {"Authorization": "Bearer " + self._token, "Accept": "application/json"}
        url = url_join(self.endpoint, path)
        resp, answer = self.json_exchange(method, url, headers, body, self._malformed)
        if 200 <= resp.status < 300:
            return answer
        # {"error": {"code": "unauthorized", "message": "unable to authenticate", "details": {}}}
        error = answer.get("error")
        error = error if isinstance(error, dict) else {}
        code = str(error.get("code") or "HTTP %d" % resp.status)
        what = brief(code, error.get("message"), (self._token,))
        if resp.status == 401 or code == "unauthorized":
            raise AuthError("Hetzner refused the API token: %s" % what, status=code, provider=self.type)
        if code in ("forbidden", "token_readonly"):
            raise AuthError("the Hetzner API token may not do this (it needs Read & Write): %s" % what,
                            status=code, provider=self.type)
        if resp.status == 404:
            raise NotFoundError("Hetzner has no such RRSet or zone: %s" % what, status=code,
                                provider=self.type)
        raise RejectedError("Hetzner refused %s %s: %s" % (method, path.rsplit("/", 1)[-1], what),
                            status=code, provider=self.type)

    def _action(self, body: dict) -> None:
        """An action answer: refused when it already failed; running or done is accepted."""
        action = body.get("action")
        if not isinstance(action, dict) or not isinstance(action.get("status"), str):
            raise self._malformed()
        if action["status"] == "error":
            error = action.get("error") if isinstance(action.get("error"), dict) else {}
            what = brief(error.get("code"), error.get("message"), (self._token,))
            raise RejectedError("Hetzner action %s failed: %s" % (brief(action.get("command"), ""), what),
                                provider=self.type)

    def _remote(self, rrset, rec: RecordSpec) -> Remote:
        if not isinstance(rrset, dict) or not isinstance(rrset.get("records"), list):
            raise self._malformed()
        values = [r.get("value") for r in rrset["records"] if isinstance(r, dict)]
        if not values or not all(isinstance(v, str) for v in values):
            raise self._malformed()
        ttl = rrset.get("ttl")
        # several values: not ours to keep as they are; the next update leaves only the address
        value = values[0] if len(values) == 1 else ",".join(values)
        return Remote("%s/%s" % (_label(rec), rec.type), value, ttl if isinstance(ttl, int) else None)

    def _malformed(self, status: int | None = None) -> UnconfirmedError:
        return UnconfirmedError("malformed answer from Hetzner", status=status, provider=self.type)


def _label(rec: RecordSpec) -> str:
    """The RRSet name as Hetzner wants it: lower case, relative to the zone, '@' for the apex."""
    return "@" if rec.name in ("@", "") else ascii_name(rec.name)


def _q(segment: str) -> str:
    """A path segment, escaped so a name can never change the path ('@' stays as the docs write it)."""
    return quote(str(segment), safe="@")
