"""Record sets on DNSPod (dnsapi.cn): several records of one name, listed, created and deleted."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from fakes import Fault
from fakes.dnspod import DNSPodFake
from test_dnspod import LOGIN_TOKEN
from test_dnspod import Api as BaseApi

from ddns_agent.errors import AuthError, NotFoundError, RejectedError
from ddns_agent.providers.base import RecordSpec, Remote
from ddns_agent.providers.dnspod import DNSPod


class Api(BaseApi):
    """The shared provider-test helper with a bare client's calls, to show what the fake refuses."""

    def post(self, action: str, **params) -> dict:
        """A bare client's call, to show what the fake refuses; the status envelope."""
        form = dict({"login_token": LOGIN_TOKEN, "format": "json", "domain": "example.com"}, **params)
        resp = self.http.request("POST", "%s/%s" % (self.server.url, action),
                                 {"Content-Type": "application/x-www-form-urlencoded",
                                  "User-Agent": "bare client/1.0 (tester@example.net)"},
                                 urlencode(form).encode())
        return resp.json()


@pytest.fixture
def api(serve, client):
    fake = DNSPodFake(LOGIN_TOKEN)
    server = serve(fake)
    yield Api(fake, server, client(server.cafile))
    assert fake.errors == []
    assert fake.noop_modifications == 0


def rec(name: str = "home", type: str = "A", **options) -> RecordSpec:
    return RecordSpec("home_v4", "example.com", name, type, None, options)


def test_dnspod_keeps_record_sets():
    assert DNSPod.multi is True


def test_find_all_lists_every_record_of_the_name_on_the_line_in_one_request(api):
    first = api.fake.add("example.com", "home", "A", "203.0.113.5")
    second = api.fake.add("example.com", "home", "A", "198.51.100.7", ttl=1200)
    api.fake.add("example.com", "home", "A", "198.51.100.8", line="电信")  # another line
    api.fake.add("example.com", "home2", "A", "198.51.100.9")  # another name
    api.fake.add("example.com", "home", "AAAA", "2001:db8::9")  # another type
    found = api.provider().find_all(rec())
    assert [(r.id, r.value, r.ttl) for r in found] == [(first, "203.0.113.5", 600),
                                                       (second, "198.51.100.7", 1200)]
    assert api.actions() == ["Record.List"]
    assert api.provider().find_all(rec("nothing")) == []


def test_find_all_reads_past_the_3000_rows_dnspod_answers_at_most(api):
    ids = [api.fake.add("example.com", "home", "A", "198.51.%d.%d" % (100 + i // 250, i % 250 + 1))
           for i in range(3002)]
    found = api.provider().find_all(rec())
    assert [r.id for r in found] == ids
    assert [(r.form["offset"], r.form["length"]) for r in api.server.requests] == [("0", "3000"),
                                                                                   ("3000", "3000")]


def test_a_second_value_is_created_beside_the_first(api):
    first = api.fake.add("example.com", "home", "A", "203.0.113.5")
    made = api.provider().create(rec(), "198.51.100.7")
    assert api.actions() == ["Record.Create"]
    assert made.id != first and made.value == "198.51.100.7"
    assert sorted(r["value"] for r in api.fake.records.values()) == ["198.51.100.7", "203.0.113.5"]


def test_an_exact_duplicate_is_refused_and_the_record_holding_it_adopted(api):
    api.fake.add("example.com", "home", "A", "203.0.113.5")
    holder = api.fake.add("example.com", "home", "A", "198.51.100.7")
    create = {"sub_domain": "home", "record_type": "A", "record_line": "默认", "value": "198.51.100.7"}
    assert api.post("Record.Create", **create)["status"]["code"] == "104"
    adopted = api.provider().create(rec(), "198.51.100.7")
    assert (adopted.id, adopted.value) == (holder, "198.51.100.7")  # not the first record listed
    assert [o.value for o in adopted.others] == ["203.0.113.5"]
    assert len(api.fake.records) == 2


def test_a_free_plan_holds_two_records_per_name_and_line(api):
    api.provider().create(rec(), "203.0.113.5")
    api.provider().create(rec(), "198.51.100.7")
    with pytest.raises(RejectedError, match="500025 .*: the plan allows no more records of "
                       "home.example.com A on this line") as info:
        api.provider().create(rec(), "192.0.2.9")
    assert info.value.status == "500025"
    api.provider().create(rec(type="AAAA"), "2001:db8::1")
    api.provider().create(rec(type="AAAA"), "2001:db8::2")
    with pytest.raises(RejectedError, match="33 AAAA record count"):
        api.provider().create(rec(type="AAAA"), "2001:db8::3")
    assert len(api.fake.records) == 4
    api.fake.max_round_robin = 10  # a paid plan
    api.provider().create(rec(), "192.0.2.9")


def test_delete_removes_that_record_only(api):
    keep = api.fake.add("example.com", "home", "A", "203.0.113.5")
    gone = api.fake.add("example.com", "home", "A", "198.51.100.7")
    assert api.provider().delete(rec(), Remote(gone, "198.51.100.7")) is None
    assert api.actions() == ["Record.Remove"]
    assert api.server.requests[0].form["record_id"] == gone
    assert list(api.fake.records) == [int(keep)]


def test_delete_of_a_record_already_gone_is_not_found(api):
    gone = api.fake.add("example.com", "home", "A", "198.51.100.7")
    api.provider().delete(rec(), Remote(gone, "198.51.100.7"))
    with pytest.raises(NotFoundError, match="8 Record id invalid"):
        api.provider().delete(rec(), Remote(gone, "198.51.100.7"))
    with pytest.raises(NotFoundError):
        api.provider().delete(rec(), Remote(None, "198.51.100.7"))
    assert api.actions() == ["Record.Remove", "Record.Remove"]  # no id: nothing to send


def test_a_refused_delete_names_the_code_and_never_the_token(api):
    record_id = api.fake.add("example.com", "home", "A", "198.51.100.7")
    echo = {"status": {"code": "7", "message": "no permission for %s" % LOGIN_TOKEN}}
    api.server.inject(Fault(body=json.dumps(echo)))
    with pytest.raises(RejectedError, match="refused Record.Remove: 7 no permission") as info:
        api.provider().delete(rec(), Remote(record_id, "198.51.100.7"))
    assert LOGIN_TOKEN.partition(",")[2] not in str(info.value)
    with pytest.raises(AuthError, match="-1 Login failed"):
        api.provider(token="13490,00000000000000000000000000000000").delete(rec(), Remote(record_id, None))
    assert api.fake.value(record_id) == "198.51.100.7"


def test_the_fake_refuses_removes_and_pages_as_dnsapi_cn_does(api):
    record_id = api.fake.add("example.com", "home", "A", "198.51.100.7")
    code = lambda action, **params: api.post(action, **params)["status"]["code"]  # noqa: E731
    assert code("Record.Remove") == "6"  # record_id missing
    assert code("Record.Remove", record_id="1") == "8"
    assert code("Record.Remove", record_id=record_id, domain="example.org") == "6"
    assert code("Record.List", offset="x") == "7"
    assert code("Record.List", length="0") == "8"
    assert api.fake.records and api.fake.writes == 0
    removed = api.post("Record.Remove", record_id=record_id)
    assert set(removed) == {"status"} and removed["status"]["code"] == "1"
    assert code("Record.Remove", record_id=record_id) == "8"  # gone


def test_code_8_to_a_listing_is_a_refusal_not_a_gone_record(api):
    # Record.List uses 8 for a bad `length`; only an action naming a record_id means "record gone" by it
    api.server.inject(Fault(body=json.dumps({"status": {"code": "8", "message": "Length invalid"}})))
    with pytest.raises(RejectedError, match="refused Record.List: 8 Length invalid") as info:
        api.provider().find_all(rec())
    assert not isinstance(info.value, NotFoundError)


def test_a_set_member_never_adopts_a_record_it_did_not_create(api):
    foreign = api.fake.add("example.com", "home", "A", "198.51.100.7")  # made by someone else
    member = RecordSpec("home_v4", "example.com", "home", "A", in_set=True)
    made = api.provider().create(member, "198.51.100.7")
    assert (made.id, made.value) == (None, "198.51.100.7")  # held, but not ours: never deleted later
    assert "Record.List" not in api.actions() and len(api.fake.records) == 1
    assert api.fake.value(foreign) == "198.51.100.7"
