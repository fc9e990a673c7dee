"""pytest plugin: no test secret may appear in anything the suite's runs printed or stored.

Secrets come from the fakes (`fakes.register_secret` in their constructors) and from test modules'
own constants (module-level strings named like *TOKEN*, *SECRET*, *PASSWORD*). Outputs come from
`AgentEnv` (every agent process's stdout and stderr, every state file; `fakes.record_output`) and
from every test report (captured stdout, stderr and log, and the failure text). At the end of the
session each secret is looked for in all of it; a leak fails the session, naming the secret and
where it appeared, never the value.
"""

from __future__ import annotations

import os
import re
import tempfile

import fakes
import pytest

_CONSTANT = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD)")
_leaks: list = []


def pytest_configure(config) -> None:
    fd, fakes.capture_path = tempfile.mkstemp(prefix="ddns-secret-guard-", suffix=".txt")
    os.close(fd)


def pytest_unconfigure(config) -> None:
    path, fakes.capture_path = fakes.capture_path, None
    if path and os.path.exists(path):
        os.unlink(path)


def pytest_collection_modifyitems(session, config, items) -> None:
    """Register the test modules' own secret constants."""
    seen = set()
    for item in items:
        module = getattr(item, "module", None)
        if module is None or module.__name__ in seen:
            continue
        seen.add(module.__name__)
        for name, value in vars(module).items():
            if name.isupper() and _CONSTANT.search(name) and isinstance(value, str):
                fakes.register_secret(value, "%s.%s" % (module.__name__, name))


def pytest_runtest_logreport(report) -> None:
    """Keep every phase's captured output and failure text for the final scan."""
    for title, text in report.sections:
        if title.endswith(" " + report.when):  # a report repeats the earlier phases' sections
            fakes.record_output(title, text, report.nodeid)
    if report.failed:
        fakes.record_output("failure report (%s)" % report.when, report.longreprtext, report.nodeid)


def scan(text: str, secrets: dict) -> list:
    """[(secret name, where)] for every secret found in a capture file's `text`."""
    found = []
    for value, name in secrets.items():
        pos = text.find(value)
        while pos != -1:
            start = text.rfind("\x1e", 0, pos) + 1
            head = text.find("\x1f", start)
            if start and start <= head < pos:  # in a recorded output, not in a header
                found.append((name, text[start:head]))
            end = text.find("\x1e", pos)
            pos = -1 if end == -1 else text.find(value, end)
    return found


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session, exitstatus) -> None:
    path = fakes.capture_path
    if not path or not os.path.exists(path):
        return
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    _leaks[:] = scan(text, dict(fakes.SECRETS))
    if _leaks:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    if not _leaks:
        return
    terminalreporter.section("secret guard: test secrets leaked", sep="=", red=True, bold=True)
    for name, where in _leaks[:50]:
        terminalreporter.line("%s appeared in %s" % (name, where), red=True)
    if len(_leaks) > 50:
        terminalreporter.line("... and %d more" % (len(_leaks) - 50), red=True)
