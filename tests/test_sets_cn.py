"""Record sets end to end on DNSPod, Tencent Cloud and Alibaba Cloud DNS: the real command, two WANs."""

from __future__ import annotations

import pytest
from agent_env import REAL, AgentEnv, assert_no_secret, status_with
from fakes.alidns import AliDnsFake
from fakes.dnspod import DNSPodFake
from fakes.tencentcloud import TencentCloudFake

DNSPOD_TOKEN = "13490,9f1c2e7a5b3d4c6e8a0b1c2d3e4f5a6b"
TC_ID, TC_KEY = "AKIDs3tPr0vT3nc3ntCl0udK3y1d0000", "s3tPr0vT3nc3ntS3cr3tK3yV4lu3xyz"
ALI_ID, ALI_SECRET = "LTAI5ts3tPr0vAl1dnsK3y1d", "s3tPr0vAl1dnsS3cr3tV4lu3xyz0"

RECORD = """
config agent
\toption retry_max '0'
config record 'home'
\toption provider 'p'
\toption domain 'example.com'
\toption name 'home'
\tlist interface 'wan'
\tlist interface 'wanb'
config provider 'p'
\toption endpoint '%(url)s'
\toption cacert '%(ca)s'
"""


class DNSPodSide:
    secret = DNSPOD_TOKEN.partition(",")[2]
    list, create, delete = "Record.List", "Record.Create", "Record.Remove"

    def __init__(self, tmp_path) -> None:
        self.fake = DNSPodFake(DNSPOD_TOKEN)
        token = tmp_path / "dnspod.token"
        token.write_text(DNSPOD_TOKEN + "\n")
        token.chmod(0o600)
        self.options = "\toption type 'dnspod'\n\toption login_token_file '%s'\n" % token

    def action(self, req) -> str:
        return req.route.strip("/")

    def add(self, value: str) -> None:
        self.fake.add("example.com", "home", "A", value)

    def held(self) -> list:
        return sorted(r["value"] for r in self.fake.records.values() if r["name"] == "home")


class TencentSide:
    secret = TC_KEY
    list, create, delete = "DescribeRecordList", "CreateRecord", "DeleteRecord"

    def __init__(self, tmp_path) -> None:
        self.fake = TencentCloudFake(TC_ID, TC_KEY)
        key = tmp_path / "secret_key"
        key.write_text(TC_KEY + "\n")
        key.chmod(0o600)
        self.options = ("\toption type 'tencentcloud'\n\toption secret_id '%s'\n"
                        "\toption secret_key_file '%s'\n" % (TC_ID, key))

    def action(self, req) -> str:
        return req.headers.get("x-tc-action")

    def add(self, value: str) -> None:
        self.fake.add("example.com", "home", "A", value)

    def held(self) -> list:
        return sorted(r["value"] for r in self.fake.named("home"))


class AliSide:
    secret = ALI_SECRET
    list, create, delete = "DescribeSubDomainRecords", "AddDomainRecord", "DeleteDomainRecord"

    def __init__(self, tmp_path) -> None:
        self.fake = AliDnsFake(ALI_ID, ALI_SECRET)
        self.options = ("\toption type 'alidns'\n\toption access_key_id '%s'\n"
                        "\toption access_key_secret '%s'\n" % (ALI_ID, ALI_SECRET))

    def action(self, req) -> str:
        return req.form.get("Action")

    def add(self, value: str) -> None:
        self.fake.add("example.com", "home", "A", value)

    def held(self) -> list:
        return sorted(r["value"] for r in self.fake.named("home"))


def wan_status(address: str | None) -> dict:
    if address is None:
        return status_with(REAL / "dhcp-public" / "status_wan_up.json", up=False,
                           **{"ipv4-address": [], "ipv6-address": []})
    return status_with(REAL / "dhcp-public" / "status_wan_up.json",
                       **{"ipv4-address": [{"address": address, "mask": 24}]})


@pytest.fixture(params=[DNSPodSide, TencentSide, AliSide], ids=["dnspod", "tencentcloud", "alidns"])
def side(request, tmp_path, serve):
    side = request.param(tmp_path)
    side.server = serve(side.fake)
    side.env = AgentEnv(tmp_path)
    side.env.config(RECORD % {"url": side.server.url, "ca": side.server.cafile} + side.options)
    yield side
    assert side.fake.errors == []
    assert getattr(side.fake, "noop_modifications", 0) == 0


def test_two_wans_keep_two_records_and_a_wan_going_down_deletes_only_its_own(side):
    env, server = side.env, side.server
    side.fake.max_round_robin = 10  # a paid plan: the foreign record and both members fit
    side.add("192.0.2.99")  # someone else's record of the name
    env.interface("wan", wan_status("203.0.113.5"))
    env.interface("wanb", wan_status("198.51.100.7"))
    runs = [env.run("update")]
    assert runs[-1].returncode == 0, runs[-1].stderr
    assert side.held() == ["192.0.2.99", "198.51.100.7", "203.0.113.5"]
    assert [side.action(r) for r in server.requests] == [side.list, side.create, side.create]
    assert [(m["address"], m["source"]) for m in env.saved()["home"]["members"]] == [
        ("203.0.113.5", "wan"), ("198.51.100.7", "wanb")]

    server.requests.clear()
    runs.append(env.run("update"))
    assert runs[-1].returncode == 0 and server.requests == []  # steady state: nothing sent

    env.interface("wanb", wan_status(None))
    runs.append(env.run("update"))
    assert runs[-1].returncode == 0, runs[-1].stderr
    assert [side.action(r) for r in server.requests] == [side.delete]
    assert side.held() == ["192.0.2.99", "203.0.113.5"]  # the foreign record stays
    assert [m["address"] for m in env.saved()["home"]["members"]] == ["203.0.113.5"]
    assert_no_secret(env, tuple(runs), side.secret)


def test_a_free_dnspod_plan_refuses_the_third_record_and_the_other_member_stays(tmp_path, serve):
    side = DNSPodSide(tmp_path)
    side.server = server = serve(side.fake)
    env = AgentEnv(tmp_path)
    env.config(RECORD % {"url": server.url, "ca": server.cafile} + side.options)
    side.add("192.0.2.99")  # with it, the free plan has room for one member only
    env.interface("wan", wan_status("203.0.113.5"))
    env.interface("wanb", wan_status("198.51.100.7"))
    done = env.run("update")
    assert done.returncode == 1
    assert "500025" in done.stderr and "Traceback" not in done.stderr
    assert side.held() == ["192.0.2.99", "203.0.113.5"]
    assert [m["address"] for m in env.saved()["home"]["members"]] == ["203.0.113.5"]
    assert_no_secret(env, (done,), side.secret)


@pytest.mark.parametrize("ttl", ["600", None], ids=["option-ttl", "provider-ttl"])
def test_one_member_change_is_one_request(side, ttl):
    # without `option ttl` the member's TTL kept from its last answer spares reading it first
    env, server = side.env, side.server
    wan = "\tlist interface 'wan'\n"
    if ttl:
        env.config(env.conf.read_text().replace(wan, "\toption ttl '%s'\n" % ttl + wan))
    env.interface("wan", wan_status("203.0.113.5"))
    env.interface("wanb", wan_status("198.51.100.7"))
    assert env.run("update").returncode == 0
    server.requests.clear()
    env.interface("wanb", wan_status("198.51.100.9"))
    done = env.run("update")
    assert done.returncode == 0, done.stderr
    assert len(server.requests) == 1
    assert side.held() == ["198.51.100.9", "203.0.113.5"]
    assert [m["address"] for m in env.saved()["home"]["members"]] == ["203.0.113.5", "198.51.100.9"]
    assert sorted(r["ttl"] for r in side.fake.records.values()) == [600, 600]  # the TTL kept


def test_an_address_a_foreign_record_holds_is_never_adopted_nor_deleted(side):
    env, server = side.env, side.server
    side.add("198.51.100.7")  # someone else's record holds wanb's address
    env.interface("wan", wan_status("203.0.113.5"))
    env.interface("wanb", wan_status("198.51.100.7"))
    assert env.run("update").returncode == 0
    assert [side.action(r) for r in server.requests] == [side.list, side.create]
    assert [(m["source"], m["id"] is None) for m in env.saved()["home"]["members"]] == [
        ("wan", False), ("wanb", True)]
    server.requests.clear()
    env.interface("wanb", wan_status(None))
    done = env.run("update")
    assert done.returncode == 0, done.stderr
    assert server.requests == [] and side.held() == ["198.51.100.7", "203.0.113.5"]


def test_a_new_ttl_is_set_on_each_member_or_said_to_be_refused(side):
    env = side.env
    env.interface("wan", wan_status("203.0.113.5"))
    env.interface("wanb", wan_status("198.51.100.7"))
    assert env.run("update").returncode == 0
    wan = "\tlist interface 'wan'\n"
    env.config(env.conf.read_text().replace(wan, "\toption ttl '1200'\n" + wan))
    done = env.run("update")
    ttls = sorted(r["ttl"] for r in side.fake.records.values())
    if isinstance(side, AliSide):  # the fake refuses a TTL-only update as a duplicate (specs §3.2)
        assert done.returncode == 1 and ttls == [600, 600]
        assert "error: home.example.com A: failed: " in done.stderr
        assert "refused to change only the TTL of record" in done.stderr
    else:
        assert done.returncode == 0, done.stderr
        assert ttls == [1200, 1200]
