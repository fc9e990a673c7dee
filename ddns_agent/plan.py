"""Pure planning: (records, observed addresses, state, now) -> Plan. No I/O, no clock.

Per record one action:
  publish  the wanted address differs from the last published one (or a re-check is due)
  keep     nothing to do: unchanged, or the source is down/unreadable (never delete on a down WAN)
  refuse   the only address found must not be published (private, CGNAT, ...); reason says why
  wait     the provider told us to rest, a fatal error stands until the config changes, or
           another client keeps changing the record (conflict.py)
  skip     the record is disabled
"""

from __future__ import annotations

PUBLISH = "publish"
KEEP = "keep"
REFUSE = "refuse"
WAIT = "wait"
SKIP = "skip"


class Item:
    """The decision for one record."""

    __slots__ = ("record", "action", "address", "previous", "reason", "origin", "verify",
                 "unreadable", "members")

    def __init__(self, record, action: str, address: str | None, previous: str | None,
                 reason: str, origin: str = "", verify: bool = False) -> None:
        self.record = record        # config.RecordConfig
        self.action = action
        self.address = address      # the address to publish (or observed, for keep/refuse)
        self.previous = previous    # the last published address, from state
        self.reason = reason        # plain words for the user
        self.origin = origin        # which source gave the address
        self.verify = verify        # read the remote record before writing (force, drift repair)
        self.unreadable = False     # the source could not be read (counts as a failed record)
        self.members = None         # a record set: [{address, source, action, id}] (recordset.py)

    def to_json(self) -> dict:
        """The item as `plan --json` prints it."""
        r = self.record
        out = {"record": r.key, "fqdn": r.fqdn, "type": r.type, "provider": r.provider,
               "action": self.action, "address": self.address, "previous": self.previous,
               "source": self.origin or None, "reason": self.reason}
        if self.members is not None:
            out["members"] = [{k: m.get(k) for k in ("address", "source", "action", "previous")}
                              for m in self.members]
        return out


class Plan:
    """Every record's decision, in config order."""

    __slots__ = ("items",)

    def __init__(self, items: list) -> None:
        self.items = items

    def to_publish(self) -> list:
        """Items that need provider calls."""
        return [i for i in self.items if i.action == PUBLISH]

    def to_json(self) -> dict:
        """The plan as `plan --json` prints it."""
        return {"records": [i.to_json() for i in self.items]}


def plan_record(record, selection, saved: dict | None, now: float, force: bool,
                force_interval: int, config_hash: str, readable: bool = True,
                event: bool = False) -> Item:
    """Decide one record; `saved` is its state entry, `selection` what the sources found.

    `readable` False: the provider cannot read records (dyndns2, DuckDNS, webhook), so an elapsed
    force_interval would be a blind no-change update, which these services count as abuse
    (specs/providers.md §6.2); only --force re-sends.

    `event` True (a hotplug or watch run): a record whose last attempt failed for this very address
    waits until its `next_check` (the back-off); a new address goes at once. A plain `update`
    (the user, or the re-check loop when next_check is due) and --force never wait for it.
    """
    if getattr(record, "members", None):  # several sources: `selection` is [(source, Selection)]
        from ddns_agent.recordset import plan_set

        return plan_set(record, selection, saved, now, force, force_interval, config_hash, readable,
                        event)
    if not record.enabled:
        return Item(record, SKIP, None, None, "record is disabled (enabled 0)")
    if saved is not None and saved.get("config") != config_hash:
        saved = None  # record or provider config changed: start afresh, lift any stop
    previous = saved.get("address") if saved else None
    status = selection.status
    if status != "ok":
        if status == "refused":
            return Item(record, REFUSE, None, previous, selection.reason, selection.origin)
        item = Item(record, KEEP, None, previous,
                    "%s; keeping the published record" % selection.reason, selection.origin)
        item.unreadable = status == "error"
        return item
    address = selection.address
    if saved:
        if saved.get("stopped"):
            return Item(record, WAIT, address, previous,
                        "stopped after a fatal error (%s); fix the config to retry"
                        % saved.get("error"), selection.origin)
        if saved.get("conflict") and not force and not record.options.get("takeover"):
            from ddns_agent.conflict import hold_reason

            held = hold_reason(record.fqdn, saved)
            if held:
                return Item(record, WAIT, address, previous, held, selection.origin)
        hold = saved.get("hold_until") or 0
        if hold > now:
            return Item(record, WAIT, address, previous,
                        "provider asked to wait %d s more (%s)" % (hold - now, saved.get("error")),
                        selection.origin)
        due = saved.get("next_check") or 0
        if (event and not force and saved.get("result") == "failed" and due > now
                and saved.get("failed_address") == address):
            return Item(record, WAIT, address, previous,
                        "backing off after %d failure(s) (%s); next try in %d s, or at once on an "
                        "address change" % (saved.get("failures") or 1, saved.get("error"), due - now),
                        selection.origin)
    pending = saved.get("pending") if saved else None
    if previous == address and saved and not saved.get("error") and not pending:
        checked = saved.get("checked") or 0
        due = readable and force_interval > 0 and now - checked >= force_interval
        if not (force or due):
            return Item(record, KEEP, address, previous, "unchanged", selection.origin)
        why = "--force" if force else "force_interval elapsed"
        return Item(record, PUBLISH, address, previous,
                    "re-checking the remote record (%s)" % why, selection.origin, verify=True)
    if pending:
        reason = "publishing %s was cut short (outcome unknown); checking" % pending
    elif previous is None:
        reason = "not published yet"
    elif previous == address:
        reason = "retrying after an error"
    else:
        reason = "address changed from %s" % previous
    if selection.reason:  # an upstream source's note: "WAN has a private address; ..."
        reason = "%s; %s" % (reason, selection.reason)
    # a failed or unconfirmed earlier attempt may have landed: read back first
    verify = bool(saved and (saved.get("error") or force or pending))
    return Item(record, PUBLISH, address, previous, reason, selection.origin, verify=verify)


def plan(records: list, selections: dict, saved: dict, now: float, force: bool,
         force_interval: int, config_hashes: dict, blind: frozenset = frozenset(),
         event: bool = False) -> Plan:
    """Decide every record; `selections`, `saved` and `config_hashes` are keyed by record key.

    `blind` holds the keys of records whose provider cannot read records back; `event` see
    plan_record.
    """
    return Plan([plan_record(r, selections.get(r.key), saved.get(r.key), now, force, force_interval,
                             config_hashes[r.key], r.key not in blind, event)
                 for r in records])
