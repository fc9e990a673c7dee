"""One error tree; each class carries its decision (exit code, retry kind) as data.

    DdnsError
      ConfigError          file:line section.option                 no retry, exit 2
      SourceError          netifd/netlink unreadable; record kept   next event, exit 1
      StateError           state_dir unwritable (full, gone, a dir)  next run, exit 3
      RunDeadlineError     the run's time is up; record not reached next run, exit 1
      ProviderError        carries provider, record, status
        AuthError          token or signature refused               stop until config changes
        RejectedError      bad name, missing zone, dyndns2 fatal    stop until config changes
        NotFoundError      cached record id is gone                 re-resolve at once
        RateLimitedError   retry_after                              wait, capped
        TransientError     connect failure, 5xx, timeout            retry by policy
          UnconfirmedError sent, no trustworthy answer              read back before resending

`socket`, `ssl`, `http.client` and urllib3 errors never leave `http.py` and its `transports.py`.
Every message passes `one_line` (DdnsError's constructor): secrets masked, control characters
escaped, length bounded, so text a server sends cannot forge log lines, flood state or echo a credential.
"""

from __future__ import annotations

# Retry kinds, read by publish.py and retry.py.
NEVER = "never"      # fix the input; nothing to retry
STOP = "stop"        # fatal for this record until its config changes
POLICY = "policy"    # retry with backoff
WAIT = "wait"        # wait for a server-given time (capped) then retry
RESOLVE = "resolve"  # look the record up again, then retry once


#: longest message kept; a provider's answer quoted in an error is cut to fit
MESSAGE_LIMIT = 400


def one_line(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """`text` with secrets masked, control characters escaped (\\n, \\x1b) and cut to `limit` characters."""
    from ddns_agent.secret import scrub

    text = str(text)
    if len(text) > 2 * limit:  # scrub what can be shown, not megabytes; a cut secret's head is masked too
        text, cut = text[:2 * limit], len(text) - 2 * limit
    else:
        cut = 0
    text = scrub(text, partial=True)
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    if len(text) > limit or cut:
        text = "%s... (%d more characters)" % (text[:limit], len(text) - limit + cut)
    return text


class DdnsError(Exception):
    """Root of every error the agent raises on purpose; its message is made one bounded line."""

    exit_code = 1
    retry = NEVER

    def __init__(self, message: object = "", *args) -> None:
        super().__init__(one_line(message) if isinstance(message, str) else message, *args)


class ConfigError(DdnsError):
    """Bad configuration, with the place it was found: `file:line: section.option: message`."""

    exit_code = 2

    def __init__(self, message: str, file: str = "", line: int = 0,
                 section: str = "", option: str = "") -> None:
        self.message = message
        self.file = file
        self.line = line
        self.section = section
        self.option = option
        Exception.__init__(self, str(self))

    def __str__(self) -> str:
        where = self.file or "<config>"
        if self.line:
            where += ":%d" % self.line
        what = self.section
        if self.option:
            what = "%s.%s" % (what, self.option) if what else self.option
        text = "%s: %s: %s" % (where, what, self.message) if what else "%s: %s" % (where, self.message)
        # one line whatever the file holds: a quoted name may span lines or hold control characters
        return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class SourceError(DdnsError):
    """An address source (netifd, netlink, upstream gateway) could not be read."""

    retry = POLICY


class StateError(DdnsError):
    """The state directory cannot be written (full tmpfs, removed, a file replaced by a directory)."""

    exit_code = 3

    def __str__(self) -> str:
        return "%s (agent.state_dir)" % self.args[0]


class RunDeadlineError(DdnsError):
    """The run's deadline passed before this record was reached; the next run tries it."""

    retry = POLICY


class ProviderError(DdnsError):
    """A DNS provider call failed; `status` is the HTTP status or provider code when known."""

    retry = NEVER

    def __init__(self, message: str, status: object = None, provider: str = "") -> None:
        super().__init__(message)
        self.message = self.args[0]
        self.status = status
        self.provider = provider

    def __str__(self) -> str:
        return self.message


class AuthError(ProviderError):
    """Credentials or signature refused: stop until the config changes."""

    retry = STOP


class RejectedError(ProviderError):
    """The provider refuses the request itself (bad name, missing zone, fatal dyndns2 code)."""

    retry = STOP


class NotFoundError(ProviderError):
    """A cached record id no longer exists at the provider."""

    retry = RESOLVE


class RateLimitedError(ProviderError):
    """Too many requests; `retry_after` is the server's hint in seconds (None when not given)."""

    retry = WAIT

    def __init__(self, message: str, retry_after: float | None = None,
                 status: object = None, provider: str = "") -> None:
        super().__init__(message, status, provider)
        self.retry_after = retry_after


class TransientError(ProviderError):
    """Connection failure, timeout or server error; safe to retry by policy."""

    retry = POLICY


class UnconfirmedError(TransientError):
    """The request was sent but no trustworthy answer came: read back before resending."""
