"""Record sets on Alibaba Cloud DNS: several records of one RR, listed, added and deleted."""

from __future__ import annotations

import json
import os
import time

import pytest
from fakes import Fault
from fakes.alidns import AliDnsFake
from test_alidns import KEY_ID, KEY_SECRET
from test_alidns import Api as BaseApi

from ddns_agent.errors import AuthError, NotFoundError, RejectedError
from ddns_agent.providers.alidns import AliDns
from ddns_agent.providers.base import RecordSpec, Remote
from ddns_agent.providers.signing import rpc_query, rpc_signature, rpc_string_to_sign


class Api(BaseApi):
    """The shared provider-test helper with a bare client's calls, to show what the fake refuses."""

    def actions(self) -> list:
        return [r.form.get("Action") for r in self.server.requests]

    def code(self, params: dict) -> tuple:
        """(HTTP status, error code or None) of a bare client's signed POST."""
        form = {"Format": "JSON", "Version": "2015-01-09", "AccessKeyId": KEY_ID,
                "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
                "SignatureNonce": os.urandom(16).hex(),
                "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        form.update(params)
        form["Signature"] = rpc_signature(KEY_SECRET, rpc_string_to_sign("POST", form))
        form_type = {"Content-Type": "application/x-www-form-urlencoded"}
        resp = self.http.request("POST", self.server.url + "/", form_type, rpc_query(form).encode())
        return resp.status, resp.json().get("Code")


@pytest.fixture
def api(serve, client):
    fake = AliDnsFake(KEY_ID, KEY_SECRET)
    server = serve(fake)
    yield Api(fake, server, client(server.cafile))
    assert fake.errors == []


def rec(name: str = "home", type: str = "A") -> RecordSpec:
    return RecordSpec("home_v4", "example.com", name, type)


def test_alidns_keeps_record_sets():
    assert AliDns.multi is True


def test_find_all_lists_every_record_of_exactly_the_rr_on_the_default_line(api):
    first = api.fake.add("example.com", "home", "A", "203.0.113.5")
    second = api.fake.add("example.com", "home", "A", "198.51.100.7", ttl=1200)
    api.fake.add("example.com", "home", "A", "198.51.100.8", line="telecom")
    api.fake.add("example.com", "home2", "A", "198.51.100.9")  # the keyword search lists it too
    api.fake.add("example.com", "home", "AAAA", "2001:db8::9")
    found = api.provider().find_all(rec())
    assert [(r.id, r.value, r.ttl) for r in found] == [(first, "203.0.113.5", 600),
                                                       (second, "198.51.100.7", 1200)]
    assert api.actions() == ["DescribeSubDomainRecords"]
    assert api.provider().find_all(rec("nothing")) == []


def test_find_all_reads_every_page(api):
    for i in range(150):
        api.fake.add("example.com", "home%d" % i, "A", "198.51.100.1")  # near misses, listed first
    ids = [api.fake.add("example.com", "home", "A", "203.0.113.%d" % i) for i in range(1, 4)]
    assert [r.id for r in api.provider().find_all(rec())] == ids
    assert [(r.form["PageNumber"], r.form["PageSize"]) for r in api.server.requests] == [("1", "100"),
                                                                                        ("2", "100")]


def test_a_second_value_is_added_beside_the_first(api):
    first = api.fake.add("example.com", "home", "A", "203.0.113.5")
    made = api.provider().create(rec(), "198.51.100.7")
    assert api.actions() == ["AddDomainRecord"]
    assert made.id != first and made.value == "198.51.100.7"
    assert sorted(r["value"] for r in api.fake.named("home")) == ["198.51.100.7", "203.0.113.5"]


def test_an_exact_duplicate_is_refused_and_the_record_holding_it_adopted(api):
    api.fake.add("example.com", "home", "A", "203.0.113.5")
    holder = api.fake.add("example.com", "home", "A", "198.51.100.7")
    add = {"Action": "AddDomainRecord", "DomainName": "example.com", "RR": "home", "Type": "A",
           "Value": "198.51.100.7"}
    assert api.code(add) == (400, "DomainRecordDuplicate")
    adopted = api.provider().create(rec(), "198.51.100.7")
    assert (adopted.id, adopted.value) == (holder, "198.51.100.7")
    assert [o.value for o in adopted.others] == ["203.0.113.5"]
    assert len(api.fake.records) == 2


def test_the_free_edition_holds_ten_records_per_rr_and_line(api):
    for i in range(1, 11):
        api.provider().create(rec(), "198.51.100.%d" % i)
    with pytest.raises(RejectedError, match="QuotaExceeded.ARecord .*: the edition allows no more records of "
                       "home.example.com A on this line"):
        api.provider().create(rec(), "198.51.100.11")
    assert len(api.fake.named("home")) == 10


def test_delete_removes_that_record_only(api):
    keep = api.fake.add("example.com", "home", "A", "203.0.113.5")
    gone = api.fake.add("example.com", "home", "A", "198.51.100.7")
    assert api.provider().delete(rec(), Remote(gone, "198.51.100.7")) is None
    assert api.actions() == ["DeleteDomainRecord"]
    assert api.server.requests[0].form["RecordId"] == gone
    assert list(api.fake.records) == [keep]


def test_delete_of_a_record_already_gone_is_not_found(api):
    gone = api.fake.add("example.com", "home", "A", "198.51.100.7")
    api.provider().delete(rec(), Remote(gone, "198.51.100.7"))
    with pytest.raises(NotFoundError, match="DomainRecordNotBelongToUser"):
        api.provider().delete(rec(), Remote(gone, "198.51.100.7"))
    with pytest.raises(NotFoundError):
        api.provider().delete(rec(), Remote(None, "198.51.100.7"))
    assert api.actions() == ["DeleteDomainRecord", "DeleteDomainRecord"]


def test_a_locked_record_is_not_deleted_and_the_error_never_shows_the_secret(api):
    record_id = api.fake.add("example.com", "home", "A", "198.51.100.7")
    api.fake.locked.add(record_id)
    with pytest.raises(RejectedError, match="refused DeleteDomainRecord: DomainRecordLocked"):
        api.provider().delete(rec(), Remote(record_id, "198.51.100.7"))
    echo = {"Code": "Forbidden.RAM", "Message": "no right; key %s" % KEY_SECRET, "RequestId": "x"}
    api.server.inject(Fault(status=403, body=json.dumps(echo)))
    with pytest.raises(AuthError, match="may not call DeleteDomainRecord") as info:
        api.provider().delete(rec(), Remote(record_id, "198.51.100.7"))
    assert KEY_SECRET not in str(info.value)
    assert api.fake.value(record_id) == "198.51.100.7"


def test_the_fake_refuses_deletes_as_the_service_does(api):
    record_id = api.fake.add("example.com", "home", "A", "198.51.100.7")
    assert api.code({"Action": "DeleteDomainRecord"}) == (400, "MissingParameter")
    assert api.code({"Action": "DeleteDomainRecord", "RecordId": "1"}) == (400, "DomainRecordNotBelongToUser")
    assert api.fake.writes == 0 and record_id in api.fake.records
    assert api.code({"Action": "DeleteDomainRecord", "RecordId": record_id}) == (200, None)
    assert api.code({"Action": "DeleteDomainRecord", "RecordId": record_id}) == (
        400, "DomainRecordNotBelongToUser")


def test_a_set_member_never_adopts_a_record_it_did_not_create(api):
    foreign = api.fake.add("example.com", "home", "A", "198.51.100.7")  # made by someone else
    member = RecordSpec("home_v4", "example.com", "home", "A", in_set=True)
    made = api.provider().create(member, "198.51.100.7")
    assert (made.id, made.value) == (None, "198.51.100.7")  # held, but not ours: never deleted later
    assert "DescribeSubDomainRecords" not in api.actions() and len(api.fake.records) == 1
    assert api.fake.value(foreign) == "198.51.100.7"
