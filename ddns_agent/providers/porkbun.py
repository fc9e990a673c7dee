"""Porkbun API v3 with an API key pair (docs/providers/porkbun.md).

Every call is a POST whose JSON body carries `apikey` and `secretapikey`. An edit by id must send
the TTL (Porkbun's default would replace it): the one the agent cached with the id, else one read.
"""

from __future__ import annotations

from urllib.parse import quote

from ddns_agent.errors import AuthError, NotFoundError, RejectedError, UnconfirmedError
from ddns_agent.http import url_join
from ddns_agent.providers.base import Provider, RecordSpec, Remote, ascii_name, brief, first_of

DEFAULT_ENDPOINT = "https://api.porkbun.com/api/json/v3"
DEFAULT_TTL = 600  # Porkbun's minimum and default


class Porkbun(Provider):
    """A, AAAA records of a Porkbun domain with API ACCESS switched on."""

    type = "porkbun"

    def __init__(self, options: dict, http) -> None:
        super().__init__(options, http)
        self._keys = {}
        for option, field in (("api_key", "apikey"), ("secret_api_key", "secretapikey")):
            self._keys[field] = self.secret(option)
        self.endpoint = options.get("endpoint") or DEFAULT_ENDPOINT

    def find(self, rec: RecordSpec) -> Remote | None:
        """The first record named rec.fqdn of rec.type; the others of that name in `others`."""
        return first_of(self._matches(rec))

    def _matches(self, rec: RecordSpec) -> list:
        """Every record named rec.fqdn of rec.type (retrieveByNameType; names matched here too)."""
        path = "dns/retrieveByNameType/%s/%s" % (_q(ascii_name(rec.domain)), rec.type)
        if _sub(rec):
            path += "/" + _q(_sub(rec))
        records = self._call(path, {}, rec).get("records")
        if not isinstance(records, list):
            raise self._malformed()
        name = ascii_name(rec.fqdn)
        return [self._remote(item) for item in records if isinstance(item, dict)
                and str(item.get("name", "")).lower() == name and item.get("type") == rec.type]

    def create(self, rec: RecordSpec, address: str) -> Remote:
        """Create the record; Porkbun's default TTL (600) unless the record sets one."""
        body = {"name": _sub(rec), "type": rec.type, "content": address}
        if rec.ttl:
            body["ttl"] = str(rec.ttl)
        answer = self._call("dns/create/" + _q(ascii_name(rec.domain)), body, rec)
        record_id = answer.get("id")
        if isinstance(record_id, bool) or not str(record_id).isdigit():
            raise self._malformed()
        return Remote(str(record_id), address, rec.ttl or DEFAULT_TTL)

    def update(self, rec: RecordSpec, remote: Remote, address: str) -> Remote:
        """Edit by id with the content and the TTL the record has (or the configured one)."""
        record_id = str(remote.id or "")
        if not record_id.isdigit():
            raise NotFoundError("no current Porkbun record id for %s" % rec, provider=self.type)
        ttl = rec.ttl or remote.ttl or self._ttl_of(rec, record_id)
        body = {"name": _sub(rec), "type": rec.type, "content": address, "ttl": str(ttl)}
        self._call("dns/edit/%s/%s" % (_q(ascii_name(rec.domain)), record_id), body, rec, edit=True)
        return Remote(record_id, address, ttl)

    def _ttl_of(self, rec: RecordSpec, record_id: str) -> int:
        """The TTL record `record_id` has now (one read); NotFoundError when it is not listed."""
        for match in self._matches(rec):
            if match.id == record_id:
                return match.ttl or DEFAULT_TTL
        raise NotFoundError("Porkbun does not list record %s for %s" % (record_id, rec), provider=self.type)

    def check(self) -> str:
        """`ping`: proves the key pair; changes nothing."""
        self._call("ping", {})
        return "API keys accepted"

    def _call(self, path: str, body: dict, rec: RecordSpec | None = None, edit: bool = False) -> dict:
        """One POST; the answer of a SUCCESS, else the matching error."""
        payload = dict(self._keys)
        payload.update(body)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        resp, answer = self.exchange("POST", url_join(self.endpoint, path), headers, payload)
        if not isinstance(answer, dict) or answer.get("status") not in ("SUCCESS", "ERROR"):
            if 200 <= resp.status < 300:
                raise self._malformed(resp.status)
            raise RejectedError("Porkbun answered HTTP %d to %s" % (resp.status, _action(path)),
                                status=resp.status, provider=self.type)
        if answer["status"] == "SUCCESS" and 200 <= resp.status < 300:
            return answer
        message = brief(answer.get("message") or "HTTP %d" % resp.status, "", tuple(self._keys.values()))
        lower = message.lower()
        if "api key" in lower or "apikey" in lower or resp.status in (401, 403) and "api access" not in lower:
            raise AuthError("Porkbun refused the API keys: %s" % message, status=resp.status,
                            provider=self.type)
        if "api access" in lower or "opted in" in lower:
            raise RejectedError("Porkbun: API ACCESS is off for %s (switch it on in Domain Management): %s"
                                % (rec.domain if rec else "this domain", message),
                                status=resp.status, provider=self.type)
        if edit and "edit error" in lower:  # the id is gone (or the record is no longer editable)
            raise NotFoundError("Porkbun could not edit the record: %s" % message, status=resp.status,
                                provider=self.type)
        raise RejectedError("Porkbun refused %s: %s" % (_action(path), message), status=resp.status,
                            provider=self.type)

    def _remote(self, item: dict) -> Remote:
        record_id, content, ttl = str(item.get("id", "")), item.get("content"), str(item.get("ttl", ""))
        if not record_id.isdigit() or not isinstance(content, str):
            raise self._malformed()
        return Remote(record_id, content, int(ttl) if ttl.isdigit() else None)

    def _malformed(self, status: int | None = None) -> UnconfirmedError:
        return UnconfirmedError("malformed answer from Porkbun", status=status, provider=self.type)


def _action(path: str) -> str:
    """The API call a path names, for messages: create, edit, retrieveByNameType, ping."""
    parts = path.split("/")
    return parts[1] if len(parts) > 1 else parts[0]


def _sub(rec: RecordSpec) -> str:
    """The subdomain as Porkbun wants it: empty for the apex."""
    return "" if rec.name in ("@", "") else ascii_name(rec.name)


def _q(segment: str) -> str:
    """A path segment, escaped so a name can never change the path."""
    return quote(str(segment), safe="*")
