"""Another writer on the same record: pure judgement of what a read-back or an answer showed.

Evidence is the value the provider held just before our write (`found`): a lookup before an
update (the force_interval re-check, --force, a retry after an error, a record without cached id),
or an answer that tells (dyndns2 `nochg`: the record already held the address we sent). It is
another writer when `found` is none of the values we may have written ourselves (our last
confirmed write, an attempt that failed or was cut short: it may have landed) and either differs
from our address now or is our new address while we last wrote another one.

Each conflict counts; a conflict more than WINDOW_S after the previous one starts the count
again. The HOLD_AFTER-th conflict in a row holds the record: no more writes until `update
--force` (takes it back once, the count starts again) or record option `takeover 1` (takes it
back every time, never holds). State: the record's `conflict` entry, {"found", "ours",
"wrote_at", "seen_at", "count", "held"}. No I/O; the clock is passed in.
"""

from __future__ import annotations

import time

#: conflicts in a row (each within WINDOW_S of the previous) that hold the record
HOLD_AFTER = 3
#: two days: force_interval's daily re-checks of a record two clients fight over add up
WINDOW_S = 2 * 86400


class Verdict:
    """What one piece of evidence means: the new `conflict` entry, hold or write, the log line."""

    __slots__ = ("entry", "hold", "message")

    def __init__(self, entry: dict, hold: bool, message: str) -> None:
        self.entry = entry      # the record's new `conflict` state entry
        self.hold = hold        # do not write: the record is held
        self.message = message  # one line for the log, without the record's name


def _clock(t) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t)) if isinstance(t, (int, float)) else "an unknown time"


def _when(t) -> float | None:
    return t if isinstance(t, (int, float)) and not isinstance(t, bool) and 0 <= t < 1e11 else None


def entry_of(saved: dict | None) -> dict | None:
    """A clean copy of the record's `conflict` entry when it has the contract's shape, else None."""
    c = (saved or {}).get("conflict")
    if not isinstance(c, dict):
        return None
    count = c.get("count")
    ok = (isinstance(c.get("found"), (str, type(None))) and isinstance(c.get("ours"), (str, type(None)))
          and isinstance(count, int) and not isinstance(count, bool) and 0 <= count < 1000000
          and isinstance(c.get("held"), bool))
    if not ok:
        return None
    return {"found": c["found"], "ours": c["ours"], "wrote_at": _when(c.get("wrote_at")),
            "seen_at": _when(c.get("seen_at")), "count": count, "held": c["held"]}


def judge(before: dict | None, found: str | None, ours: str, now: float, takeover: bool = False,
          force: bool = False) -> Verdict | None:
    """Judge `found` (what the provider held before our write of `ours`); None: no other writer.

    `before` is the record's state entry as it was before this run (our last write in `address`
    at `time`; `failed_address` and `pending`: attempts that may have landed).
    """
    before = before or {}
    wrote = before.get("address")
    if found is None or not wrote:
        return None  # nothing seen, or we never wrote this record: nothing to compare with
    mine = {wrote, before.get("failed_address"), before.get("pending")}
    if found in mine:
        return None
    last = entry_of(before) or {"count": 0, "seen_at": None}
    count = 1
    if last["count"] > 0 and last["seen_at"] is not None and now - last["seen_at"] <= WINDOW_S:
        count = last["count"] + 1
    hold = not (takeover or force) and count >= HOLD_AFTER
    what = ("another client changed the record: we wrote %s at %s, found %s at %s"
            % (wrote, _clock(before.get("time")), found, _clock(now)))
    if found == ours:
        then = "; it is our address now, nothing to write"
    elif hold:
        then = "; not writing: another client is updating it"
    else:
        then = "; writing %s back" % ours
    if force:
        then += " (--force: the count starts again)"
        count = 0
    elif takeover:
        then += " (conflict %d; takeover 1)" % count
    elif hold:
        then += " (conflict %d of %d): held until `update --force` or option takeover 1" % (count, HOLD_AFTER)
    else:
        then += " (conflict %d of %d)" % (count, HOLD_AFTER)
    entry = {"found": found, "ours": wrote, "wrote_at": before.get("time"), "seen_at": now,
             "count": count, "held": hold}
    return Verdict(entry, hold, what + then)


def hold_reason(fqdn: str, saved: dict | None) -> str | None:
    """The plan's reason for a held record (None when it is not held)."""
    c = entry_of(saved)
    if c is None or not c["held"]:
        return None
    return ("another client is updating %s (found %s, we wrote %s); not writing until `update --force` "
            "or option takeover 1" % (fqdn, c["found"], c["ours"]))


class Judge:
    """One run's judge: the state before the run, --force, and each record's verdict (judged once)."""

    __slots__ = ("before", "force", "clock", "verdicts")

    def __init__(self, before: dict, force: bool, clock, hashes: dict) -> None:
        # record key -> state entry before this run; one written under another config is no write of ours
        self.before = {k: e for k, e in before.items() if e.get("config") == hashes.get(k)}
        self.force = force
        self.clock = clock
        self.verdicts: dict = {}

    def verdict(self, item, found: str | None) -> Verdict | None:
        """judge() for plan item `item`; the first call per record decides."""
        key = item.record.key
        if key not in self.verdicts:
            self.verdicts[key] = judge(self.before.get(key), found, item.address, self.clock(),
                                       bool(item.record.options.get("takeover")), self.force)
        return self.verdicts[key]

    def hold(self, item, found: str | None) -> bool:
        """True: do not write `item` (publish.py asks between its read and its write)."""
        v = self.verdict(item, found)
        return v is not None and v.hold

    def keep(self, item, out, entry: dict, warn) -> bool:
        """Warn and keep the verdict on a successful outcome in `entry`; True when the record is now held."""
        # a conflict seen by the first attempt's read stands even when a retry's read showed our own write
        seen = item.record.key in self.verdicts or out.found is not None
        v = self.verdict(item, out.found) if seen else None
        if v is not None:
            warn("%s %s: %s" % (item.record.fqdn, item.record.type, v.message))
            entry["conflict"] = v.entry
        elif self.force and entry_of(entry):  # taken back once
            entry["conflict"] = dict(entry_of(entry), count=0, held=False)
        if v is None or not v.hold:
            return False
        # a `nochg` answer (nothing written) that is the last conflict holds the record too
        entry.update(result="held", checked=self.clock())
        entry["note"] = hold_reason(item.record.fqdn, entry)  # what rpcd's shell status shows
        return True
