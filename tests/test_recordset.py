"""Record sets (issue 13): several interfaces on one name, one record per address, only ours touched."""

import json

import pytest
from agent_env import REAL, AgentEnv, assert_no_secret, status_with
from fakes.cloudflare import CloudflareFake

from ddns_agent import config, plan
from ddns_agent.config import RecordConfig

TOKEN = "cf-set-token-5d1c0a7e9b"
ZONE = "9a7806061c88ada191ed06f989cc3dac"
PREFIX = "/client/v4"
FQDN = "home.example.com"


# -- config ------------------------------------------------------------------------------------------

PROVIDERS = """
config provider 'cf'
\toption type 'cloudflare'
\toption api_token 'x'
config provider 'dyn'
\toption type 'dyndns2'
\toption password 'x'
\toption username 'u'
config provider 'duck'
\toption type 'duckdns'
\toption token 'x'
config provider 'hook'
\toption type 'webhook'
\toption url 'https://hook.example.net/?ip={ip}'
config provider 'hz'
\toption type 'hetzner'
\toption api_token 'x'
config provider 'dry'
\toption type 'log'
"""


def record(provider: str, lines: str, key: str = "home") -> str:
    return "config record '%s'\n\toption provider '%s'\n\toption domain 'example.com'\n" \
           "\toption name '%s'\n%s" % (key, provider, key, lines)


def check(tmp_path, text: str) -> tuple:
    path = tmp_path / "ddns_agent"
    path.write_text(PROVIDERS + text)
    return config.check(str(path))


def test_list_interface_makes_a_set_and_a_single_interface_stays_plain(tmp_path):
    cfg, errors = check(tmp_path, record("cf", "\tlist interface 'wan'\n\tlist interface 'wanb'\n")
                        + record("cf", "\tlist device 'eth1'\n\tlist device 'eth2'\n", "dev")
                        + record("cf", "\toption interface 'wan'\n", "plain")
                        + record("cf", "\tlist interface 'wan'\n", "one"))
    assert errors == []
    home, dev, plain, one = cfg.records
    assert home.members == (("interface", "wan"), ("interface", "wanb"))
    assert (home.interface, home.device) == (None, None)
    assert dev.members == (("device", "eth1"), ("device", "eth2"))
    assert (plain.members, plain.interface) == ((), "wan")
    assert (one.members, one.interface) == ((), "wan")  # a list of one is a plain record


@pytest.mark.parametrize("provider, words", [
    ("dyn", "dyndns2 keeps one address per name and type"),
    ("duck", "duckdns keeps one address per name and type"),
    ("hook", "webhook keeps one address per name and type"),
    ("hz", "hetzner keeps one address per name and type"),
])
def test_a_set_on_a_one_record_provider_is_a_config_error_naming_the_option(tmp_path, provider, words):
    cfg, errors = check(tmp_path, record(provider, "\tlist interface 'wan'\n\tlist interface 'wanb'\n"))
    assert cfg is None and len(errors) == 1
    text = str(errors[0])
    assert text.startswith("%s:" % (tmp_path / "ddns_agent")) and "home.interface:" in text
    assert words in text and "use one record per interface" in text
    assert "needs a provider that holds several records of one name (cloudflare, rfc2136" in text
    assert "\n" not in text


def test_a_dry_run_set_on_the_log_provider_logs_each_member(tmp_path):
    env = AgentEnv(tmp_path)
    env.config(PROVIDERS + record("dry", "\tlist interface 'wan'\n\tlist interface 'wanb'\n"))
    env.interface("wan", wan_status("203.0.113.5"))
    env.interface("wanb", wan_status("198.51.100.7"))
    assert env.run("update").returncode == 0
    env.interface("wanb", wan_status(None))
    done = env.run("update")
    assert done.returncode == 0, done.stderr
    assert "home.example.com A: wanb is down: 198.51.100.7 leaves the set" in done.stderr
    assert [m["address"] for m in env.saved()["home"]["members"]] == ["203.0.113.5"]


def test_a_set_with_an_upstream_source_is_a_config_error(tmp_path):
    _, errors = check(tmp_path, record("cf", "\tlist interface 'wan'\n\tlist interface 'wanb'\n"
                                             "\toption source 'stun'\n"))
    assert [e.option for e in errors] == ["source"]
    assert "source stun cannot be used" in str(errors[0])


def test_a_bad_name_in_the_list_names_the_option(tmp_path):
    _, errors = check(tmp_path, record("cf", "\tlist interface 'wan'\n\tlist interface 'wa n'\n"))
    assert [(e.section, e.option) for e in errors] == [("home", "interface")]


def test_cli_check_exits_2_with_one_line_per_problem(tmp_path):
    env = AgentEnv(tmp_path)
    env.config(PROVIDERS + record("dyn", "\tlist interface 'wan'\n\tlist interface 'wanb'\n"))
    done = env.run("check")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "home.interface: a record with several interfaces" in done.stderr


# -- plan (pure) -------------------------------------------------------------------------------------

class Sel:
    def __init__(self, address=None, status="ok", reason=""):
        self.address, self.status, self.reason, self.origin = address, status, reason, "netifd"


def set_rec(**kw):
    r = RecordConfig("home", "cf", "example.com", "home", **kw)
    r.members = (("interface", "wan"), ("interface", "wanb"))
    return r


def decide(wan, wanb, saved=None, now=1000.0, force=False, event=False):
    r = set_rec()
    p = plan.plan([r], {"home": [("wan", wan), ("wanb", wanb)]}, {"home": saved} if saved else {}, now,
                  force, 86400, {"home": "h1"}, event=event)
    return p.items[0]


def owned(*members, **extra):
    saved = {"config": "h1", "checked": 900, "members": [
        {"address": a, "source": s, "id": i} for a, s, i in members]}
    saved["address"] = ", ".join(m["address"] for m in saved["members"])
    saved.update(extra)
    return saved


def actions(item):
    return [(m["source"], m["address"], m["action"]) for m in item.members]


def test_first_run_creates_one_member_per_wan_after_reading_the_provider():
    item = decide(Sel("203.0.113.5"), Sel("198.51.100.7"))
    assert item.action == "publish" and item.verify
    assert actions(item) == [("wan", "203.0.113.5", "create"), ("wanb", "198.51.100.7", "create")]
    assert item.reason == "wan: 203.0.113.5 joins the set; wanb: 198.51.100.7 joins the set"


def test_steady_state_keeps_the_set():
    saved = owned(("203.0.113.5", "wan", "z/1"), ("198.51.100.7", "wanb", "z/2"))
    item = decide(Sel("203.0.113.5"), Sel("198.51.100.7"), saved)
    assert (item.action, item.reason) == ("keep", "unchanged")


def test_a_wan_going_down_leaves_the_set_and_plan_says_so():
    saved = owned(("203.0.113.5", "wan", "z/1"), ("198.51.100.7", "wanb", "z/2"))
    item = decide(Sel("203.0.113.5"), Sel(None, "down", "wanb is down"), saved)
    assert item.action == "publish" and not item.verify
    assert actions(item) == [("wan", "203.0.113.5", "keep"), ("wanb", "198.51.100.7", "delete")]
    assert item.reason == "wanb is down: 198.51.100.7 leaves the set"
    assert item.to_json()["members"][1] == {"address": "198.51.100.7", "source": "wanb",
                                            "action": "delete", "previous": None}
    assert item.to_json()["address"] == "203.0.113.5"


def test_a_wan_down_without_a_member_is_named_in_the_reason():
    saved = owned(("203.0.113.5", "wan", "z/1"))
    item = decide(Sel("203.0.113.5"), Sel(None, "down", "wanb is down"), saved)
    assert (item.action, item.reason) == ("keep", "unchanged; wanb is down")


def test_a_changed_address_re_points_its_own_member_instead_of_delete_and_create():
    saved = owned(("203.0.113.5", "wan", "z/1"), ("198.51.100.7", "wanb", "z/2"))
    item = decide(Sel("203.0.113.5"), Sel("198.51.100.9"), saved)
    assert actions(item) == [("wan", "203.0.113.5", "keep"), ("wanb", "198.51.100.9", "update")]
    assert item.members[1]["id"] == "z/2" and item.members[1]["previous"] == "198.51.100.7"
    assert item.reason == "wanb: 198.51.100.9 replaces 198.51.100.7"


def test_a_leaving_member_is_re_pointed_when_another_wan_needs_a_record():
    saved = owned(("198.51.100.7", "wanb", "z/2"))  # wan came up only now, as wanb went down
    item = decide(Sel("203.0.113.8"), Sel(None, "down", "wanb is down"), saved)
    assert actions(item) == [("wan", "203.0.113.8", "update")]
    assert item.members[0]["id"] == "z/2"
    assert item.reason == "wan: 203.0.113.8 replaces 198.51.100.7; wanb is down"


def test_every_wan_down_keeps_the_set_as_it_is():
    saved = owned(("203.0.113.5", "wan", "z/1"), ("198.51.100.7", "wanb", "z/2"))
    item = decide(Sel(None, "down", "wan is down"), Sel(None, "down", "wanb is down"), saved)
    assert item.action == "keep" and item.members is None
    assert item.reason == "wan is down; wanb is down; keeping the published record"


def test_an_unreadable_wan_keeps_its_member():
    saved = owned(("203.0.113.5", "wan", "z/1"), ("198.51.100.7", "wanb", "z/2"))
    item = decide(Sel("203.0.113.5"), Sel(None, "error", "ubus timed out"), saved)
    assert item.action == "keep" and item.unreadable
    assert actions(item) == [("wan", "203.0.113.5", "keep"), ("wanb", "198.51.100.7", "keep")]


def test_a_refused_address_leaves_the_set():
    saved = owned(("203.0.113.5", "wan", "z/1"), ("198.51.100.7", "wanb", "z/2"))
    item = decide(Sel("203.0.113.5"), Sel(None, "refused", "100.64.0.9 is a CGNAT address"), saved)
    assert actions(item)[1] == ("wanb", "198.51.100.7", "delete")


def test_two_wans_with_one_address_make_one_member():
    item = decide(Sel("203.0.113.5"), Sel("203.0.113.5"))
    assert actions(item) == [("wan", "203.0.113.5", "create")]


def test_a_record_published_before_it_became_a_set_is_adopted_by_its_id():
    saved = {"config": "h1", "checked": 900, "address": "203.0.113.5", "id": "z/1", "source": "netifd wan"}
    item = decide(Sel("203.0.113.5"), Sel("198.51.100.7"), saved)
    assert actions(item) == [("wan", "203.0.113.5", "keep"), ("wanb", "198.51.100.7", "create")]
    moved = decide(Sel("203.0.113.9"), Sel("198.51.100.7"), saved)  # wan's own record is re-pointed
    assert actions(moved) == [("wan", "203.0.113.9", "update"), ("wanb", "198.51.100.7", "create")]


def test_events_of_each_member_and_of_wan6_for_an_aaaa_set_concern_the_set():
    from ddns_agent import sources

    v4, v6 = set_rec(), set_rec(type="AAAA")
    v6.key, v6.members = "home6", (("interface", "lan"), ("interface", "lanb"))
    assert sources.related_records([v4, v6], "wanb") == [v4]
    assert sources.related_records([v4, v6], "lanb") == [v6]
    assert sources.related_records([v4, v6], "wan6") == [v6]


def test_members_without_an_id_are_never_deleted():
    saved = owned(("203.0.113.5", "wan", "z/1"), ("198.51.100.7", "wanb", None))
    item = decide(Sel("203.0.113.5"), Sel(None, "down", "wanb is down"), saved)
    assert actions(item) == [("wan", "203.0.113.5", "keep")]  # nothing to send, only state to write


def test_force_re_reads_and_a_failure_backs_off_on_events():
    saved = owned(("203.0.113.5", "wan", "z/1"), ("198.51.100.7", "wanb", "z/2"))
    forced = decide(Sel("203.0.113.5"), Sel("198.51.100.7"), saved, force=True)
    assert (forced.action, forced.verify) == ("publish", True)
    failed = dict(saved, result="failed", error="HTTP 500", failures=1, next_check=1060,
                  failed_address="203.0.113.5, 198.51.100.9")
    assert decide(Sel("203.0.113.5"), Sel("198.51.100.9"), failed, event=True).action == "wait"
    assert decide(Sel("203.0.113.5"), Sel("198.51.100.9"), failed).action == "publish"


# -- end to end: the real command against the Cloudflare fake ------------------------------------------

CONFIG = """
config agent
\toption retry_max '0'
config provider 'cf'
\toption type 'cloudflare'
\toption api_token '{token}'
\toption zone_id '{zone}'
\toption endpoint '{url}{prefix}'
\toption cacert '{ca}'
config record 'home'
\toption provider 'cf'
\toption domain 'example.com'
\toption name 'home'
\tlist interface 'wan'
\tlist interface 'wanb'
"""


def wan_status(address: str | None) -> dict:
    if address is None:
        return status_with(REAL / "dhcp-public" / "status_wan_up.json", up=False,
                           **{"ipv4-address": [], "ipv6-address": []})
    return status_with(REAL / "dhcp-public" / "status_wan_up.json",
                       **{"ipv4-address": [{"address": address, "mask": 24}]})


@pytest.fixture
def dual(tmp_path, serve):
    fake = CloudflareFake(TOKEN, {"example.com": ZONE})
    server = serve(fake)
    env = AgentEnv(tmp_path)
    env.config(CONFIG.format(token=TOKEN, zone=ZONE, url=server.url, prefix=PREFIX, ca=server.cafile))
    env.fake, env.server = fake, server
    return env


def held(fake) -> list:
    return sorted(r["content"] for r in fake.find(FQDN))


def test_two_wans_two_records_then_one_down_deletes_only_its_record(dual):
    fake, server = dual.fake, dual.server
    foreign = fake.add("example.com", FQDN, "A", "192.0.2.99")  # someone else's record of the name
    dual.interface("wan", wan_status("203.0.113.5"))
    dual.interface("wanb", wan_status("198.51.100.7"))
    runs = [dual.run("update")]
    assert runs[-1].returncode == 0, runs[-1].stderr
    assert held(fake) == ["192.0.2.99", "198.51.100.7", "203.0.113.5"]
    assert [r.method for r in server.requests] == ["GET", "POST", "POST"]
    saved = dual.saved()["home"]
    assert [(m["address"], m["source"]) for m in saved["members"]] == [
        ("203.0.113.5", "wan"), ("198.51.100.7", "wanb")]
    assert foreign["id"] not in {m["id"].split("/")[-1] for m in saved["members"]}
    assert saved["duplicates"] == [{"id": "%s/%s" % (ZONE, foreign["id"]), "value": "192.0.2.99"}]
    assert "1 more record(s) of this name, left as they are: %s/%s (192.0.2.99); updated only the " \
        "set's own records" % (ZONE, foreign["id"]) in runs[-1].stderr

    # steady state: no request at all, and the fast path watches both WANs
    assert {"if wan", "if wanb"} <= set((dual.state / "quick").read_text().splitlines())
    assert (dual.state / "fp" / "wan").is_file() and (dual.state / "fp" / "wanb").is_file()
    server.requests.clear()
    runs.append(dual.run("update"))
    assert runs[-1].returncode == 0 and server.requests == []

    # wanb goes down: plan says so, update deletes exactly our wanb record
    dual.interface("wanb", wan_status(None))
    shown = dual.run("plan")
    assert "wanb is down: 198.51.100.7 leaves the set" in shown.stdout
    listed = json.loads(dual.run("plan", "--json").stdout)["records"][0]
    assert [(m["source"], m["action"]) for m in listed["members"]] == [("wan", "keep"), ("wanb", "delete")]
    assert server.requests == []
    runs.append(dual.run("update", "--interface", "wanb"))  # as hotplug runs it
    assert runs[-1].returncode == 0, runs[-1].stderr
    assert [r.method for r in server.requests] == ["DELETE"]
    assert held(fake) == ["192.0.2.99", "203.0.113.5"]
    assert [m["address"] for m in dual.saved()["home"]["members"]] == ["203.0.113.5"]

    # wan goes down too: the last address stays
    server.requests.clear()
    dual.interface("wan", wan_status(None))
    runs.append(dual.run("update"))
    assert server.requests == [] and held(fake) == ["192.0.2.99", "203.0.113.5"]
    assert_no_secret(dual, tuple(runs), TOKEN)


def test_one_member_change_is_exactly_one_request(dual):
    fake, server = dual.fake, dual.server
    dual.interface("wan", wan_status("203.0.113.5"))
    dual.interface("wanb", wan_status("198.51.100.7"))
    assert dual.run("update").returncode == 0
    server.requests.clear()
    dual.interface("wanb", wan_status("198.51.100.9"))
    done = dual.run("update")
    assert done.returncode == 0, done.stderr
    assert [(r.method, r.json()) for r in server.requests] == [("PATCH", {"content": "198.51.100.9"})]
    assert held(fake) == ["198.51.100.9", "203.0.113.5"]
    assert "home.example.com A: wanb: 198.51.100.9 replaces 198.51.100.7" in done.stderr


def test_a_member_deleted_at_the_provider_is_made_again_on_force(dual):
    fake = dual.fake
    dual.interface("wan", wan_status("203.0.113.5"))
    dual.interface("wanb", wan_status("198.51.100.7"))
    assert dual.run("update").returncode == 0
    gone = next(r for r in fake.find(FQDN) if r["content"] == "198.51.100.7")
    del fake.records[gone["id"]]
    done = dual.run("update", "--force")
    assert done.returncode == 0, done.stderr
    assert held(fake) == ["198.51.100.7", "203.0.113.5"]
    ids = {m["id"].split("/")[-1] for m in dual.saved()["home"]["members"]}
    assert ids == {r["id"] for r in fake.find(FQDN)}


def test_a_failed_delete_keeps_the_member_ours_and_the_next_run_retries(dual):
    fake, server = dual.fake, dual.server
    dual.interface("wan", wan_status("203.0.113.5"))
    dual.interface("wanb", wan_status("198.51.100.7"))
    assert dual.run("update").returncode == 0
    dual.interface("wanb", wan_status(None))
    server.inject(status=500, body="<html>oops</html>")
    done = dual.run("update")
    assert done.returncode == 1
    assert "home.example.com A: failed: wanb is down: 198.51.100.7 leaves the set: server error HTTP 500" \
        in done.stderr
    assert [m["address"] for m in dual.saved()["home"]["members"]] == ["203.0.113.5", "198.51.100.7"]
    assert dual.run("update").returncode == 0
    assert held(fake) == ["203.0.113.5"]


# -- RFC 2136 against a real BIND9: each member is one RR, and only ours are ever deleted -------------

def test_rfc2136_set_on_a_real_bind_adds_and_deletes_only_its_own_rrs(tmp_path):
    from bind import Bind, require_bind

    require_bind()
    with Bind(tmp_path / "bind", records=("home A 192.0.2.50",)) as ns:
        env = AgentEnv(tmp_path)
        env.config("""
config provider 'ns'
\toption type 'rfc2136'
\toption server '%s'
\toption port '%d'
\toption key_name '%s'
\toption key_secret '%s'
config record 'home'
\toption provider 'ns'
\toption domain 'example.test'
\toption name 'home'
\toption ttl '60'
\tlist interface 'wan'
\tlist interface 'wanb'
""" % (ns.address, ns.port, ns.key_name, ns.key_secret))
        env.interface("wan", wan_status("203.0.113.5"))
        env.interface("wanb", wan_status("198.51.100.7"))
        runs = [env.run("update")]
        assert runs[-1].returncode == 0, runs[-1].stderr
        assert sorted(a for _, a in ns.dig("home.example.test", "A")) == [
            "192.0.2.50", "198.51.100.7", "203.0.113.5"]
        assert "left as they are: 192.0.2.50 (192.0.2.50)" in runs[-1].stderr

        assert ns.updates() == 0  # the RRset is never replaced: RRs are added to it
        serial, queries = ns.serial(), ns.signed_queries("home.example.test")
        runs.append(env.run("update"))
        assert (ns.serial(), ns.signed_queries("home.example.test")) == (serial, queries)

        env.interface("wanb", wan_status("198.51.100.9"))  # one member changes: one UPDATE, no read
        runs.append(env.run("update"))
        assert runs[-1].returncode == 0, runs[-1].stderr
        assert (ns.serial(), ns.signed_queries("home.example.test")) == (serial + 1, queries)
        assert sorted(a for _, a in ns.dig("home.example.test", "A")) == [
            "192.0.2.50", "198.51.100.9", "203.0.113.5"]

        env.interface("wanb", wan_status(None))
        runs.append(env.run("update"))
        assert runs[-1].returncode == 0, runs[-1].stderr
        assert sorted(a for _, a in ns.dig("home.example.test", "A")) == ["192.0.2.50", "203.0.113.5"]
        assert [m["id"] for m in env.saved()["home"]["members"]] == ["203.0.113.5"]
        assert_no_secret(env, tuple(runs), ns.key_secret)


def test_an_address_a_foreign_record_holds_is_not_duplicated_nor_ever_deleted(dual):
    fake, server = dual.fake, dual.server
    theirs = fake.add("example.com", FQDN, "A", "198.51.100.7")
    dual.interface("wan", wan_status("203.0.113.5"))
    dual.interface("wanb", wan_status("198.51.100.7"))
    assert dual.run("update").returncode == 0
    assert [r.method for r in server.requests] == ["GET", "POST"]
    assert held(fake) == ["198.51.100.7", "203.0.113.5"]
    assert [(m["source"], m["id"]) for m in dual.saved()["home"]["members"]][1] == ("wanb", None)
    dual.interface("wanb", wan_status(None))
    done = dual.run("update")
    assert done.returncode == 0, done.stderr
    assert fake.records[theirs["id"]]["content"] == "198.51.100.7"
    assert [r.method for r in server.requests] == ["GET", "POST"]


def test_a_config_change_keeps_the_members_ours_and_sets_the_new_ttl_on_each(dual):
    fake, server = dual.fake, dual.server
    dual.interface("wan", wan_status("203.0.113.5"))
    dual.interface("wanb", wan_status("198.51.100.7"))
    assert dual.run("update").returncode == 0
    ids = [m["id"] for m in dual.saved()["home"]["members"]]
    dual.config(dual.conf.read_text() + "\toption ttl '300'\n")
    server.requests.clear()
    done = dual.run("update")
    assert done.returncode == 0, done.stderr
    assert [r.method for r in server.requests] == ["GET", "PATCH", "PATCH"]
    assert sorted((r["content"], r["ttl"]) for r in fake.find(FQDN)) == [
        ("198.51.100.7", 300), ("203.0.113.5", 300)]
    assert [m["id"] for m in dual.saved()["home"]["members"]] == ids
    dual.interface("wanb", wan_status(None))  # still ours: deleted when its WAN goes down
    assert dual.run("update").returncode == 0
    assert held(fake) == ["203.0.113.5"]


def test_a_failed_read_back_keeps_every_member_ours(dual):
    fake, server = dual.fake, dual.server
    dual.interface("wan", wan_status("203.0.113.5"))
    dual.interface("wanb", wan_status("198.51.100.7"))
    assert dual.run("update").returncode == 0
    members = dual.saved()["home"]["members"]
    server.inject(status=500, body="<html>oops</html>")
    done = dual.run("update", "--force")
    assert done.returncode == 1
    assert "failed" in dual.saved()["home"]["result"]
    assert dual.saved()["home"]["members"] == members
    dual.interface("wanb", wan_status(None))
    assert dual.run("update").returncode == 0
    assert held(fake) == ["203.0.113.5"]
