"""A small log sink: syslog when /dev/log exists, else stderr. A router's Python has no `logging`."""

from __future__ import annotations

import os
import sys

from ddns_agent.secret import scrub

LEVELS = {"debug": 7, "info": 6, "notice": 5, "warning": 4, "error": 3}
_NAMES = {v: k for k, v in LEVELS.items()}


class Log:
    """Writes one line per message, tagged `ddns_agent`."""

    __slots__ = ("level", "_syslog", "_stream")

    def __init__(self, level: str = "info", use_syslog: bool | None = None, stream=None) -> None:
        self.level = LEVELS.get(level, 6)
        if use_syslog is None:
            # DDNS_AGENT_LOG=stderr|syslog forces one; tests and interactive users want stderr
            forced = os.environ.get("DDNS_AGENT_LOG", "")
            use_syslog = forced == "syslog" or (
                not forced and stream is None and os.path.exists("/dev/log"))
        self._syslog = None
        if use_syslog:
            import syslog
            syslog.openlog("ddns_agent", syslog.LOG_PID, syslog.LOG_DAEMON)
            self._syslog = syslog
        self._stream = stream if stream is not None else sys.stderr
        if self._syslog is not None and stream is None and not self._stream.isatty():
            self._stream = None  # syslog only; a person at a terminal sees both

    def log(self, priority: int, message: str) -> None:
        """Emit `message` if `priority` passes the level (lower number = more severe)."""
        if priority > self.level:
            return
        message = scrub(message)  # the last guard: a credential never reaches syslog or stderr
        if not message.isprintable():  # one message, one line: no forged entries
            message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
        if self._syslog is not None:
            self._syslog.syslog(priority, message)
        if self._stream is not None:
            self._stream.write("ddns_agent: %s: %s\n" % (_NAMES[priority], message))
            self._stream.flush()

    def fatal(self, message: str) -> None:
        """An error that ends the run (a config error), whatever the level: syslog and/or stderr.

        Runs started by hotplug or rpcd drop stderr, so with a syslog it goes there (`logread -e
        ddns`); stderr (`ddns-agent: message`) gets it at a terminal or when there is no syslog.
        Not both off a terminal: procd would log the stderr copy a second time.
        """
        message = scrub(message)
        if self._syslog is not None:
            self._syslog.syslog(3, message)
        if self._syslog is None or sys.stderr.isatty():
            sys.stderr.write("ddns-agent: %s\n" % message)
            sys.stderr.flush()

    def debug(self, message: str) -> None:
        """Detail for -v."""
        self.log(7, message)

    def info(self, message: str) -> None:
        """A success or a normal step."""
        self.log(6, message)

    def notice(self, message: str) -> None:
        """A refusal or a decision the user should know about."""
        self.log(5, message)

    def warning(self, message: str) -> None:
        """Something odd that did not fail."""
        self.log(4, message)

    def error(self, message: str) -> None:
        """A failure."""
        self.log(3, message)
