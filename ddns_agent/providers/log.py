"""The `log` provider: publishes nothing and needs no account, for dry runs and demos."""

from __future__ import annotations

from ddns_agent.providers.base import Provider, RecordSpec, Remote


class LogProvider(Provider):
    """Accepts every update; the agent's own log line is the only effect."""

    type = "log"
    can_find = False
    uses_http = False
    multi = True  # a record set's members are logged one by one

    def find_all(self, rec: RecordSpec) -> list:
        """Nothing is held anywhere."""
        return []

    def update(self, rec: RecordSpec, remote: Remote, address: str) -> Remote:
        """Pretend the record (a set's member: its id is its address) now holds `address`."""
        return Remote(address if rec.in_set else None, address, rec.ttl)

    def delete(self, rec: RecordSpec, remote: Remote) -> None:
        """Pretend the member is gone."""

    def check(self) -> str:
        """Nothing to reach."""
        return "log provider: nothing to reach"
