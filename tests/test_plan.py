"""plan() is pure: records + observed addresses + state + now -> one decision per record."""

from ddns_agent import plan
from ddns_agent.config import RecordConfig


class Sel:
    def __init__(self, address=None, status="ok", reason="", origin="netifd wan"):
        self.address, self.status, self.reason, self.origin = address, status, reason, origin


def rec(key="home", **kw):
    kw.setdefault("interface", "wan")
    return RecordConfig(key, "cf", "example.com", "home", **kw)


def decide(selection, saved=None, now=1000.0, force=False, interval=86400, r=None):
    r = r or rec()
    p = plan.plan([r], {r.key: selection}, {r.key: saved} if saved else {}, now, force,
                  interval, {r.key: "h1"})
    return p.items[0]


def test_new_record_is_published():
    item = decide(Sel("203.0.113.7"))
    assert (item.action, item.address, item.reason) == ("publish", "203.0.113.7", "not published yet")


def test_unchanged_address_is_kept():
    saved = {"address": "203.0.113.7", "config": "h1", "checked": 900}
    item = decide(Sel("203.0.113.7"), saved)
    assert (item.action, item.reason) == ("keep", "unchanged")


def test_changed_address_names_the_old_one():
    saved = {"address": "203.0.113.7", "config": "h1", "checked": 900}
    item = decide(Sel("198.51.100.9"), saved)
    assert item.action == "publish"
    assert item.reason == "address changed from 203.0.113.7"
    assert not item.verify


def test_force_and_force_interval_reread_the_remote():
    saved = {"address": "203.0.113.7", "config": "h1", "checked": 900}
    assert decide(Sel("203.0.113.7"), saved, force=True).verify
    due = decide(Sel("203.0.113.7"), saved, now=900 + 86400)
    assert (due.action, due.verify) == ("publish", True)
    assert "force_interval" in due.reason
    assert decide(Sel("203.0.113.7"), saved, now=900 + 86400, interval=0).action == "keep"


def test_down_interface_keeps_the_record():
    saved = {"address": "203.0.113.7", "config": "h1"}
    item = decide(Sel(None, "down", "wan is down"), saved)
    assert item.action == "keep"
    assert item.reason == "wan is down; keeping the published record"


def test_refused_address_is_never_published_and_says_why():
    item = decide(Sel(None, "refused", "100.64.3.2 is a carrier-grade NAT (CGNAT) address"))
    assert item.action == "refuse"
    assert "carrier-grade NAT" in item.reason


def test_fatal_error_waits_until_config_changes():
    saved = {"address": "203.0.113.7", "config": "h1", "stopped": True, "error": "badauth"}
    assert decide(Sel("198.51.100.9"), saved).action == "wait"
    changed = dict(saved, config="old-hash")
    assert decide(Sel("198.51.100.9"), changed).action == "publish"


def test_rate_limit_hold_is_respected_until_it_expires():
    saved = {"address": "203.0.113.7", "config": "h1", "hold_until": 2000, "error": "429"}
    assert decide(Sel("198.51.100.9"), saved, now=1500).action == "wait"
    item = decide(Sel("198.51.100.9"), saved, now=2001)
    assert (item.action, item.verify) == ("publish", True)


def test_failed_earlier_attempt_is_retried_with_a_read_back():
    saved = {"address": "203.0.113.7", "config": "h1", "error": "timeout"}
    item = decide(Sel("203.0.113.7"), saved)
    assert (item.action, item.verify, item.reason) == ("publish", True, "retrying after an error")


def test_disabled_record_is_skipped_without_a_selection():
    r = rec(enabled=False)
    p = plan.plan([r], {}, {}, 0, False, 0, {r.key: "h"})
    assert p.items[0].action == "skip"


def test_plan_json_names_the_source_and_reason():
    item = decide(Sel("203.0.113.7", origin="upnp 192.168.1.1"))
    j = item.to_json()
    assert j["source"] == "upnp 192.168.1.1"
    assert j["fqdn"] == "home.example.com" and j["action"] == "publish"


def test_update_only_provider_gets_no_blind_resend_on_a_timer():
    r = rec()
    saved = {"home": {"address": "203.0.113.7", "config": "h1", "checked": 0}}
    p = plan.plan([r], {"home": Sel("203.0.113.7")}, saved, 10**6, False, 86400, {"home": "h1"},
                  blind=frozenset({"home"}))
    assert p.items[0].action == "keep"
    forced = plan.plan([r], {"home": Sel("203.0.113.7")}, saved, 10**6, True, 86400,
                       {"home": "h1"}, blind=frozenset({"home"}))
    assert forced.items[0].action == "publish"


FAILED = {"address": "203.0.113.7", "config": "h1", "checked": 900, "result": "failed",
          "error": "server error HTTP 503", "failures": 2, "failed_address": "198.51.100.9",
          "next_check": 1120.0}


def test_an_event_run_waits_out_the_backoff_for_the_address_that_failed():
    r = rec()
    p = plan.plan([r], {r.key: Sel("198.51.100.9")}, {r.key: FAILED}, 1000.0, False, 86400, {r.key: "h1"},
                  event=True)
    item = p.items[0]
    assert item.action == "wait"
    assert item.reason.startswith("backing off after 2 failure(s) (server error HTTP 503); next try in 120 s")


def test_backoff_yields_to_a_new_address_a_plain_update_force_and_its_own_end():
    r = rec()

    def action(address="198.51.100.9", now=1000.0, force=False, event=True):
        return plan.plan([r], {r.key: Sel(address)}, {r.key: dict(FAILED)}, now, force, 86400,
                         {r.key: "h1"}, event=event).items[0].action

    assert action(address="198.51.100.10") == "publish"
    assert action(event=False) == "publish"
    assert action(force=True) == "publish"
    assert action(now=1121.0) == "publish"


def test_a_publish_cut_short_is_checked_even_when_the_address_looks_unchanged():
    saved = {"address": "203.0.113.7", "config": "h1", "checked": 900, "pending": "198.51.100.9"}
    item = decide(Sel("203.0.113.7"), saved)
    assert item.action == "publish" and item.verify
    assert item.reason == "publishing 198.51.100.9 was cut short (outcome unknown); checking"
