"""UCI text -> validated Config; the only module that reads config files.

CONTRACT (other modules rely on these names; the parser below fills them):
- load(path) -> Config, raises the first ConfigError found.
- check(path) -> (Config | None, [ConfigError, ...]) every problem at once.
"""

from __future__ import annotations

from ddns_agent.errors import ConfigError  # noqa: F401

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
                 "ipv6_suffix", "ttl", "enabled", "allow_private", "source", "options", "line")

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

    @property
    def fqdn(self) -> str:
        """The full name this record publishes."""
        return self.domain if self.name in ("@", "") else "%s.%s" % (self.name, self.domain)


class Config:
    """The whole validated configuration."""

    __slots__ = ("path", "agent", "providers", "records")

    def __init__(self, path: str, agent: AgentConfig, providers: dict, records: list) -> None:
        self.path = path
        self.agent = agent
        self.providers = providers  # name -> ProviderConfig
        self.records = records      # [RecordConfig], file order
