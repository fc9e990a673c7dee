"""Record sets: one name carrying the addresses of several WANs (docs/record-sets.md).

Pure: which providers can hold a set (config), and the plan of one set record from the members
its sources answer and the members state says we own. No I/O, no clock.
"""

from __future__ import annotations

from ddns_agent.plan import KEEP, PUBLISH, Item


def read_members(r, ptype: str | None, source: tuple, upstream: frozenset) -> tuple:
    """(interface, device, members) of a record with `list interface` or `list device` (config._Reader r).

    One name in all is a plain record; two or more make a set, which reads each one locally, on
    a provider that can hold several records of one name.
    """
    from ddns_agent import providers, ucitypes

    listed = []
    for option, convert in (("interface", ucitypes.interface_name), ("device", ucitypes.device_name)):
        values, line = r.section.options.get(option, ([], 0))
        for value in values if isinstance(values, list) else [values]:
            try:
                listed.append((option, convert(value)))
            except ucitypes.Invalid as e:
                r.fail(str(e), option, line)
    if len(listed) == 1:
        return (listed[0][1], None, ()) if listed[0][0] == "interface" else (None, listed[0][1], ())
    used = upstream.intersection(source)
    if used:
        r.fail("a record with several interfaces or devices reads each one's own address: source %s "
               "cannot be used with it" % " ".join(sorted(used)), "source", r.line("source"))
    if ptype in providers.REGISTRY and not getattr(_load(ptype), "multi", True):
        r.fail("a record with several interfaces or devices needs a provider that holds several records "
               "of one name (cloudflare, rfc2136, dnspod, tencentcloud, alidns); %s keeps one address "
               "per name and type (docs/record-sets.md): use one record per interface, each on its own "
               "name" % ptype, listed[0][0], r.line(listed[0][0]))
    return None, None, tuple(dict.fromkeys(listed))


def _load(ptype: str):
    """The provider class, or None when its package is not installed (reported where it is used)."""
    from ddns_agent import providers
    from ddns_agent.errors import ConfigError

    try:
        return providers.load(ptype)
    except ConfigError:
        return None


def owned(saved: dict | None) -> list:
    """The members we created, from state; a record published before it became a set counts too."""
    if not saved:
        return []
    members = saved.get("members")
    if isinstance(members, list):
        return [dict(m) for m in members if isinstance(m, dict) and isinstance(m.get("address"), str)]
    if saved.get("id") and saved.get("address"):
        source = str(saved.get("source") or "").rpartition(" ")[2] or None  # "netifd wan" -> wan
        return [{"address": saved["address"], "source": source, "id": saved["id"]}]
    return []


def plan_set(record, selections: list, saved: dict | None, now: float, force: bool,
             force_interval: int, config_hash: str, readable: bool = True, event: bool = False) -> Item:
    """Decide a set record; `selections` is [(source name, Selection)] in config order.

    The set's addresses, joined, are planned like one record's address (stops, holds, back-off,
    force_interval); then each member gets its action. A member whose source is down, has no
    address or a refused one leaves the set; an unreadable source keeps its member; when no
    source gives an address the set is kept as it is.
    """
    from ddns_agent.addresses import Selection
    from ddns_agent.plan import plan_record
    from ddns_agent.sources import View

    mine = owned(saved)  # kept across a config change, but then checked against the provider first
    moved = saved is not None and saved.get("config") != config_hash
    wanted, gone, unread = [], {}, []
    for source, sel in selections:
        if sel.status == "error":
            unread.append(sel.reason)
            wanted += [(source, m["address"]) for m in mine if m.get("source") == source]
        elif sel.status == "ok":
            wanted.append((source, sel.address))
        else:
            gone[source] = sel.reason
    wanted = [w for i, w in enumerate(wanted) if all(a != w[1] for _, a in wanted[:i])]
    if wanted:
        joined = Selection(", ".join(a for _, a in wanted), "ok")
    else:
        status = "error" if unread else "refused" if all(
            s.status == "refused" for _, s in selections) else "down"
        joined = Selection(None, status, "; ".join(unread + list(gone.values())))
    item = plan_record(View(record, members=()), joined, saved, now, force, force_interval, config_hash,
                       readable, event)
    item.record, item.unreadable = record, bool(unread)
    if not wanted or item.action not in (KEEP, PUBLISH):
        return item
    item.members = diff(wanted, mine, gone)
    words = [m["why"] for m in item.members if m.get("why")]
    if words and item.action == KEEP:
        item.action = PUBLISH
    if words:  # the words of each change say more than "address changed from <the old list>"
        plain = item.reason == "not published yet" or item.reason.startswith("address changed")
        item.reason = "; ".join(([] if plain else [item.reason]) + words)
    item.verify = item.verify or moved or not any(m.get("id") for m in mine)
    leaving = {m.get("source") for m in item.members if m["action"] == "delete"}
    notes = unread + [why for source, why in gone.items() if source not in leaving]
    item.reason = "; ".join([item.reason] + notes)  # "unchanged; wanb is down"
    return item


def diff(wanted: list, mine: list, gone: dict) -> list:
    """Members with actions and words: keep what stays, re-point what left, create, delete.

    A member whose address left is re-pointed at a missing address (its own source's first)
    rather than deleted and created again; only members with an id (ours) are ever deleted.
    """
    addresses = [a for _, a in wanted]
    kept, free, members = {}, [], []
    for m in mine:
        if m["address"] in addresses and m["address"] not in kept:
            kept[m["address"]] = m
        elif m.get("id"):
            free.append(m)
    for source, address in wanted:
        m = {"address": address, "source": source, "action": "keep", "id": None}
        members.append(m)
        if address in kept:
            m.update(id=kept[address].get("id"), ttl=kept[address].get("ttl"))
            continue
        old = next((f for f in free if f.get("source") == source), free[0] if free else None)
        if old is None:
            m.update(action="create", why="%s: %s joins the set" % (source, address))
        else:
            free.remove(old)
            m.update(action="update", id=old["id"], previous=old["address"], ttl=old.get("ttl"),
                     why="%s: %s replaces %s" % (source, address, old["address"]))
    for m in free:
        why = gone.get(m.get("source")) or "%s no longer has it" % m.get("source")
        members.append(dict(m, action="delete", why="%s: %s leaves the set" % (why, m["address"])))
    return members


def outcome(entry: dict, out, log, what: str) -> None:
    """Keep a set's members (ours, done or not) in state; log each change."""
    entry["members"] = out.members
    for m in out.item.members or ():
        if m.get("error"):
            log.error("%s: failed: %s: %s" % (what, m["why"], m["error"]))
        elif m["action"] != "keep":
            log.info("%s: %s" % (what, m["why"]))
