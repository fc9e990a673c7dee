"""Record sets on Tencent Cloud DNSPod API 3.0: several records of one name, listed, created and deleted."""

from __future__ import annotations

import json

import pytest
from fakes import Fault
from fakes.tencentcloud import TencentCloudFake
from test_tencentcloud import SECRET_ID, SECRET_KEY
from test_tencentcloud import Api as BaseApi

from ddns_agent.errors import AuthError, NotFoundError, RejectedError
from ddns_agent.providers.base import RecordSpec, Remote
from ddns_agent.providers.tencentcloud import TencentCloud


class Api(BaseApi):
    """The shared provider-test helper with a bare client's calls, to show what the fake refuses."""

    def code(self, action: str, params: dict) -> str | None:
        """The error code a bare signed call gets (None: success)."""
        return self.signed_post(action, params).get("Error", {}).get("Code")


@pytest.fixture
def api(serve, client):
    fake = TencentCloudFake(SECRET_ID, SECRET_KEY)
    server = serve(fake)
    yield Api(fake, server, client(server.cafile))
    assert fake.errors == []
    assert fake.noop_modifications == 0


def rec(name: str = "home", type: str = "A", **options) -> RecordSpec:
    return RecordSpec("home_v4", "example.com", name, type, None, options)


def test_tencentcloud_keeps_record_sets():
    assert TencentCloud.multi is True


def test_find_all_lists_every_record_of_the_name_on_the_line(api):
    first = api.fake.add("example.com", "home", "A", "203.0.113.5")
    second = api.fake.add("example.com", "home", "A", "198.51.100.7", ttl=1200)
    api.fake.add("example.com", "home", "A", "198.51.100.8", line="电信")
    api.fake.add("example.com", "home2", "A", "198.51.100.9")
    api.fake.add("example.com", "home", "AAAA", "2001:db8::9")
    found = api.provider().find_all(rec())
    assert [(r.id, r.value, r.ttl) for r in found] == [(first, "203.0.113.5", 600),
                                                       (second, "198.51.100.7", 1200)]
    [sent] = api.server.requests
    assert {k: sent.json()[k] for k in ("Subdomain", "RecordType", "RecordLine")} == {
        "Subdomain": "home", "RecordType": "A", "RecordLine": "默认"}
    assert api.provider().find_all(rec("nothing")) == []  # ResourceNotFound.NoDataOfRecord


def test_a_line_given_by_id_filters_by_record_line_id(api):
    telecom = api.fake.add("example.com", "home", "A", "198.51.100.8", line="电信")
    api.fake.add("example.com", "home", "A", "203.0.113.5")
    assert [r.id for r in api.provider(record_line="10=0").find_all(rec())] == [telecom]
    assert "RecordLine" not in api.server.requests[-1].json()
    assert api.server.requests[-1].json()["RecordLineId"] == "10=0"


def test_find_all_reads_every_page(api):
    ids = [api.fake.add("example.com", "home", "A", "198.51.100.%d" % (i + 1)) for i in range(230)]
    found = api.provider().find_all(rec())
    assert [r.id for r in found] == ids
    assert [(r.json()["Offset"], r.json()["Limit"]) for r in api.server.requests] == [(0, 100), (100, 100),
                                                                                     (200, 100)]


def test_a_second_value_is_created_beside_the_first(api):
    first = api.fake.add("example.com", "home", "A", "203.0.113.5")
    made = api.provider().create(rec(), "198.51.100.7")
    assert api.actions() == ["CreateRecord"]
    assert made.id != first and made.value == "198.51.100.7"
    assert sorted(r["value"] for r in api.fake.named("home")) == ["198.51.100.7", "203.0.113.5"]


def test_an_exact_duplicate_is_refused_and_the_record_holding_it_adopted(api):
    api.fake.add("example.com", "home", "A", "203.0.113.5")
    holder = api.fake.add("example.com", "home", "A", "198.51.100.7")
    create = {"Domain": "example.com", "SubDomain": "home", "RecordType": "A", "RecordLine": "默认",
              "Value": "198.51.100.7"}
    assert api.code("CreateRecord", create) == "InvalidParameter.DomainRecordExist"
    adopted = api.provider().create(rec(), "198.51.100.7")
    assert (adopted.id, adopted.value) == (holder, "198.51.100.7")
    assert [o.value for o in adopted.others] == ["203.0.113.5"]
    assert len(api.fake.records) == 2


def test_a_free_plan_holds_two_records_per_name_and_line(api):
    for address in ("203.0.113.5", "198.51.100.7"):
        api.provider().create(rec(), address)
    with pytest.raises(RejectedError, match="LimitExceeded.SubdomainRollLimit .*: the plan allows no more "
                       "records of home.example.com A on this line"):
        api.provider().create(rec(), "192.0.2.9")
    for address in ("2001:db8::1", "2001:db8::2"):
        api.provider().create(rec(type="AAAA"), address)
    with pytest.raises(RejectedError, match="LimitExceeded.AAAACountLimit"):
        api.provider().create(rec(type="AAAA"), "2001:db8::3")
    assert len(api.fake.records) == 4
    api.fake.max_round_robin = 10
    api.provider().create(rec(), "192.0.2.9")


def test_delete_removes_that_record_only(api):
    keep = api.fake.add("example.com", "home", "A", "203.0.113.5")
    gone = api.fake.add("example.com", "home", "A", "198.51.100.7")
    assert api.provider().delete(rec(), Remote(gone, "198.51.100.7")) is None
    assert api.actions() == ["DeleteRecord"]
    assert api.server.requests[0].json() == {"Domain": "example.com", "RecordId": int(gone)}
    assert list(api.fake.records) == [int(keep)]


def test_delete_of_a_record_already_gone_is_not_found(api):
    gone = api.fake.add("example.com", "home", "A", "198.51.100.7")
    api.provider().delete(rec(), Remote(gone, "198.51.100.7"))
    with pytest.raises(NotFoundError, match="InvalidParameter.RecordIdInvalid"):
        api.provider().delete(rec(), Remote(gone, "198.51.100.7"))
    with pytest.raises(NotFoundError):
        api.provider().delete(rec(), Remote(None, "198.51.100.7"))
    assert api.actions() == ["DeleteRecord", "DeleteRecord"]


def test_a_refused_delete_names_the_code_and_never_the_key(api):
    record_id = api.fake.add("example.com", "home", "A", "198.51.100.7")
    echo = {"Response": {"Error": {"Code": "FailedOperation.DomainIsLocked", "Message": "locked; key %s"
                                   % SECRET_KEY}, "RequestId": "x"}}
    api.server.inject(Fault(body=json.dumps(echo)))
    with pytest.raises(RejectedError, match="refused DeleteRecord: FailedOperation.DomainIsLocked") as info:
        api.provider().delete(rec(), Remote(record_id, "198.51.100.7"))
    assert SECRET_KEY not in str(info.value)
    with pytest.raises(AuthError, match="AuthFailure.SignatureFailure"):
        api.provider(key=SECRET_KEY[::-1]).delete(rec(), Remote(record_id, None))
    assert api.fake.value(record_id) == "198.51.100.7"


def test_the_fake_refuses_deletes_and_pages_as_the_service_does(api):
    record_id = int(api.fake.add("example.com", "home", "A", "198.51.100.7"))
    assert api.code("DeleteRecord", {"Domain": "example.com"}) == "MissingParameter"
    assert api.code("DeleteRecord", {"Domain": "example.com", "RecordId": str(record_id)}) == \
        "InvalidParameter"
    assert api.code("DeleteRecord", {"Domain": "example.com", "RecordId": 1}) == \
        "InvalidParameter.RecordIdInvalid"
    assert api.code("DeleteRecord", {"Domain": "example.org", "RecordId": record_id}) == \
        "InvalidParameterValue.DomainNotExists"
    assert api.code("DescribeRecordList", {"Domain": "example.com", "Limit": 3001}) == \
        "InvalidParameterValue.LimitInvalid"
    api.fake.locked.add("example.com")
    assert api.code("DeleteRecord", {"Domain": "example.com", "RecordId": record_id}) == \
        "FailedOperation.DomainIsLocked"
    api.fake.locked.clear()
    assert api.fake.writes == 0 and record_id in api.fake.records
    assert set(api.signed_post("DeleteRecord", {"Domain": "example.com", "RecordId": record_id})) == {
        "RequestId"}
    assert api.code("DeleteRecord", {"Domain": "example.com", "RecordId": record_id}) == \
        "InvalidParameter.RecordIdInvalid"


def test_a_set_member_never_adopts_a_record_it_did_not_create(api):
    foreign = api.fake.add("example.com", "home", "A", "198.51.100.7")  # made by someone else
    member = RecordSpec("home_v4", "example.com", "home", "A", in_set=True)
    made = api.provider().create(member, "198.51.100.7")
    assert (made.id, made.value) == (None, "198.51.100.7")  # held, but not ours: never deleted later
    assert "DescribeRecordList" not in api.actions() and len(api.fake.records) == 1
    assert api.fake.value(foreign) == "198.51.100.7"
