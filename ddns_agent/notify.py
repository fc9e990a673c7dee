"""Notifications (package ddns-agent-notify): `config notify` sections told of changes, failures and
recoveries, and healthchecks-style heartbeat pings. Users' guide: docs/notify.md.

Read when: changing what fires, the rate limits, or how a notification is kept from the publishing.

    Agent._update_locked, state written -> after_run(agent, before, saved, bad), still under the lock:
      events()    pure: the state before and after the run -> change / failed / ok per record
      decide()    per section: records, `on`, `failures`, recovery, rate limits -> jobs;
                  the memory (notify.json) is written before anything is sent
      _detach()   double fork; the grandchild has no inherited descriptor (so not the state lock),
                  sends each job with the section's timeout (SIGALRM bounds the lot), writes each
                  outcome to notify.json under notify.lock, and logs failures to syslog

The run's exit code never depends on a notification. Nothing a provider holds secret reaches a
notification: every fact sent is scrubbed (secret.scrub) of every secret of the config.
"""

from __future__ import annotations

import fcntl
import os

from ddns_agent import jsonlib, state
from ddns_agent.secret import scrub

NOTIFY_FILE = "notify.json"
LOCK_FILE = "notify.lock"
HOUR = 3600.0


def events(keys, before: dict, saved: dict) -> list:
    """[(kind, key, facts)] of this run: kind `change`, `failed` or `ok` (a success, changed or not).

    A record counts only when this run wrote its outcome (its `time` or `time_failed` moved).
    """
    out = []
    for key in keys:
        e, b = saved.get(key) or {}, before.get(key) or {}
        if e.get("result") == "failed" and e.get("time_failed") != b.get("time_failed"):
            out.append(("failed", key, {"error": e.get("error") or "", "failures": e.get("failures") or 1,
                                        "address": e.get("failed_address") or "",
                                        "previous": e.get("address") or ""}))
        elif e.get("result") in ("published", "unchanged") and e.get("time") != b.get("time"):
            previous = b.get("address") or ""
            facts = {"address": e.get("address") or "", "previous": previous, "error": "",
                     "failures": b.get("failures") or 0}
            if e.get("result") == "published" and e.get("address") != previous:
                out.append(("change", key, facts))
            out.append(("ok", key, facts))
    return out


def _allowed(memory: dict, via: str, what: str, n, now: float) -> bool:
    """Rate limits: one per `what` per min_interval, and max_per_hour per section; counts it."""
    sent = memory.setdefault("sent", {})
    hour = [t for t in memory.setdefault("hour", {}).get(via, []) if now - t < HOUR]
    memory["hour"][via] = hour
    last = sent.get(what)
    if last is not None and now - last < n.min_interval or len(hour) >= n.max_per_hour:
        return False
    sent[what] = now
    hour.append(now)
    return True


def decide(cfg, found: list, failed_run: bool, memory: dict, now: float, log) -> list:
    """The jobs to send for this run's `found` events, updating `memory` (rate limits, failure flags)."""
    records = {r.key: r for r in cfg.records}
    jobs = []
    failing = memory.setdefault("failing", {})
    for n in cfg.notify:
        for kind, key, facts in found:
            rec = records.get(key)
            if rec is None or not n.covers(key):
                continue
            flag = "%s|%s" % (n.name, key)
            event = None
            if kind == "failed" and flag not in failing and facts["failures"] >= n.failures:
                event = "failure"
            elif kind == "ok" and flag in failing:
                del failing[flag]
                event = "recovery"
            elif kind == "change" and flag not in failing:  # else the recovery that follows tells it
                event = "change"
            if event is None or event not in n.on or not (n.options.get("command") or n.options.get("url")
                                                          or n.options.get("preset")):
                continue
            if not _allowed(memory, n.name, "%s|%s" % (flag, event), n, now):
                log.notice("%s %s: %s notification through %s left out: rate limit (min_interval %ds, "
                           "max_per_hour %d)" % (rec.fqdn, rec.type, event, n.name, n.min_interval,
                                                 n.max_per_hour))
                continue
            if event == "failure":
                failing[flag] = now  # a recovery is told only after a failure was
            jobs.append({"via": n.name, "key": key, "event": event, "at": now,
                         "facts": _facts(rec, cfg, event, facts, now)})
        ping = "fail_url" if failed_run else "ping_url"
        if n.options.get(ping):
            last = memory.setdefault("ping", {}).get(n.name) or {}
            ok = not failed_run
            if last.get("ok") != ok or now - (last.get("at") or 0) >= n.min_interval:
                memory["ping"][n.name] = {"ok": ok, "at": now}
                why = "; ".join("%s: %s" % (records[k].fqdn + " " + records[k].type, f["error"])
                                for kind, k, f in found if kind == "failed" and k in records)
                text = "all records are right" if ok else why or "a record's addresses could not be read"
                jobs.append({"via": n.name, "key": None, "event": "ping" if ok else "fail", "at": now,
                             "facts": {"DDNS_EVENT": "ping" if ok else "fail", "DDNS_AT": "%d" % now,
                                       "DDNS_MESSAGE": scrub(text, partial=True)}})
    return jobs


def _facts(rec, cfg, event: str, facts: dict, now: float) -> dict:
    """The environment a command gets (DDNS_*) and templates use; every value scrubbed of secrets."""
    address, previous, error = facts["address"], facts["previous"], facts["error"]
    if event == "change":
        was = " (was %s)" % previous if previous else ""
        text = "%s %s is now %s%s" % (rec.fqdn, rec.type, address, was)
    elif event == "failure":
        text = "%s %s: %d updates in a row failed: %s" % (rec.fqdn, rec.type, facts["failures"], error)
    else:
        text = "%s %s is published again: %s" % (rec.fqdn, rec.type, address)
    provider = cfg.providers.get(rec.provider)
    values = {"DDNS_EVENT": event, "DDNS_RECORD": rec.key, "DDNS_FQDN": rec.fqdn, "DDNS_TYPE": rec.type,
              "DDNS_ADDRESS": address, "DDNS_PREVIOUS": previous, "DDNS_ERROR": error,
              "DDNS_FAILURES": str(facts["failures"]), "DDNS_PROVIDER": rec.provider,
              "DDNS_PROVIDER_TYPE": provider.type if provider else "", "DDNS_AT": "%d" % now,
              "DDNS_MESSAGE": text, "DDNS_HOST": os.uname().nodename}
    return {k: scrub(str(v), partial=True).replace("\n", " ") for k, v in values.items()}


class _Locked:
    """notify.json under its own flock (never the state lock): the sender updates it from outside."""

    def __init__(self, state_dir: str) -> None:
        self.path = os.path.join(state_dir, NOTIFY_FILE)
        self.lock = os.path.join(state_dir, LOCK_FILE)

    def __enter__(self) -> dict:
        self.fd = os.open(self.lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        try:
            with open(self.path, "rb") as f:
                self.data = jsonlib.loads(f.read())
            if not isinstance(self.data, dict):
                raise ValueError
        except (OSError, ValueError):
            self.data = {}
        self.data.setdefault("records", {})
        self.was = jsonlib.dumps(self.data, indent=1)
        return self.data

    def __exit__(self, exc_type, *_) -> None:
        try:
            text = jsonlib.dumps(self.data, indent=1)
            if exc_type is None and text != self.was:
                state.write_atomic(self.path, text)
        finally:
            os.close(self.fd)


def read(state_dir: str) -> dict:
    """notify.json as saved (`records`: the last notification per record); {} when missing or bad."""
    try:
        with open(os.path.join(state_dir, NOTIFY_FILE), "rb") as f:
            data = jsonlib.loads(f.read())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def after_run(agent, before: dict, saved: dict, bad: set) -> None:
    """Decide and start this run's notifications; returns at once (the sending is detached)."""
    now = agent.clock()
    keys = [r.key for r in agent.cfg.records if r.enabled]
    with _Locked(agent.state_dir) as memory:
        jobs = decide(agent.cfg, events(keys, before, saved), bool(bad), memory, now, agent.log)
        for job in jobs:
            if job["key"] is not None:
                memory["records"][job["key"]] = {"event": job["event"], "at": job["at"], "via": job["via"],
                                                 "ok": None, "error": None}
    if jobs:
        _detach(agent.cfg, agent.state_dir, jobs, agent.log)


def _detach(cfg, state_dir: str, jobs: list, log) -> None:
    """Send `jobs` from a grandchild of this process, which never waits for it."""
    try:
        pid = os.fork()
    except OSError as e:
        log.error("notifications not sent: cannot start the sender: %s" % (e.strerror or e))
        return
    if pid:
        os.waitpid(pid, 0)  # the child exits at once, leaving the grandchild to init
        return
    try:
        os.setsid()
        if os.fork():
            os._exit(0)
        import syslog

        syslog.closelog()  # its socket goes with the descriptors below; the sender's Log reconnects
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        for name in os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else ():
            if int(name) > 2:  # the state lock above all: the next run must not wait for us
                try:
                    os.close(int(name))
                except OSError:
                    pass
        import signal

        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM):  # not the agent's handlers
            signal.signal(sig, signal.SIG_DFL)
        signal.alarm(int(min(300, 5 + sum(_timeout(cfg, j) for j in jobs))))
        from ddns_agent.log import Log

        send_all(cfg, state_dir, jobs, Log(cfg.agent.log_level, use_syslog=os.path.exists("/dev/log")))
    finally:
        os._exit(0)


def _timeout(cfg, job: dict) -> float:
    n = _section(cfg, job["via"])
    return (n.timeout if n else 10.0) * 2


def _section(cfg, name: str):
    return next((n for n in cfg.notify if n.name == name), None)


def send_all(cfg, state_dir: str, jobs: list, log) -> None:
    """Send each job in turn and keep its outcome in notify.json; failures are logged, never raised."""
    for job in jobs:
        n = _section(cfg, job["via"])
        error = None
        try:
            send(n, job)
        except Exception as e:  # noqa: BLE001 - a notification must never end in a traceback
            error = scrub(str(e) or e.__class__.__name__, partial=True)
            what = "%s notification" % job["event"] if job["key"] else "%s heartbeat" % job["event"]
            log.error("notify %s: %s failed: %s" % (job["via"], what, error))
        if job["key"] is None:
            continue
        try:
            with _Locked(state_dir) as memory:
                last = memory["records"].get(job["key"]) or {}
                if [last.get(k) for k in ("at", "via", "event")] == [job[k] for k in ("at", "via", "event")]:
                    last.update(ok=error is None, error=error)  # unless a later run told something since
        except Exception as e:  # noqa: BLE001
            log.error("notify %s: cannot keep the outcome: %s" % (job["via"], e))


def send(n, job: dict) -> None:
    """Deliver one job through section `n`: its command, its URL or preset, or its heartbeat URL."""
    from ddns_agent import notifysend

    if job["key"] is None:
        notifysend.ping(n, job)
        return
    errors = []
    for way in (notifysend.command, notifysend.http):
        try:
            way(n, job)
        except Exception as e:  # noqa: BLE001 - one way failing must not stop the other
            errors.append(str(e))
    if errors:
        raise RuntimeError("; ".join(errors))
