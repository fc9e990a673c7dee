"""Porkbun API v3 with an API key pair (docs/providers/porkbun.md).

Every call is a POST whose JSON body carries `apikey` and `secretapikey`. A Remote id is
"<record id>/<ttl>": an edit by id must send the TTL (Porkbun's default would replace it), and the
agent's state keeps only the id, so the TTL the record had travels with it.
"""

from __future__ import annotations

from urllib.parse import quote

from ddns_agent import jsonlib
from ddns_agent.errors import AuthError, NotFoundError, RejectedError, UnconfirmedError
from ddns_agent.http import raise_for_status, url_join
from ddns_agent.providers.base import Provider, RecordSpec, Remote, ascii_name

DEFAULT_ENDPOINT = "https://api.porkbun.com/api/json/v3"


class Porkbun(Provider):
    """A, AAAA records of a Porkbun domain with API ACCESS switched on."""

    type = "porkbun"

    def __init__(self, options: dict, http) -> None:
        super().__init__(options, http)
        self._keys = {}
        for option, field in (("api_key", "apikey"), ("secret_api_key", "secretapikey")):
            value = options.get(option)
            self._keys[field] = value.reveal() if hasattr(value, "reveal") else str(value or "")
        self.endpoint = options.get("endpoint") or DEFAULT_ENDPOINT

    def find(self, rec: RecordSpec) -> Remote | None:
        """The record named rec.fqdn of rec.type (retrieveByNameType; names matched here too)."""
        path = "dns/retrieveByNameType/%s/%s" % (_q(ascii_name(rec.domain)), rec.type)
        if _sub(rec):
            path += "/" + _q(_sub(rec))
        records = self._call(path, {}, rec).get("records")
        if not isinstance(records, list):
            raise self._malformed()
        name = ascii_name(rec.fqdn)
        for item in records:
            if isinstance(item, dict) and str(item.get("name", "")).lower() == name \
                    and item.get("type") == rec.type:
                return self._remote(item)
        return None

    def create(self, rec: RecordSpec, address: str) -> Remote:
        """Create the record; Porkbun's default TTL (600) unless the record sets one."""
        body = {"name": _sub(rec), "type": rec.type, "content": address}
        if rec.ttl:
            body["ttl"] = str(rec.ttl)
        answer = self._call("dns/create/" + _q(ascii_name(rec.domain)), body, rec)
        record_id = answer.get("id")
        if isinstance(record_id, bool) or not str(record_id).isdigit():
            raise self._malformed()
        return Remote(_id(str(record_id), rec.ttl or 600), address, rec.ttl or 600)

    def update(self, rec: RecordSpec, remote: Remote, address: str) -> Remote:
        """Edit by id with the content and the TTL the record has (or the configured one)."""
        record_id, _, ttl_text = (remote.id or "").partition("/")
        if not record_id.isdigit():
            raise NotFoundError("no current Porkbun record id for %s" % rec, provider=self.type)
        ttl = rec.ttl or (int(ttl_text) if ttl_text.isdigit() else remote.ttl)
        body = {"name": _sub(rec), "type": rec.type, "content": address}
        if ttl:
            body["ttl"] = str(ttl)
        self._call("dns/edit/%s/%s" % (_q(ascii_name(rec.domain)), record_id), body, rec, edit=True)
        return Remote(_id(record_id, ttl), address, ttl)

    def check(self) -> str:
        """`ping`: proves the key pair; changes nothing."""
        self._call("ping", {})
        return "API keys accepted"

    def _call(self, path: str, body: dict, rec: RecordSpec | None = None, edit: bool = False) -> dict:
        """One POST; the answer of a SUCCESS, else the matching error."""
        payload = dict(self._keys)
        payload.update(body)
        resp = self.http.request("POST", url_join(self.endpoint, path),
                                 {"Content-Type": "application/json", "Accept": "application/json"},
                                 jsonlib.dumps(payload).encode("utf-8"))
        raise_for_status(resp, self.type)
        try:
            answer = resp.json()
        except UnconfirmedError:
            answer = None
        if not isinstance(answer, dict) or answer.get("status") not in ("SUCCESS", "ERROR"):
            if 200 <= resp.status < 300:
                raise self._malformed(resp.status)
            raise RejectedError("Porkbun answered HTTP %d to %s" % (resp.status, _action(path)),
                                status=resp.status, provider=self.type)
        if answer["status"] == "SUCCESS" and 200 <= resp.status < 300:
            return answer
        message = str(answer.get("message") or "HTTP %d" % resp.status)
        for secret in self._keys.values():
            message = message.replace(secret, "***") if secret else message
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
        ttl_value = int(ttl) if ttl.isdigit() else None
        return Remote(_id(record_id, ttl_value), content, ttl_value)

    def _malformed(self, status: int | None = None) -> UnconfirmedError:
        return UnconfirmedError("malformed answer from Porkbun", status=status, provider=self.type)


def _action(path: str) -> str:
    """The API call a path names, for messages: create, edit, retrieveByNameType, ping."""
    parts = path.split("/")
    return parts[1] if len(parts) > 1 else parts[0]


def _id(record_id: str, ttl: int | None) -> str:
    return "%s/%d" % (record_id, ttl) if ttl else record_id


def _sub(rec: RecordSpec) -> str:
    """The subdomain as Porkbun wants it: empty for the apex."""
    return "" if rec.name in ("@", "") else ascii_name(rec.name)


def _q(segment: str) -> str:
    """A path segment, escaped so a name can never change the path."""
    return quote(str(segment), safe="*")
