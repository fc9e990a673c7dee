"""The `config notify NAME` section: validated here, in the core, so a bad one is a config error even
without the ddns-agent-notify package that sends notifications (docs/notify.md)."""

from __future__ import annotations

from ddns_agent import ucitypes
from ddns_agent.secret import Secret, has_control

EVENTS = ("change", "failure", "recovery")
PRESETS = ("ntfy", "telegram", "bark", "serverchan", "wecom", "discord", "slack")
#: the one option each preset cannot do without; `url` (discord, slack, ntfy) is the service's URL
PRESET_NEEDS = {"ntfy": "url", "telegram": "token", "bark": "token", "serverchan": "token",
                "wecom": "token", "discord": "url", "slack": "url"}
SECRETS = ("url", "token", "ping_url", "fail_url")
METHODS = ("GET", "POST", "PUT", "PATCH")
#: {word} in url, body and header: the DDNS_<WORD> facts a command gets (docs/notify.md)
PLACEHOLDERS = ("event", "record", "fqdn", "type", "address", "previous", "error", "failures", "provider",
                "provider_type", "at", "message", "host")
_OPTIONS = SECRETS + tuple(s + "_file" for s in SECRETS) + (
    "enabled", "preset", "chat_id", "method", "body", "header", "command", "record", "on", "failures",
    "min_interval", "max_per_hour", "timeout", "endpoint", "cacert", "allow_insecure_http")


class NotifyConfig:
    """A `config notify NAME` section; `options` holds converted values, secrets as `Secret`."""

    __slots__ = ("name", "options", "records", "on", "failures", "min_interval", "max_per_hour",
                 "timeout", "line")

    def __init__(self, name: str, options: dict, records: tuple = (), on: tuple = EVENTS,
                 failures: int = 3, min_interval: int = 300, max_per_hour: int = 20,
                 timeout: float = 10.0, line: int = 0) -> None:
        self.name = name
        self.options = options          # preset url token chat_id method body header command ...
        self.records = records          # record keys covered; () = all
        self.on = on                    # events sent
        self.failures = failures        # consecutive failures before a `failure` notification
        self.min_interval = min_interval  # seconds between two of one record and event
        self.max_per_hour = max_per_hour  # notifications of this section per hour, all records
        self.timeout = timeout          # seconds per request or command
        self.line = line

    def covers(self, key: str) -> bool:
        """True when the section is about record `key`."""
        return not self.records or key in self.records


def _words(r, name: str) -> tuple:
    """A `list` (or a single `option`) as a tuple of values, each with its line."""
    entry = r.section.options.get(name)
    if entry is None:
        return ()
    values, line = entry
    values = values if isinstance(values, list) else [values]
    for bad in filter(None, map(has_control, values)):
        r.fail("holds %s; expected one line of printable text" % bad, name, line)
    return tuple((v, line) for v in values if not has_control(v))


def section(r, record_keys, read_secret) -> NotifyConfig | None:
    """Validate one notify section through config's `_Reader`; None when it has errors."""
    sec = r.section
    before = len(r.errors)
    if sec.anonymous:
        r.fail("a notify section needs a name (notify.json and logs show it): config notify 'NAME'")
        return None
    r.allow(_OPTIONS)
    opts = {}
    for name in SECRETS:
        convert = str if name == "token" else ucitypes.url
        value = r.get(name, convert)
        if name + "_file" in sec.options:
            if value is not None:
                r.fail("give %s or %s_file, not both" % (name, name), name + "_file", r.line(name + "_file"))
            value = r.get(name + "_file", lambda path, c=convert: c(read_secret(path)))
        if value is not None:
            opts[name] = Secret(value)
    for name, convert in (("preset", ucitypes.choice(PRESETS)), ("chat_id", str), ("body", str),
                          ("method", ucitypes.choice(METHODS, str.upper)),
                          ("command", ucitypes.absolute_path), ("endpoint", ucitypes.url),
                          ("cacert", ucitypes.existing_file)):
        value = r.get(name, convert)
        if value is not None:
            opts[name] = value
    headers = []
    for value, line in _words(r, "header"):
        name, colon, _ = value.partition(":")
        if not colon or not name.strip() or any(c in name for c in " \t\r\n") or "\n" in value:
            r.fail("expected 'Name: value', got %r" % name.strip()[:40], "header", line)
        headers.append(value)
    opts["header"] = tuple(headers)
    listed = _words(r, "record")
    records = tuple(v for v, _ in listed)
    for value, line in listed:
        if value not in record_keys:
            r.fail("no record section named %r%s" % (value, ucitypes.hint(value, record_keys)), "record",
                   line)
    on = tuple(w for v, _ in _words(r, "on") for w in v.split())
    for word in on:
        if word not in EVENTS:
            r.fail("unknown event %r; expected some of %s" % (word, " ".join(EVENTS)), "on", r.line("on"))
    import re

    url = opts["url"].reveal() if "url" in opts else ""
    for name, texts in (("url", [url]), ("body", [opts.get("body") or ""]), ("header", headers)):
        for text in texts:
            for word in re.findall(r"\{([A-Za-z0-9_]+)\}", text):
                if word not in PLACEHOLDERS:
                    known = " ".join("{%s}" % p for p in PLACEHOLDERS)
                    r.fail("unknown placeholder {%s}; known: %s" % (word, known), name, r.line(name))
    preset = opts.get("preset")
    if preset and PRESET_NEEDS[preset] not in opts:
        r.fail("missing required option (preset %s needs it; or %s_file)" % (preset, PRESET_NEEDS[preset]),
               PRESET_NEEDS[preset])
    if preset == "telegram" and "chat_id" not in opts:
        r.fail("missing required option (preset telegram needs it)", "chat_id")
    if not (preset or "url" in opts or "command" in opts or "ping_url" in opts or "fail_url" in opts):
        r.fail("needs option command, url, preset, ping_url or fail_url: nothing to notify through")
    if not r.get("allow_insecure_http", ucitypes.to_bool, False):
        for name in ("url", "ping_url", "fail_url", "endpoint"):
            value = opts.get(name)
            if (value.reveal() if isinstance(value, Secret) else str(value or "")).lower().startswith("http://"):
                r.fail("http:// sends the notification in clear; use https:// or set allow_insecure_http 1",
                       name, r.line(name if name in sec.options else name + "_file"))
    if "body" in opts and opts.get("method") == "GET":
        r.fail("a body needs method POST, PUT or PATCH", "body", r.line("body"))
    n = NotifyConfig(
        sec.name, opts, records, tuple(dict.fromkeys(on)) or EVENTS,
        r.get("failures", ucitypes.number("an integer 1-100", 1, 100), 3),
        r.get("min_interval", ucitypes.number("a duration 0-86400 like 300, 5m or 1h", 0, 86400, units=True),
              300),
        r.get("max_per_hour", ucitypes.number("an integer 1-1000", 1, 1000), 20),
        r.get("timeout", ucitypes.number("seconds 1-60", 1, 60, False), 10.0), sec.line)
    if not r.get("enabled", ucitypes.to_bool, True):
        return None
    return None if r.errors[before:] else n


def after_run(agent, before: dict, saved: dict, bad: set) -> None:
    """Agent's hook: hand the run to the ddns-agent-notify package, if installed; never raises."""
    try:
        from ddns_agent import notify
    except ImportError:
        agent.log.warning("config notify sections need the ddns-agent-notify package "
                          "(opkg install ddns-agent-notify); no notification sent")
        return
    try:
        notify.after_run(agent, before, saved, bad)
    except Exception as e:  # noqa: BLE001 - publishing is done; a notification bug must not undo it
        agent.log.error("notify: internal error: %s: %s" % (e.__class__.__name__, e))
