"""One update cycle, end to end: sources -> plan -> publish -> state. Also plan, check --online, watch."""

from __future__ import annotations

import time

from ddns_agent import plan as plan_mod
from ddns_agent import sources, state
from ddns_agent.errors import DdnsError
from ddns_agent.providers import REGISTRY

FAILED, OK = 1, 0
RETRY_FIRST_S = 60       # first re-check after a failed run, doubled per failure
RETRY_LONGEST_S = 3600
MAX_DUPLICATES = 10      # other records of one name listed in the log and state
#: a run (and so the state lock) lasts at most this many request timeouts: a dead provider costs
#: every record (1 + retry_max) timeouts plus backoff, so runs piled up behind the lock for ever
RUN_TIMEOUTS = 6


def _jitter() -> float:
    """A random fraction for retry jitter; `random` is imported only when a retry happens."""
    import random

    return random.random()


def describe(item) -> str:
    """`home.example.com A` prefix for log lines."""
    return "%s %s" % (item.record.fqdn, item.record.type)


class Agent:
    """Holds the config, the state directory and the log sink for one process."""

    def __init__(self, cfg, state_dir: str, log, clock=time.time, sleep=time.sleep,
                 rand=None) -> None:
        self.cfg = cfg
        self.state_dir = state_dir
        self.log = log
        self.clock = clock
        self.sleep = sleep
        self.rand = rand or _jitter
        self.http_transport = None  # None: auto (DDNS_AGENT_HTTP may override)
        self.deadline = float("inf")  # monotonic end of the run under way (update sets it)
        self._judge = None  # conflict.Judge of the publish under way

    # -- planning -------------------------------------------------------------------------

    def _records(self, interface: str | None) -> list:
        records = [r for r in self.cfg.records if r.enabled]
        if interface:
            records = sources.related_records(records, interface)
        return records

    def _plan(self, records: list, saved: dict, force: bool, event: bool = False, handed: dict | None = None):
        observer = sources.Observer(self.state_dir, handed)
        selections = {r.key: observer.observe(r) for r in records}
        providers = self.cfg.providers
        tails = {name: state.provider_tail(pc) for name, pc in providers.items()}
        hashes = {r.key: state.config_hash(r, providers[r.provider], tails[r.provider]) for r in records}
        blind = frozenset(r.key for r in records if not self._readable(r))
        p = plan_mod.plan(records, selections, saved, self.clock(), force,
                          self.cfg.agent.force_interval, hashes, blind, event)
        return p, hashes, observer

    def _readable(self, record) -> bool:
        """False when the record's provider cannot read records back (update-only protocols)."""
        return REGISTRY[self.cfg.providers[record.provider].type].readable

    def show_plan(self, interface: str | None, as_json: bool) -> int:
        """Print what `update` would do, without provider traffic or state changes.

        Exit 1, as `update` would, when a record's source cannot be read.
        """
        saved = state.read(self.state_dir, self.log.notice)["records"]
        p, _, _ = self._plan(self._records(interface), saved, False)
        rc = FAILED if any(i.unreadable for i in p.items) else OK
        if as_json:
            from ddns_agent import jsonlib

            out = p.to_json()
            for i, row in zip(p.items, out["records"]):
                row["error"] = i.reason if i.unreadable else None
            print(jsonlib.dumps(out, indent=2))
            return rc
        for i in p.items:
            addr = i.address or "-"
            src = " [%s]" % i.origin if i.origin else ""
            print("%-32s %-4s %-8s %-40s %s%s" % (i.record.fqdn, i.record.type, i.action, addr,
                                                   i.reason, src))
        return rc

    # -- update -----------------------------------------------------------------------------

    def update(self, interface: str | None = None, force: bool = False, event: bool | None = None,
               seen: tuple | None = None) -> int:
        """Run one cycle under the state lock; returns the exit code.

        `event` (default: an `--interface` run, as hotplug starts them) makes a record that failed
        wait out its back-off unless its address changed; see plan.plan_record. `seen`: what the
        fast path read (quick.Args.seen), used when quick.handed_over() says it is still the newest.
        """
        state.ensure_dir(self.state_dir)
        with state.Lock(self.state_dir):
            # the run's time starts once the lock is ours: waiting for it is not this run's work
            self.deadline = time.monotonic() + RUN_TIMEOUTS * self._longest_timeout()
            handed = None
            if seen is not None:
                from ddns_agent import quick

                handed = quick.handed_over(self.state_dir, seen)
            return self._update_locked(interface, force, interface is not None if event is None else event,
                                       handed)

    def _longest_timeout(self) -> float:
        return max([float(self.cfg.agent.timeout)] + [
            float(pc.options["timeout"]) for pc in self.cfg.providers.values() if pc.options.get("timeout")])

    def _update_locked(self, interface: str | None, force: bool, event: bool,
                       handed: dict | None = None) -> int:
        data = state.read(self.state_dir, self.log.notice)
        saved = data["records"]
        before = {k: dict(v) for k, v in saved.items()}
        records = self._records(interface)
        p, hashes, observer = self._plan(records, saved, force, event, handed)
        now = self.clock()
        bad = set()  # keys of records that are not right after this run
        for item in p.items:
            self._note(item, saved, hashes, now)
            if item.unreadable or item.action == plan_mod.WAIT:
                bad.add(item.record.key)
        todo = p.to_publish()
        interrupted = None
        if todo:
            from ddns_agent.conflict import Judge

            self._judge = Judge(before, force, self.clock, hashes)
            self._intend(todo, data, hashes)
            try:
                bad |= self._publish(todo, saved, hashes)
            except KeyboardInterrupt as e:  # SIGINT: keep what was done, then exit 130
                interrupted = e
                bad |= {i.record.key for i in todo}
        earliest = self._schedule(saved, records, now)
        if saved != before:
            state.mark_since(before, saved, now)
            state.write(self.state_dir, data)
        ifaces = {interface} if interface else {i for r in records for i in sources.interfaces_of(r)}
        for iface in ifaces:
            self._fingerprint(iface, records, observer, bad)
        self._quick(bad, earliest, observer, interface)
        if interrupted is not None:
            raise interrupted
        if getattr(self.cfg, "notify", ()):  # state is written; sent detached; never changes the exit code
            from ddns_agent.notifyconf import after_run
            after_run(self, before, saved, bad)
        return FAILED if bad else OK

    def _intend(self, todo: list, data: dict, hashes: dict) -> None:
        """Save what is about to be sent before sending it.

        A kill -9 or power cut after the provider took the write and before the outcome was saved
        must not leave state saying the old address is published: the next run sees `pending`
        and reads the record back (or sends again, for update-only protocols). No event may be
        skipped as unchanged while the outcome is open, so the fast path's files go first.
        """
        from ddns_agent import quick

        quick.clear(self.state_dir)
        state.clear_fingerprints(self.state_dir)
        saved = data["records"]
        for item in todo:
            key = item.record.key
            entry = saved.setdefault(key, {"config": hashes[key]})
            entry["config"] = hashes[key]
            entry["pending"] = item.address
        state.write(self.state_dir, data)

    def _note(self, item, saved: dict, hashes: dict, now: float) -> None:
        """Log a non-publish decision and keep it in state for `status`."""
        key = item.record.key
        entry = saved.get(key)
        if entry is not None and entry.get("config") != hashes[key]:
            entry = saved[key] = {"config": hashes[key]}
        if item.unreadable:  # shown by `status` until a read succeeds again
            entry = saved.setdefault(key, {"config": hashes[key]})
            entry["read_error"] = item.reason
        elif entry is not None:
            entry.pop("read_error", None)
        if item.action == plan_mod.REFUSE:
            entry = saved.setdefault(key, {"config": hashes[key]})
            # said once per change of reason, not on every hotplug event
            level = 7 if entry.get("note") == item.reason else 5
            self.log.log(level, "%s: not published: %s" % (describe(item), item.reason))
            entry["result"] = "refused"
            entry["note"] = item.reason
        elif item.unreadable:
            self.log.error("%s: %s" % (describe(item), item.reason))
        elif item.action == plan_mod.KEEP and item.address is None:
            self.log.notice("%s: %s" % (describe(item), item.reason))
        elif item.action == plan_mod.WAIT:
            self.log.notice("%s: not calling the provider: %s" % (describe(item), item.reason))
        elif item.action == plan_mod.KEEP:
            self.log.debug("%s: %s is unchanged" % (describe(item), item.address))

    def _publish(self, todo: list, saved: dict, hashes: dict) -> set:
        from ddns_agent.publish import Publisher
        from ddns_agent.retry import RetryPolicy

        a = self.cfg.agent
        policy = RetryPolicy(a.retry_max, a.retry_base, a.retry_cap)
        pub = Publisher(self.cfg, self._http_for, policy, self.sleep, self.rand, self.deadline)
        pub.hold = self._judge.hold
        try:
            pub.run(todo, saved)
        except KeyboardInterrupt:
            self._record(pub.outcomes, saved, hashes)
            done = {out.item.record.key for out in pub.outcomes}
            for item in todo:
                entry = saved[item.record.key]
                if item is pub.current:  # its request may have landed: `pending` stays
                    self.log.error("%s: interrupted while publishing %s; the next run checks it"
                                   % (describe(item), item.address))
                    entry.update(error="interrupted while publishing %s" % item.address, result="failed")
                elif item.record.key not in done:
                    entry.pop("pending", None)  # never sent
            raise
        finally:
            pub.close()
        return self._record(pub.outcomes, saved, hashes)

    def _record(self, outcomes: list, saved: dict, hashes: dict) -> set:
        """Log each outcome and keep it in state; returns the keys of the records that failed."""
        failed = set()
        now = self.clock()
        for out in outcomes:
            item = out.item
            key = item.record.key
            entry = saved.setdefault(key, {})
            entry["config"] = hashes[key]
            entry.pop("pending", None)
            if out.ok and self._judge.keep(item, out, entry, self.log.warning):
                failed.add(key)  # held: another client keeps changing it, nothing was written
                continue
            if out.ok:
                was = " (was %s)" % item.previous if item.previous and item.previous != item.address else ""
                if out.result == "unchanged":
                    self.log.info("%s: remote already holds %s" % (describe(item), item.address))
                else:
                    self.log.info("%s: published %s%s" % (describe(item), item.address, was))
                entry.update(address=item.address, id=out.remote.id if out.remote else entry.get("id"),
                             ttl=out.remote.ttl if out.remote else entry.get("ttl"),
                             time=now, checked=now, result="published" if out.result != "unchanged"
                             else "unchanged", error=None, failures=0, hold_until=None,
                             stopped=False, failed_address=None, source=item.origin or None)
                entry.pop("note", None)
                self._duplicates(item, out.remote, entry)
            else:
                failed.add(key)
                msg = str(out.error)
                if out.stop:
                    self.log.error("%s: failed: %s; no more calls until the config changes"
                                   % (describe(item), msg))
                else:
                    self.log.error("%s: failed: %s (will retry)" % (describe(item), msg))
                entry.update(error=msg, result="failed", time_failed=now, stopped=out.stop,
                             failed_address=item.address,
                             failures=(entry.get("failures") or 0) + 1,
                             hold_until=now + out.hold_s if out.hold_s else None)
            if out.members is not None:
                from ddns_agent.recordset import outcome

                outcome(entry, out, self.log, describe(item))
        return failed

    def _duplicates(self, item, remote, entry: dict) -> None:
        """Log the other records of this name a lookup saw at the provider; keep them for `status`."""
        others = remote.others if remote is not None else None
        if others is None:  # no lookup this time (update by cached id): keep what the last one saw
            return
        if not others:
            entry.pop("duplicates", None)
            return
        entry["duplicates"] = [{"id": o.id, "value": o.value} for o in others[:MAX_DUPLICATES]]
        listed = ", ".join("%s (%s)" % (o.id, o.value) for o in others[:MAX_DUPLICATES])
        ours = "the set's own records" if item.members is not None else remote.id
        self.log.warning("%s: the provider holds %d more record(s) of this name, left as they are: %s; "
                         "updated only %s: delete the others or they keep answering"
                         % (describe(item), len(others), listed, ours))

    def _http_for(self, provider_cfg):
        from ddns_agent.http import Timeouts, make_http

        t = float(provider_cfg.options.get("timeout") or self.cfg.agent.timeout)
        # `timeout` bounds the whole request, not only each read: a dripping server is cut there
        http = make_http(Timeouts(t, t, t), cacert=provider_cfg.options.get("cacert"),
                         transport=self.http_transport or "auto")
        http.run_deadline = self.deadline
        return http

    def _schedule(self, saved: dict, records: list, now: float) -> float | None:
        """Set each record's `next_check`; the earliest of all records goes to the state dir for procd."""
        interval = self.cfg.agent.force_interval
        for r in records:
            e = saved.get(r.key)
            if not e:
                continue
            nxt = None
            if e.get("stopped") or e.get("result") == "held":  # held: until --force (conflict.py)
                nxt = None
            elif e.get("hold_until"):
                nxt = e["hold_until"]
            elif e.get("result") == "failed":
                n = e.get("failures") or 1
                nxt = (e.get("time_failed") or now) + min(RETRY_LONGEST_S, RETRY_FIRST_S * 2 ** (n - 1))
            elif interval and e.get("checked") and self._readable(r):
                nxt = e["checked"] + interval
            e["next_check"] = nxt
        due = [saved[r.key]["next_check"] for r in self.cfg.records
               if r.enabled and (saved.get(r.key) or {}).get("next_check")]
        earliest = min(due) if due else None
        state.write_next_check(self.state_dir, earliest)
        return earliest

    def _quick(self, bad: set, earliest: float | None, observer, interface: str | None) -> None:
        """Leave the fast path's summary when every record is right and quick.py can check it, else clear."""
        from ddns_agent import quick

        every = [r for r in self.cfg.records if r.enabled]
        found = quick.sources_of(every, interface) if every and not bad else None
        devices = {d: observer.device_fingerprint(d) for d in found[1]} if found else {}
        if found is None or None in devices.values():
            quick.clear(self.state_dir)
        else:
            quick.write(self.state_dir, self.cfg.path, earliest, found[0], self.cfg.files, devices)

    def _fingerprint(self, interface: str, records: list, observer, bad: set) -> None:
        """Leave the interface's fingerprint for the hotplug script, or clear it if a record is not right."""
        related = sources.related_records(records, interface)
        fp = observer.fingerprint(interface) if related else None
        if fp is None or any(r.key in bad for r in related):
            state.clear_fingerprint(self.state_dir, interface)
        else:
            state.write_fingerprint(self.state_dir, interface, fp)

    # -- check --online ---------------------------------------------------------------------

    def check_online(self) -> int:
        """One read-only call per provider; report each."""
        from ddns_agent import providers as registry

        rc = OK
        for name, pc in self.cfg.providers.items():
            cls = registry.load(pc.type)
            http = self._http_for(pc) if cls.uses_http else None
            try:
                msg = cls(pc.options, http).check()
                word = "OK" if cls.can_find else "not checked"
                print("provider %s (%s): %s: %s" % (name, pc.type, word, msg))
            except DdnsError as e:
                rc = FAILED
                print("provider %s (%s): FAILED: %s" % (name, pc.type, e))
            finally:
                if http is not None:
                    http.close()
        return rc

    # -- watch ------------------------------------------------------------------------------

    def watch(self) -> int:
        """Stay resident; run a cycle on every address event and when a re-check is due."""
        from ddns_agent.watch import run

        return run(self)
