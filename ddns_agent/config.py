"""UCI text -> validated Config; the only module that reads config files.

CONTRACT (other modules rely on these names):
- load(path) -> Config, raises the first ConfigError found.
- check(path) -> (Config | None, [ConfigError, ...]) every problem at once, in file order.
- parse(text, path) -> [Section] raw sections (grammar only, from ddns_agent.uci).
"""

from __future__ import annotations

import os
import stat

from ddns_agent import ucitypes
from ddns_agent.errors import ConfigError
from ddns_agent.providers import COMMON_OPTIONS, REGISTRY
from ddns_agent.secret import Secret, has_control
from ddns_agent.uci import Section, parse

__all__ = ["DEFAULT_PATH", "AgentConfig", "ProviderConfig", "RecordConfig", "Config", "Section",
           "parse", "validate", "check", "load"]

DEFAULT_PATH = "/etc/config/ddns_agent"
DEFAULT_STATE_DIR = "/var/run/ddns_agent"


class AgentConfig:
    """The single `config agent` section (all optional)."""

    __slots__ = ("enabled", "log_level", "state_dir", "force_interval", "retry_max",
                 "retry_base", "retry_cap", "timeout")

    def __init__(self, enabled: bool = True, log_level: str = "info",
                 state_dir: str = DEFAULT_STATE_DIR, force_interval: int = 86400,
                 retry_max: int = 3, retry_base: float = 2.0, retry_cap: float = 60.0,
                 timeout: float = 10.0) -> None:
        self.enabled = enabled
        self.log_level = log_level          # debug info notice warning error
        self.state_dir = state_dir
        self.force_interval = force_interval  # seconds; 0 = never re-read the remote
        self.retry_max = retry_max          # attempts after the first, per record and run
        self.retry_base = retry_base        # seconds, first backoff
        self.retry_cap = retry_cap          # seconds, longest backoff / longest Retry-After obeyed
        self.timeout = timeout              # seconds, connect and read


class ProviderConfig:
    """A `config provider NAME` section. Secret options hold `Secret` values (files already read)."""

    __slots__ = ("name", "type", "options", "line")

    def __init__(self, name: str, type: str, options: dict, line: int = 0) -> None:
        self.name = name
        self.type = type
        self.options = options  # option -> str | Secret | list, minus 'type'
        self.line = line


class RecordConfig:
    """A `config record NAME` section."""

    __slots__ = ("key", "provider", "domain", "name", "type", "interface", "device",
                 "ipv6_suffix", "ttl", "enabled", "allow_private", "source", "options", "line", "members")

    def __init__(self, key: str, provider: str, domain: str, name: str = "@", type: str = "A",
                 interface: str | None = None, device: str | None = None,
                 ipv6_suffix: str | None = None, ttl: int | None = None, enabled: bool = True,
                 allow_private: bool = False, source: tuple = ("auto",),
                 options: dict | None = None, line: int = 0) -> None:
        self.key = key              # section name
        self.provider = provider    # name of a provider section
        self.domain = domain        # the zone
        self.name = name            # '@' for the apex
        self.type = type            # 'A' | 'AAAA'
        self.interface = interface  # netifd logical name
        self.device = device        # kernel device name (plain Linux)
        self.ipv6_suffix = ipv6_suffix  # e.g. '::1234' joined to the delegated prefix
        self.ttl = ttl
        self.enabled = enabled
        self.allow_private = allow_private
        self.source = source        # ordered address sources; ('auto',) = netifd or netlink
        self.options = options or {}  # provider-specific record options (registry record_options)
        self.line = line
        self.members = ()           # a record set: (("interface"|"device", name), ...), 2 or more

    @property
    def fqdn(self) -> str:
        """The full name this record publishes."""
        return self.domain if self.name in ("@", "") else "%s.%s" % (self.name, self.domain)


class Config:
    """The whole validated configuration."""

    __slots__ = ("path", "agent", "providers", "records", "files", "warnings", "notify")

    def __init__(self, path: str, agent: AgentConfig, providers: dict, records: list,
                 files: tuple = (), warnings: tuple = (), notify: tuple = ()) -> None:
        self.notify = notify        # [NotifyConfig] (notifyconf.py), file order
        self.files = files          # other files the config reads (<secret>_file, cacert)
        self.warnings = warnings    # ConfigErrors worth a warning on each run (exposure.py)
        self.path = path
        self.agent = agent
        self.providers = providers  # name -> ProviderConfig
        self.records = records      # [RecordConfig], file order


# ---------------------------------------------------------------------------------------------------
# Reading and validation. Everything below reports problems as ConfigError(message, file, line,
# section, option) and keeps going, so that `check` can list every problem at once.

_LOG_LEVELS = ("debug", "info", "notice", "warning", "error")
_SOURCES = ("auto", "netifd", "netlink", "upnp", "natpmp", "stun", "url")
_UPSTREAM_SOURCES = frozenset(("upnp", "natpmp", "stun", "url"))  # need no local interface
_RECORD_OPTIONS = ("provider", "domain", "name", "type", "interface", "device", "ipv6_suffix", "ttl",
                   "enabled", "allow_private", "source", "stun_server", "ip_url", "allow_insecure_http",
                   "takeover")
_SECTION_TYPES = ("agent", "provider", "record", "notify")
_MULTILINE = ("body",)  # may span lines (a JSON template); every other value is one line


class _Reader:
    """Reads one section's options, recording each problem against the section and option."""

    __slots__ = ("section", "errors", "path")

    def __init__(self, section: Section, errors: list, path: str) -> None:
        self.section = section
        self.errors = errors
        self.path = path

    def fail(self, message: str, option: str = "", line: int = 0) -> None:
        self.errors.append(ConfigError(message, self.path, line or self.section.line,
                                       self.section.name, option))

    def allow(self, allowed) -> None:
        """Report every option not in `allowed`, with a hint when one is close."""
        for name, (_, line) in self.section.options.items():
            if name not in allowed:
                self.fail("unknown option%s" % ucitypes.hint(name, allowed), name, line)

    def get(self, name: str, convert=str, default=None, required: bool = False):
        """The converted value of a single-value option, or `default` when absent or invalid."""
        entry = self.section.options.get(name)
        if entry is None:
            if required:
                self.fail("missing required option", name)
            return default
        value, line = entry
        try:
            if type(value) is list:
                raise ucitypes.Invalid("expected a single value (use option, not list)")
            if not value.isprintable():  # headers, URLs and secrets are single lines; may be a secret
                bad = has_control(value.replace("\n", "").replace("\r", "").replace("\t", "")
                                  if name in _MULTILINE else value)
                if bad:
                    raise ucitypes.Invalid("holds %s; expected one line of printable text" % bad)
            return convert(value)
        except ucitypes.Invalid as e:
            self.fail(str(e), name, line)
            return default

    def line(self, name: str) -> int:
        entry = self.section.options.get(name)
        return entry[1] if entry else self.section.line


def _agent(r: _Reader) -> AgentConfig:
    r.allow(AgentConfig.__slots__)
    d = AgentConfig()
    agent = AgentConfig(
        r.get("enabled", ucitypes.to_bool, d.enabled),
        r.get("log_level", ucitypes.choice(_LOG_LEVELS), d.log_level),
        r.get("state_dir", ucitypes.absolute_path, d.state_dir),
        r.get("force_interval", ucitypes.number("a duration like 3600, 30m, 24h or 7d (0 = off)", 0, None,
                                        units=True), d.force_interval),
        r.get("retry_max", ucitypes.number("0-10", 0, 10), d.retry_max),
        r.get("retry_base", ucitypes.number("seconds, more than 0 and at most 3600", 0, 3600, False, True,
                                    above=True), d.retry_base),
        r.get("retry_cap", ucitypes.number("seconds 0-86400", 0, 86400, False, True), d.retry_cap),
        r.get("timeout", ucitypes.number("seconds 1-120", 1, 120, False), d.timeout))
    if agent.retry_cap < agent.retry_base:
        r.fail("must be at least retry_base (%g), got %g" % (agent.retry_base, agent.retry_cap),
               "retry_cap", r.line("retry_cap"))
    return agent


def _provider(r: _Reader) -> ProviderConfig | None:
    sec = r.section
    if sec.anonymous:
        r.fail("a provider section needs a name that records can refer to: config provider 'NAME'")
        return None
    ptype = r.get("type", required=True)
    info = REGISTRY.get(ptype) if ptype else None
    if ptype and info is None:
        r.fail("unknown provider type %r%s; known types: %s" % (ptype, ucitypes.hint(ptype, REGISTRY),
                                                                ", ".join(sorted(REGISTRY))),
               "type", r.line("type"))
    if info is None:
        return None  # its other options cannot be checked without knowing the type
    names = list(dict.fromkeys(info.required + info.optional + info.secrets))
    from_file = [n for n in names if n in info.secrets or n in info.required]
    r.allow(COMMON_OPTIONS + tuple(names) + tuple(n + "_file" for n in from_file))
    options = {}
    for name in names:
        value = r.get(name)
        if name in from_file and name + "_file" in sec.options:
            if value is None:
                value = r.get(name + "_file", ucitypes.secret_file)
            else:
                r.fail("give %s or %s_file, not both" % (name, name), name + "_file",
                       r.line(name + "_file"))
        elif value is None and name in info.required and name not in sec.options:
            r.fail("missing required option%s" % (" (or %s_file)" % name if name in from_file else ""),
                   name)
        if value is not None:
            options[name] = Secret(value) if name in info.secrets else value
    for name, convert in (("endpoint", ucitypes.url), ("cacert", ucitypes.existing_file),
                          ("timeout", ucitypes.number("seconds 1-120", 1, 120, False))):
        value = r.get(name, convert)
        if value is not None:
            options[name] = value
    return ProviderConfig(sec.name, ptype, options, sec.line)


def _sources(r: _Reader) -> tuple:
    entry = r.section.options.get("source")
    if entry is None:
        return ("auto",)
    values, line = entry
    words = " ".join(values if isinstance(values, list) else [values]).split()
    for word in words:
        if word not in _SOURCES:
            r.fail("unknown source %r%s; expected some of %s" % (word, ucitypes.hint(word, _SOURCES),
                                                                 " ".join(_SOURCES)), "source", line)
    return tuple(dict.fromkeys(w for w in words if w in _SOURCES)) or ("auto",)


_TYPE = ucitypes.choice(("A", "AAAA"), str.upper)
_TTL = ucitypes.number("an integer 1-86400", 1, 86400)
_UNSET = (None, 0)
_RECORD_TYPES: dict = {}  # provider type -> what _record_options gives for it


def _record_options(ptype: str | None) -> tuple:
    """(options a record of provider type `ptype` takes, the same as a set, its own (option, converter))."""
    known = _RECORD_TYPES.get(ptype)
    if known is None:
        if ptype in REGISTRY:
            extra = REGISTRY[ptype].record_options
        else:  # unknown provider: accept what any provider type would
            extra = tuple(o for info in REGISTRY.values() for o in info.record_options)
        known = _RECORD_TYPES[ptype] = (
            _RECORD_OPTIONS + extra, frozenset(_RECORD_OPTIONS + extra),
            (("stun_server", ucitypes.host_port), ("ip_url", ucitypes.url), ("takeover", ucitypes.to_bool))
            + tuple((o, str) for o in extra))
    return known


def _record(r: _Reader, provider_types: dict) -> RecordConfig | None:
    sec = r.section
    opts = sec.options
    errors_before = len(r.errors)
    provider = r.get("provider", required=True)
    if provider is not None and provider not in provider_types:
        r.fail("no provider section named %r%s" % (provider, ucitypes.hint(provider, provider_types)),
               "provider", r.line("provider"))
    ptype = provider_types.get(provider)
    allowed, allowed_set, converters = _record_options(ptype)
    if not allowed_set.issuperset(opts):
        r.allow(allowed)
    # options left out cost no call: a config of many records reads each of them
    domain = r.get("domain", ucitypes.domain, required=True)
    name = r.get("name", ucitypes.relative_name, "@")
    rtype = r.get("type", _TYPE, "A")
    suffix = r.get("ipv6_suffix", ucitypes.ipv6_suffix) if "ipv6_suffix" in opts else None
    if suffix is not None and rtype != "AAAA":
        r.fail("needs type AAAA (this record is type %s)" % rtype, "ipv6_suffix",
               r.line("ipv6_suffix"))
    source = _sources(r) if "source" in opts else ("auto",)
    listed = ()
    if type(opts.get("interface", _UNSET)[0]) is list or type(opts.get("device", _UNSET)[0]) is list:
        from ddns_agent.recordset import read_members  # `list interface`: a record set

        interface, device, listed = read_members(r, ptype, source, _UPSTREAM_SOURCES)
    else:
        interface = r.get("interface", ucitypes.interface_name)
        device = r.get("device", ucitypes.device_name) if "device" in opts else None
    if not ("interface" in opts or "device" in opts or _UPSTREAM_SOURCES.issuperset(source)):
        r.fail("needs option interface (a netifd name like wan) or device (like eth0) "
               "for source %s" % " ".join(source), "interface")
    options = {}
    for opt, convert in converters:
        if opt in opts:
            value = r.get(opt, convert)
            if value is not None:
                options[opt] = value
    record = RecordConfig(
        sec.name, provider, domain, name, rtype, interface, device, suffix,
        r.get("ttl", _TTL) if "ttl" in opts else None,
        r.get("enabled", ucitypes.to_bool, True) if "enabled" in opts else True,
        r.get("allow_private", ucitypes.to_bool, False) if "allow_private" in opts else False, source,
        options, sec.line)
    record.members = listed
    if domain and len(record.fqdn) > 253:
        r.fail("the full name %s is longer than 253 characters" % record.fqdn, "name", r.line("name"))
    return None if len(r.errors) > errors_before else record


def validate(sections: list, path: str = "") -> tuple:
    """Raw sections -> (Config, []) or (None, [ConfigError, ...] in file order)."""
    errors = []
    agent = None
    providers = {}
    records = []
    notify = []
    seen = {}  # (fqdn, type, provider) -> first record
    provider_types = {}  # every provider section, valid or not, so records do not repeat its errors
    for sec in sections:
        if sec.type == "provider":
            value = sec.options.get("type", ("",))[0]
            provider_types[sec.name] = value if isinstance(value, str) else ""
    for sec in sections:
        r = _Reader(sec, errors, path)
        if sec.type == "agent":
            if agent is not None:
                r.fail("only one agent section is allowed")
            agent = _agent(r)
        elif sec.type == "provider":
            provider = _provider(r)
            if provider is not None:
                providers[provider.name] = provider
        elif sec.type == "record":
            record = _record(r, provider_types)
            if record is None:
                continue
            key = (record.fqdn, record.type, record.provider)
            first = seen.setdefault(key, record)
            if first is not record:
                r.fail("publishes %s %s through provider %s like record %s on line %d"
                       % (record.fqdn, record.type, record.provider, first.key, first.line))
            else:
                records.append(record)
        elif sec.type == "notify":
            from ddns_agent import notifyconf

            n = notifyconf.section(r, [s.name for s in sections if s.type == "record"], ucitypes.secret_file)
            notify += [n] if n is not None else []
        else:
            r.fail("unknown section type %r%s" % (sec.type, ucitypes.hint(sec.type, _SECTION_TYPES)))
    from ddns_agent import exposure

    problems, warnings = exposure.check(path, sections, providers, records)
    errors += problems
    if errors:
        errors.sort(key=lambda e: e.line)
        return None, errors
    files = tuple(v for sec in sections if sec.type == "provider"
                  for n, (v, _) in sec.options.items()
                  if isinstance(v, str) and (n.endswith("_file") or n == "cacert"))
    return Config(path, agent or AgentConfig(), providers, records, files, tuple(warnings), tuple(notify)), []


def _read(path: str) -> str:
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block
            raise ConfigError("cannot read: not a regular file", path)
        with open(path, "rb") as f:
            data = f.read()
    except (OSError, ValueError) as e:
        raise ConfigError("cannot read: %s" % (getattr(e, "strerror", None) or e), path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError("not UTF-8 text", path, data.count(b"\n", 0, e.start) + 1)


def check(path: str = DEFAULT_PATH) -> tuple:
    """Read and validate `path`: (Config, []) when valid, else (None, every ConfigError found)."""
    try:
        text = _read(path)
    except ConfigError as e:
        return None, [e]
    errors = []
    sections = parse(text, path, errors)
    if errors:  # grammar errors make the rest unreliable: report them alone
        return None, errors
    return validate(sections, path)


def load(path: str = DEFAULT_PATH) -> Config:
    """Read and validate `path`; raises the first ConfigError found."""
    config, errors = check(path)
    if errors:
        raise errors[0]
    return config
