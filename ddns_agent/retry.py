"""Retry policy as a small value: it answers "retry? after how long?" and never sleeps."""

from __future__ import annotations

from ddns_agent.errors import POLICY, WAIT, DdnsError, RateLimitedError, UnconfirmedError


class RetryPolicy:
    """Bounded exponential backoff with jitter; server hints (Retry-After) obeyed up to `cap_s`."""

    __slots__ = ("attempts", "base_s", "cap_s", "jitter")

    def __init__(self, attempts: int = 3, base_s: float = 2.0, cap_s: float = 60.0,
                 jitter: float = 0.2) -> None:
        self.attempts = attempts  # retries after the first try, per record and run
        self.base_s = base_s
        self.cap_s = cap_s
        self.jitter = jitter      # fraction of the delay taken off at random

    def delay(self, err: DdnsError, attempt: int, rand: float = 0.0) -> float | None:
        """Seconds to wait before retry number `attempt` (1-based) after `err`; None = stop now.

        `rand` in [0, 1) is passed in so tests are deterministic.
        """
        if attempt > self.attempts:
            return None
        if err.retry == WAIT:
            hint = err.retry_after if isinstance(err, RateLimitedError) else None
            if hint is None:
                hint = self.base_s * 2 ** (attempt - 1)
            return hint if hint <= self.cap_s else None
        if err.retry != POLICY:
            return None
        backoff = min(self.cap_s, self.base_s * 2 ** (attempt - 1))
        return backoff * (1.0 - self.jitter * rand)

    def hold(self, err: DdnsError) -> float | None:
        """Seconds the record must rest before any new call, when the server asked for longer than we wait."""
        if err.retry == WAIT and isinstance(err, RateLimitedError) and err.retry_after:
            return err.retry_after
        return None

    @staticmethod
    def must_read_back(err: DdnsError) -> bool:
        """True when the request may have been processed: look before sending it again."""
        return isinstance(err, UnconfirmedError)
