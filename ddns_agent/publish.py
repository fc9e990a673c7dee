"""Runs a Plan: provider calls with the retry policy, one outcome per record.

The cached-id dance is written once, here: update by cached id -> NotFoundError -> find ->
create or update. Clock, sleep and randomness are passed in, so tests never wait.

A run has a deadline (`Publisher.deadline`, monotonic seconds): no retry sleeps past it, and a
record not reached before it fails with RunDeadlineError, to be tried by the next run.
"""

from __future__ import annotations

from ddns_agent import providers as registry
from ddns_agent.errors import RESOLVE, STOP, ConfigError, DdnsError, ProviderError, RunDeadlineError
from ddns_agent.providers.base import RecordSpec, Remote


class Outcome:
    """What happened to one planned record."""

    __slots__ = ("item", "ok", "result", "remote", "error", "requests", "stop", "hold_s", "members",
                 "found")

    def __init__(self, item, ok: bool, result: str, remote: Remote | None = None,
                 error: DdnsError | None = None, requests: int = 0, stop: bool = False,
                 hold_s: float | None = None) -> None:
        self.item = item
        self.ok = ok
        self.result = result      # created | updated | unchanged | failed
        self.remote = remote
        self.error = error
        self.requests = requests  # provider calls made (find/create/update)
        self.stop = stop          # fatal: no more calls until the config changes
        self.hold_s = hold_s      # the provider asked for a rest this long
        self.members = None       # a record set: the members we own now, each done or not
        self.found = None         # what the record held before our write, when seen (conflict.py)


class _Counting:
    """Wraps a provider to count calls, so the outcome can report requests per record."""

    __slots__ = ("provider", "calls")

    def __init__(self, provider) -> None:
        self.provider = provider
        self.calls = 0

    def call(self, name: str, *args):
        self.calls += 1
        return getattr(self.provider, name)(*args)


def record_spec(record) -> RecordSpec:
    """The provider's view of a config record."""
    return RecordSpec(record.key, record.domain, record.name, record.type, record.ttl,
                      record.options, bool(getattr(record, "members", ())))


def _once(p: _Counting, spec: RecordSpec, address: str, cached_id: str | None,
          previous: str | None, read_back: bool, cached_ttl: int | None = None, hold=None) -> tuple:
    """One attempt: returns (remote, result, found); `found` what the record held before, if seen.

    `hold(found)` True: another client is updating the record (conflict.py); do not write.
    """
    prov = p.provider
    if not prov.can_find:
        remote = p.call("update", spec, Remote(None, previous), address)
        return remote, "updated", remote.prior
    if cached_id and not read_back:
        try:  # the cached TTL lets an update keep the record's TTL without reading it first
            remote = p.call("update", spec, Remote(cached_id, previous, cached_ttl), address)
            return remote, "updated", remote.prior
        except ProviderError as e:
            if e.retry != RESOLVE:
                raise
    remote = p.call("find", spec)
    if remote is None:
        return _seen(p.call("create", spec, address), ()), "created", None
    if hold is not None and hold(remote.value):
        return remote, "held", remote.value
    if remote.value == address and (spec.ttl is None or remote.ttl in (None, spec.ttl)):
        return remote, "unchanged", remote.value
    return _seen(p.call("update", spec, remote, address), remote.others), "updated", remote.value


def _seen(remote: Remote, others: tuple | None) -> Remote:
    """`remote` carrying the other records of its name that the lookup before it saw."""
    if remote is not None and remote.others is None:
        remote.others = others
    return remote


def publish_item(item, provider, saved: dict | None, policy, sleep, rand,
                 time_left=lambda: float("inf"), hold=None) -> Outcome:
    """Publish one planned record, retrying by policy; never raises a DdnsError.

    `time_left()` gives the seconds left in the run: a retry that would sleep past it is not made.
    `hold(found)`: see _once; asked on the first attempt only.
    """
    spec = record_spec(item.record)
    p = _Counting(provider)
    cached_id = saved.get("id") if saved else None
    cached_ttl = saved.get("ttl") if saved else None
    cached_ttl = cached_ttl if isinstance(cached_ttl, int) and not isinstance(cached_ttl, bool) else None
    tries = []

    def attempt(read_back: bool) -> tuple:
        tries.append(read_back)
        return _once(p, spec, item.address, cached_id, item.previous, item.verify or read_back, cached_ttl,
                     hold if len(tries) == 1 else None)

    try:
        remote, result, found = _retrying(attempt, policy, sleep, rand, time_left)
    except DdnsError as e:
        return _failed(item, e, p.calls, policy)
    out = Outcome(item, True, result, remote, requests=p.calls)
    # after an attempt of ours that may have landed, our own address is no evidence
    out.found = found if len(tries) == 1 or found != item.address else None
    return out


def _failed(item, e: DdnsError, requests: int, policy) -> Outcome:
    return Outcome(item, False, "failed", error=e, requests=requests, stop=e.retry == STOP,
                   hold_s=policy.hold(e))


def _retrying(call, policy, sleep, rand, time_left):
    """`call(read_back)` until it succeeds or the policy gives up (then its DdnsError is raised).

    read_back turns True after an error that may hide a landed write; no retry sleeps past the run.
    """
    attempt = 0
    read_back = False
    while True:
        try:
            return call(read_back)
        except DdnsError as e:
            attempt += 1
            delay = policy.delay(e, attempt, rand())
            if delay is None or delay >= time_left():
                raise
            read_back = read_back or policy.must_read_back(e)
            sleep(delay)


def _reconcile(members: list, found: list, ours: set, ttl: int | None) -> tuple:
    """Members re-planned against what the provider lists; (members, the records not ours)."""
    by_id = {r.id: r for r in found}
    out = []
    for m in members:
        m = dict(m)
        held = by_id.get(m.get("id"))
        where = "%s: %s" % (m["source"], m["address"])
        if m["action"] != "create" and m.get("id") and held is None:  # gone: make it again
            if m["action"] == "delete":
                continue
            m.update(action="create", id=None, why=where + " was deleted at the provider; creating it")
        elif (held is not None and m["action"] != "delete" and held.value == m["address"]
              and (ttl is None or held.ttl in (None, ttl))):
            m["action"] = "keep"
        elif held is not None and m["action"] == "keep":
            m.update(action="update", previous=held.value, why=where + (
                " replaces %s found at the provider" % held.value if held.value != m["address"]
                else ": TTL set to %s" % ttl))
        if m["action"] == "create" and any(r.value == m["address"] and r.id not in ours for r in found):
            m.update(action="keep", id=None)  # held by a record that is not ours: no duplicate
        out.append(m)
    return out, tuple(r for r in found if r.id not in ours)


def _member(p: _Counting, spec: RecordSpec, m: dict, read_back: bool) -> dict | None:
    """One member's request; the member as owned afterwards (None: deleted)."""
    action, address = m["action"], m["address"]
    ttl = m.get("ttl") if type(m.get("ttl")) is int else None
    done = {"address": address, "source": m.get("source"), "id": m.get("id"), "ttl": ttl}
    try:
        if action == "update":  # the member's TTL, kept from its last answer, spares a read first
            held = p.call("update", spec, Remote(m["id"], m.get("previous"), ttl), address)
            done.update(id=held.id, ttl=held.ttl)
        elif action == "delete":
            p.call("delete", spec, Remote(m["id"], address))
            return None
    except ProviderError as e:
        if e.retry != RESOLVE:
            raise
        if action == "delete":
            return None  # already gone
        action = "create"
    if action == "create":
        if read_back:  # an earlier attempt may have landed
            held = next((r for r in p.call("find_all", spec) if r.value == address), None)
            if held is not None:
                done.update(id=held.id, ttl=held.ttl)
                return done
        made = p.call("create", spec, address)
        done.update(id=made.id, ttl=made.ttl)
    return done


def _before(m: dict) -> dict:
    """A member as owned before its action."""
    return {"address": m.get("previous") or m["address"], "source": m.get("source"), "id": m.get("id"),
            "ttl": m.get("ttl")}


def publish_set(item, provider, saved: dict | None, policy, sleep, rand,
                time_left=lambda: float("inf")) -> Outcome:
    """Publish a set record member by member; one failed member never stops the others."""
    spec = record_spec(item.record)
    p = _Counting(provider)
    members, others = item.members, None
    ours = {m["id"] for m in members if m.get("id")}
    try:
        if item.verify:
            found = _retrying(lambda _: p.call("find_all", spec), policy, sleep, rand, time_left)
            members, others = _reconcile(members, found, ours, spec.ttl)
    except DdnsError as e:
        out = _failed(item, e, p.calls, policy)
        out.members = [_before(m) for m in members if m.get("id")]
        return out
    now_owned, error, changed = [], None, False
    for m in members:
        try:
            done = _retrying(lambda rb, m=m: _member(p, spec, m, rb), policy, sleep, rand, time_left)
            changed = changed or m["action"] != "keep"
        except DdnsError as e:
            error = error or e
            m["error"] = str(e)
            done = None if m["action"] == "create" else _before(m)
        if done is not None:  # id None: a record not ours holds it, never deleted
            now_owned.append(done)
    out = _failed(item, error, p.calls, policy) if error else Outcome(
        item, True, "updated" if changed else "unchanged", Remote(None, item.address, None, others),
        requests=p.calls)
    out.members = now_owned
    item.members = members
    return out


class Publisher:
    """Holds one provider object (and so one HTTP connection pool) per provider section."""

    def __init__(self, config, http_factory, policy, sleep, rand, deadline: float = float("inf"),
                 monotonic=None) -> None:
        import time

        self.config = config
        self.http_factory = http_factory  # (ProviderConfig) -> Http
        self.policy = policy
        self.sleep = sleep
        self.rand = rand
        self.deadline = deadline          # monotonic seconds; see the module docstring
        self.monotonic = monotonic or time.monotonic
        self.outcomes: list = []          # filled as records finish: a KeyboardInterrupt keeps them
        self.current = None               # the item whose requests are under way
        self.hold = None                  # (item, found) -> True: do not write (conflict.py)
        self._providers: dict = {}
        self._https: list = []

    def time_left(self) -> float:
        """Seconds left before the run's deadline."""
        return self.deadline - self.monotonic()

    def provider(self, name: str):
        """The provider object for section `name`, built on first use."""
        p = self._providers.get(name)
        if p is None:
            pc = self.config.providers[name]
            try:
                cls = registry.load(pc.type)
                http = None
                if cls.uses_http:
                    http = self.http_factory(pc)
                    self._https.append(http)
                options = dict(pc.options)
                options.setdefault("timeout", self.config.agent.timeout)  # non-HTTP protocols too
                p = self._providers[name] = cls(options, http)
            except ConfigError as e:
                e.section = e.section or name
                raise
        return p

    def run(self, items: list, saved: dict) -> list:
        """Publish every item; one record's failure never stops the others."""
        outcomes = self.outcomes
        for item in items:
            if self.time_left() <= 0:
                outcomes.append(Outcome(item, False, "failed", error=RunDeadlineError(
                    "not reached: the run's time was up")))
                continue
            self.current = item
            try:
                prov = self.provider(item.record.provider)
                args = (item, prov, saved.get(item.record.key), self.policy, self.sleep, self.rand,
                        self.time_left)
                if item.members is not None:  # a record set: no conflict judgement (conflict.py)
                    out = publish_set(*args)
                else:
                    out = publish_item(*args, (lambda found, item=item: self.hold(item, found))
                                       if self.hold else None)
            except DdnsError as e:
                out = Outcome(item, False, "failed", error=e, stop=e.retry == STOP)
            except Exception as e:  # a bug: one line naming the record, the others go on
                out = Outcome(item, False, "failed",
                              error=DdnsError("internal error (%s: %s)" % (type(e).__name__, e)))
            outcomes.append(out)
            self.current = None
        return outcomes

    def close(self) -> None:
        """Close every HTTP connection."""
        for h in self._https:
            h.close()
