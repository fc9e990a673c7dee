"""Record sets: one name carrying the addresses of several WANs (docs/record-sets.md).

Pure: which providers can hold a set (config), and the plan of one set record from the members
its sources answer and the members state says we own. No I/O, no clock.
"""

from __future__ import annotations

from ddns_agent.plan import KEEP, PUBLISH, REFUSE, SKIP, WAIT, Item

#: update-only protocols: why a set cannot go there, in words the config error shows
_NO_SET = {
    "dyndns2": "dyndns2 keeps one address per name and family (deSEC's comma-separated myip is not "
               "sent yet)",
    "duckdns": "DuckDNS keeps one IPv4 and one IPv6 address per name",
    "webhook": "a webhook template takes one address",
    "log": "",
}


def read_members(r, ptype: str | None, source: tuple, upstream: frozenset) -> tuple:
    """(interface, device, members) of a record with `list interface` or `list device` (config._Reader r).

    A list of one name is a plain record; two or more make a set, which reads each one locally,
    on a provider that can hold several records of one name.
    """
    from ddns_agent import uci

    listed = []
    single = {}
    for option, convert in (("interface", uci.interface_name), ("device", uci.device_name)):
        values, line = r.section.options.get(option, (None, 0))
        if isinstance(values, list):
            for value in values:
                try:
                    listed.append((option, convert(value)))
                except uci.Invalid as e:
                    r.fail(str(e), option, line)
        else:
            single[option] = r.get(option, convert)
    if len(listed) == 1 and not any(single.values()):
        single[listed[0][0]] = listed[0][1]
        return single.get("interface"), single.get("device"), ()
    listed += [(o, n) for o, n in single.items() if n]
    used = upstream.intersection(source)
    if used:
        r.fail("a record with several interfaces or devices reads each one's own address: source %s "
               "cannot be used with it" % " ".join(sorted(used)), "source", r.line("source"))
    problem = config_problem(ptype) if ptype else None
    if problem:
        r.fail(problem, listed[0][0], r.line(listed[0][0]))
    return None, None, tuple(dict.fromkeys(listed))


def config_problem(ptype: str) -> str | None:
    """Why provider type `ptype` cannot keep a record set, or None when it can."""
    if ptype in _NO_SET:
        return "a record with several interfaces or devices needs a provider that holds several " \
               "records of one name (cloudflare, rfc2136, dnspod, tencentcloud, alidns)%s: use one " \
               "interface per record" % ("; " + _NO_SET[ptype] if _NO_SET[ptype] else "")
    from ddns_agent import providers
    from ddns_agent.errors import ConfigError

    if ptype not in providers.REGISTRY:
        return None  # reported on the provider section
    try:
        multi = providers.load(ptype).multi
    except ConfigError:
        return None  # the provider's own error (not installed) is reported where it is used
    if not multi:
        return "provider type %s keeps one record per name and type, so it cannot hold the " \
               "addresses of several interfaces: use one interface per record" % ptype
    return None


def owned(saved: dict | None) -> list:
    """The members we created, from state; a record published before it became a set counts too."""
    if not saved:
        return []
    members = saved.get("members")
    if isinstance(members, list):
        return [dict(m) for m in members if isinstance(m, dict) and isinstance(m.get("address"), str)]
    if saved.get("id") and saved.get("address"):
        return [{"address": saved["address"], "source": saved.get("source"), "id": saved["id"]}]
    return []


def _hold(record, saved: dict, joined: str, now: float, force: bool, event: bool) -> str | None:
    """Why the provider must not be called now (a stop, a rate-limit hold, a back-off), or None."""
    if saved.get("stopped"):
        return "stopped after a fatal error (%s); fix the config to retry" % saved.get("error")
    hold = saved.get("hold_until") or 0
    if hold > now:
        return "provider asked to wait %d s more (%s)" % (hold - now, saved.get("error"))
    due = saved.get("next_check") or 0
    if (event and not force and saved.get("result") == "failed" and due > now
            and saved.get("failed_address") == joined):
        return "backing off after %d failure(s) (%s); next try in %d s, or at once on an address " \
               "change" % (saved.get("failures") or 1, saved.get("error"), due - now)
    return None


def plan_set(record, selections: list, saved: dict | None, now: float, force: bool,
             force_interval: int, config_hash: str, readable: bool = True, event: bool = False) -> Item:
    """Decide a set record; `selections` is [(source name, Selection)] in config order.

    A member whose source is down, has no address or a refused one leaves the set; one whose
    source cannot be read stays. When no source gives an address the set is kept as it is.
    """
    if not record.enabled:
        return Item(record, SKIP, None, None, "record is disabled (enabled 0)")
    if saved is not None and saved.get("config") != config_hash:
        saved = None
    mine = owned(saved)
    previous = saved.get("address") if saved else None
    wanted, gone, unread = [], {}, []
    for source, sel in selections:
        if sel.status == "ok":
            if all(a != sel.address for _, a in wanted):
                wanted.append((source, sel.address))
        elif sel.status == "error":
            unread.append(sel.reason)
            wanted += [(source, m["address"]) for m in mine if m.get("source") == source
                       and all(a != m["address"] for _, a in wanted)]
        else:
            gone[source] = sel.reason
    if not wanted:
        why = "; ".join(unread + list(gone.values())) or "no source"
        action = REFUSE if selections and all(s.status == "refused" for _, s in selections) else KEEP
        item = Item(record, action, None, previous, "%s; keeping the set as it is" % why)
        item.unreadable = bool(unread)
        return item
    joined = ", ".join(a for _, a in wanted)
    if saved:
        hold = _hold(record, saved, joined, now, force, event)
        if hold:
            return Item(record, WAIT, joined, previous, hold)
    members, words = diff(wanted, mine, gone)
    item = Item(record, KEEP, joined, previous, "")
    item.members = members
    item.unreadable = bool(unread)
    pending = saved.get("pending") if saved else None
    changed = [m for m in members if m["action"] != "keep"]
    if not changed and saved and not saved.get("error") and not pending:
        checked = saved.get("checked") or 0
        due = readable and force_interval > 0 and now - checked >= force_interval
        if not (force or due):
            item.reason = "; ".join(["unchanged"] + unread)
            return item
        words = ["re-checking the remote records (%s)" % ("--force" if force else "force_interval elapsed")]
    elif pending:
        words.insert(0, "publishing %s was cut short (outcome unknown); checking" % pending)
    elif saved and saved.get("error"):
        words.insert(0, "retrying after an error")
    item.action = PUBLISH
    item.reason = "; ".join(words + unread) or "not published yet"
    item.verify = bool(not any(m.get("id") for m in mine) or (saved and (saved.get("error") or force
                                                                          or pending)) or not changed)
    return item


def diff(wanted: list, mine: list, gone: dict) -> tuple:
    """(members with actions, plain words): keep what stays, re-point what left, create, delete.

    A member whose address left is re-pointed at a missing address (its own source's first)
    rather than deleted and created again; only members with an id (ours) are ever deleted.
    """
    addresses = [a for _, a in wanted]
    kept, free = {}, []
    for m in mine:
        if m["address"] in addresses and m["address"] not in kept:
            kept[m["address"]] = m
        elif m.get("id"):
            free.append(m)
    members, words = [], []
    for source, address in wanted:
        m = kept.get(address)
        if m is not None:
            members.append({"address": address, "source": source, "action": "keep", "id": m.get("id")})
            continue
        old = next((f for f in free if f.get("source") == source), free[0] if free else None)
        if old is None:
            members.append({"address": address, "source": source, "action": "create", "id": None})
            words.append("%s: %s joins the set" % (source, address))
        else:
            free.remove(old)
            members.append({"address": address, "source": source, "action": "update", "id": old["id"],
                            "previous": old["address"]})
            words.append("%s: %s replaces %s" % (source, address, old["address"]))
    for m in free:
        members.append({"address": m["address"], "source": m.get("source"), "action": "delete",
                        "id": m["id"]})
        why = gone.get(m.get("source")) or "%s no longer has it" % (m.get("source") or "its source")
        words.append("%s: %s leaves the set" % (why, m["address"]))
    return members, words


_DONE = {"create": "joined the set", "update": "replaced %s in the set", "delete": "left the set"}
_FAILED = {"create": "could not join the set", "update": "could not replace %s in the set",
           "delete": "could not leave the set"}


def outcome(entry: dict, out, log, what: str) -> None:
    """Keep a set's members (ours, done or not) and the records not ours in state; log each change."""
    entry["members"] = out.members
    for m in out.item.members or ():
        if m["action"] == "keep":
            continue
        words = (_FAILED if m.get("error") else _DONE)[m["action"]]
        words = words % m.get("previous") if "%s" in words else words
        if m.get("error"):
            log.error("%s: %s (%s) %s: %s" % (what, m["address"], m.get("source"), words, m["error"]))
        else:
            log.info("%s: %s (%s) %s" % (what, m["address"], m.get("source"), words))
    others = out.remote.others if out.remote is not None else None
    if others is None:
        return
    if not others:
        entry.pop("duplicates", None)
        return
    entry["duplicates"] = [{"id": o.id, "value": o.value} for o in others[:10]]
    listed = ", ".join("%s (%s)" % (o.id, o.value) for o in others[:10])
    log.warning("%s: the provider holds %d more record(s) of this name that this agent did not "
                "create, left as they are: %s" % (what, len(others), listed))
