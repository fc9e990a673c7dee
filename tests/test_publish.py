"""publish.py: the cached-id dance and the retry policy, against an in-memory provider."""

import pytest

from ddns_agent import errors
from ddns_agent.config import RecordConfig
from ddns_agent.plan import PUBLISH, Item
from ddns_agent.providers.base import Provider, Remote
from ddns_agent.publish import Publisher, publish_item
from ddns_agent.retry import RetryPolicy


class MemoryProvider(Provider):
    """A provider whose zone is a dict; `faults` are raised by the next calls, in order."""

    def __init__(self, records=None, faults=None):
        super().__init__({}, None)
        self.zone = dict(records or {})  # id -> [fqdn, type, value]
        self.calls = []
        self.faults = list(faults or [])
        self.lands = False  # an UnconfirmedError fault still applies the write

    def _fault(self):
        if self.faults:
            raise self.faults.pop(0)

    def find(self, rec):
        self.calls.append("find")
        self._fault()
        for rid, (fqdn, typ, value) in self.zone.items():
            if (fqdn, typ) == (rec.fqdn, rec.type):
                return Remote(rid, value)
        return None

    def create(self, rec, address):
        self.calls.append("create")
        self._fault()
        rid = str(len(self.zone) + 1)
        self.zone[rid] = [rec.fqdn, rec.type, address]
        return Remote(rid, address)

    def update(self, rec, remote, address):
        self.calls.append("update")
        if self.faults and isinstance(self.faults[0], errors.UnconfirmedError) and self.lands:
            self.zone[remote.id][2] = address
        self._fault()
        if remote.id not in self.zone:
            raise errors.NotFoundError("record %s not found" % remote.id)
        self.zone[remote.id][2] = address
        return Remote(remote.id, address)


def item(address="203.0.113.7", previous=None, verify=False):
    r = RecordConfig("home", "mem", "example.com", "home", interface="wan")
    return Item(r, PUBLISH, address, previous, "test", verify=verify)


class Sleeps(list):
    def __call__(self, s):
        self.append(s)


POLICY = RetryPolicy(attempts=3, base_s=2, cap_s=60, jitter=0.2)


def run(provider, it, saved=None, policy=POLICY):
    sleeps = Sleeps()
    out = publish_item(it, provider, saved, policy, sleeps, lambda: 0.0)
    return out, sleeps


def test_first_run_creates_a_missing_record():
    p = MemoryProvider()
    out, _ = run(p, item())
    assert (out.ok, out.result, p.calls) == (True, "created", ["find", "create"])
    assert p.zone["1"][2] == "203.0.113.7"


def test_first_run_finds_an_existing_record_and_updates_it():
    p = MemoryProvider({"42": ["home.example.com", "A", "192.0.2.1"]})
    out, _ = run(p, item())
    assert (out.result, out.remote.id, p.calls) == ("updated", "42", ["find", "update"])


def test_cached_id_costs_one_request():
    p = MemoryProvider({"42": ["home.example.com", "A", "192.0.2.1"]})
    out, _ = run(p, item(previous="192.0.2.1"), {"id": "42"})
    assert (out.ok, out.requests, p.calls) == (True, 1, ["update"])


def test_stale_cached_id_is_resolved_again():
    p = MemoryProvider({"43": ["home.example.com", "A", "192.0.2.1"]})
    out, sleeps = run(p, item(), {"id": "42"})
    assert out.ok and out.remote.id == "43"
    assert p.calls == ["update", "find", "update"]
    assert sleeps == []


def test_remote_already_right_is_not_written_again():
    p = MemoryProvider({"42": ["home.example.com", "A", "203.0.113.7"]})
    out, _ = run(p, item(verify=True), {"id": "42"})
    assert (out.result, p.calls) == ("unchanged", ["find"])


def test_transient_errors_back_off_then_succeed():
    p = MemoryProvider(faults=[errors.TransientError("503"), errors.TransientError("503")])
    out, sleeps = run(p, item())
    assert out.ok
    assert sleeps == [2, 4]


def test_transient_errors_stop_after_the_policy_attempts():
    p = MemoryProvider(faults=[errors.TransientError("down")] * 10)
    out, sleeps = run(p, item())
    assert not out.ok and not out.stop
    assert len(p.calls) == 4 and sleeps == [2, 4, 8]


def test_auth_error_is_not_retried_and_stops_the_record():
    p = MemoryProvider(faults=[errors.AuthError("bad token")])
    out, sleeps = run(p, item())
    assert (out.ok, out.stop, len(p.calls), sleeps) == (False, True, 1, [])


def test_retry_after_is_obeyed_within_the_cap():
    p = MemoryProvider(faults=[errors.RateLimitedError("429", retry_after=7)])
    out, sleeps = run(p, item())
    assert out.ok and sleeps == [7]


def test_retry_after_beyond_the_cap_holds_the_record():
    p = MemoryProvider(faults=[errors.RateLimitedError("911", retry_after=1800)])
    out, sleeps = run(p, item())
    assert (out.ok, out.hold_s, sleeps) == (False, 1800, [])


def test_unconfirmed_write_is_read_back_before_resending():
    p = MemoryProvider({"42": ["home.example.com", "A", "192.0.2.1"]},
                       faults=[errors.UnconfirmedError("no answer")])
    p.lands = True
    out, _ = run(p, item(previous="192.0.2.1"), {"id": "42"})
    assert out.ok and out.result == "unchanged"
    assert p.calls == ["update", "find"]


class _Cfg:
    class _P:
        type = "log"
        options = {}

    providers = {"mem": _P(), "broken": _P()}


def test_one_failing_record_does_not_stop_the_others():
    good = MemoryProvider()
    bad = MemoryProvider(faults=[errors.RejectedError("no such zone")])
    pub = Publisher(_Cfg(), lambda pc: None, POLICY, Sleeps(), lambda: 0.0)
    pub._providers = {"mem": good, "broken": bad}
    r2 = RecordConfig("other", "broken", "example.org", "x", interface="wan")
    items = [Item(r2, PUBLISH, "203.0.113.9", None, "t"), item()]
    outs = pub.run(items, {})
    assert [o.ok for o in outs] == [False, True]
    assert "no such zone" in str(outs[0].error)


@pytest.mark.parametrize("attempt,expected", [(1, 2), (2, 4), (3, 8), (4, None)])
def test_policy_backoff_is_bounded(attempt, expected):
    assert POLICY.delay(errors.TransientError("x"), attempt, 0.0) == expected


def test_policy_jitter_only_shortens_and_cap_holds():
    p = RetryPolicy(attempts=10, base_s=2, cap_s=10, jitter=0.5)
    assert p.delay(errors.TransientError("x"), 8, 0.0) == 10
    assert p.delay(errors.TransientError("x"), 8, 0.99) == pytest.approx(5.05)
