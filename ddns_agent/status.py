"""`status`: each record's last result, since when, and why, from the state directory (docs/status.md).

Reads `state.json` (and `notify.json`, written by notifications); never calls a provider. The JSON
schema is documented and stable: `"schema": 1`; fields are only ever added. Reasons use plan.py's
words (a held record's is conflict.hold_reason itself; a refused record's is the plan's, saved).
"""

from __future__ import annotations

import os
import sys
import time

SCHEMA = 1
NOTIFY_FILE = "notify.json"
#: results that mean "the record holds our address": one `since` across re-checks
_GOOD = ("published", "unchanged")


def mark_since(before: dict, saved: dict, now: float) -> None:
    """Set `since` on each entry whose result or address changed in this run (published = unchanged)."""
    for key, entry in saved.items():
        old = before.get(key) or {}
        if _kind(old) != _kind(entry) or not entry.get("since"):
            result, c = entry.get("result"), entry.get("conflict")
            at = entry.get("time_failed") if result == "failed" else entry.get("time")
            if result == "held":
                at = c.get("seen_at") if isinstance(c, dict) else None
            entry["since"] = at if _kind(entry)[0] in ("published", "failed", "held") and _time(at) else now


def _kind(e: dict) -> tuple:
    r = e.get("result")
    return ("published" if r in _GOOD else r), e.get("address")


def _notifications(state_dir: str) -> dict:
    """`notify.json`'s per-record entries ({} when absent or not the contract's shape)."""
    from ddns_agent import jsonlib

    try:
        fd = os.open(os.path.join(state_dir, NOTIFY_FILE), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            data = jsonlib.loads(f.read(1 << 20))
    except (OSError, ValueError):
        return {}
    records = data.get("records") if isinstance(data, dict) else None
    return records if isinstance(records, dict) else {}


def _one(value):
    """A saved text as one bounded line without secrets (a state file may predate a scrubbing fix)."""
    from ddns_agent.errors import one_line

    return one_line(value) if isinstance(value, str) else None


def _time(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def reason(record, s: dict, now: float) -> str | None:
    """Why the record is refused, held, waiting or failed, in plan.py's words; None when fine."""
    from ddns_agent.conflict import hold_reason

    result = s.get("result")
    error = _one(s.get("error"))
    if result == "refused":  # plan refuses before it looks at a conflict
        return _one(s.get("note"))
    held = hold_reason(record.fqdn, s)
    if held:
        return held
    if s.get("read_error"):
        return _one(s.get("read_error"))
    if result != "failed":
        return None
    if s.get("stopped"):
        return "stopped after a fatal error (%s); fix the config to retry" % error
    hold = _time(s.get("hold_until")) or 0
    if hold > now:
        return "provider asked to wait %d s more (%s)" % (hold - now, error)
    due = _time(s.get("next_check")) or 0
    if due > now:
        return ("backing off after %d failure(s) (%s); next try in %d s, or at once on an address change"
                % (s.get("failures") or 1, error, due - now))
    return "retrying after an error (%s)" % error


def _members(s: dict) -> list:
    rows = s.get("members")
    if not isinstance(rows, list):
        return []
    return [{"address": _one(m.get("address")), "source": _one(m.get("source")), "id": m.get("id")
             if isinstance(m.get("id"), (str, int)) else None} for m in rows if isinstance(m, dict)]


def _notification(n) -> dict | None:
    if not isinstance(n, dict):
        return None
    return {"event": _one(n.get("event")), "at": _time(n.get("at")), "via": _one(n.get("via")),
            "ok": n.get("ok") if isinstance(n.get("ok"), bool) else None, "error": _one(n.get("error"))}


def rows(cfg, saved: dict, notified: dict, now: float) -> list:
    """One row per configured record, as `status --json` prints it (docs/status.md)."""
    from ddns_agent.conflict import entry_of

    out = []
    for r in cfg.records:
        s = saved.get(r.key) or {}
        result = s.get("result") or ("disabled" if not r.enabled else "never")
        c = entry_of(s)
        since = _time(s.get("since")) or _time(s.get("time_failed" if result == "failed" else "time"))
        dups = s.get("duplicates") if isinstance(s.get("duplicates"), list) else []
        out.append({
            "record": r.key, "fqdn": r.fqdn, "type": r.type, "provider": r.provider,
            "interface": r.interface, "source": _one(s.get("source")), "address": _one(s.get("address")),
            "result": result, "since": since, "time": _time(s.get("time")),
            "reason": reason(r, s, now), "last_error": _one(s.get("read_error") or s.get("error")),
            "failures": s.get("failures") or 0, "next_check": _time(s.get("next_check")),
            "duplicates": [d for d in dups if isinstance(d, dict)], "members": _members(s),
            "conflict": dict(c, found=_one(c["found"]), ours=_one(c["ours"])) if c else None,
            "notification": _notification(notified.get(r.key))})
    return out


def _clock(t, now: float) -> str:
    if t is None:
        return "-"
    fmt = "%H:%M:%S" if abs(now - t) < 43200 else "%Y-%m-%d %H:%M:%S"
    return time.strftime(fmt, time.localtime(t))


def text(row: dict, now: float) -> list:
    """The row as text: one line, plus indented lines for members, a conflict, a notification."""
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["since"])) if row["since"] else "-"
    line = "%-32s %-4s %-10s %-40s %s" % (row["fqdn"], row["type"], row["result"], row["address"] or "-",
                                           since)
    if row["reason"] and row["result"] != "failed":  # a failed record's reason retells its error
        line += "  reason: %s" % row["reason"]
    if row["last_error"]:
        line += "  error: %s" % row["last_error"]
        if row["next_check"] and row["result"] == "failed":
            line += "; next try %s" % _clock(row["next_check"], now)
    if row["duplicates"]:
        line += "  also at the provider, not updated: %s" % ", ".join(
            "%s (%s)" % (d.get("id"), d.get("value")) for d in row["duplicates"])
    lines = [line]
    if row["members"]:
        lines.append("    members: " + ", ".join(
            "%s (%s)" % (m["address"], m["source"] or "?") for m in row["members"]))
    c = row["conflict"]
    if c and (c["count"] or c["held"]):
        lines.append("    another client: found %s at %s, we wrote %s; conflict %d%s"
                     % (c["found"], _clock(c["seen_at"], now), c["ours"], c["count"],
                        ", held" if c["held"] else ""))
    n = row["notification"]
    if n:
        how = {True: "sent", None: "being sent"}.get(n["ok"]) or "failed: %s" % (n["error"] or "no reason")
        lines.append("    notified: %s via %s at %s, %s" % (n["event"], n["via"], _clock(n["at"], now), how))
    return lines


def show(cfg, state_dir: str, as_json: bool, now: float | None = None) -> int:
    """Print every configured record's status; exit 0."""
    from ddns_agent import jsonlib, state

    now = time.time() if now is None else now
    saved = state.read(state_dir, lambda t: print("ddns-agent: notice: %s" % t, file=sys.stderr))["records"]
    table = rows(cfg, saved, _notifications(state_dir), now)
    if as_json:
        print(jsonlib.dumps({"schema": SCHEMA, "records": table}, indent=2))
        return 0
    for row in table:
        print("\n".join(text(row, now)))
    return 0
