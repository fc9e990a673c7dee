"""The `log` provider: publishes nothing and needs no account, for dry runs and demos."""

from __future__ import annotations

from ddns_agent.providers.base import Provider, RecordSpec, Remote


class LogProvider(Provider):
    """Accepts every update; the agent's own log line is the only effect."""

    type = "log"
    can_find = False
    uses_http = False

    def update(self, rec: RecordSpec, remote: Remote, address: str) -> Remote:
        """Pretend the record now holds `address`."""
        return Remote(None, address, rec.ttl)

    def check(self) -> str:
        """Nothing to reach."""
        return "log provider: nothing to reach"
