"""What in a valid config would expose a credential or the published address: plain http, open files.

config.validate calls `check` once the sections are read; it returns problems (ConfigError) and
warnings (ConfigError objects too, for their `file:line: section.option:` form; printed, not raised).
- An `http://` endpoint, webhook `url` or record `ip_url` sends tokens in clear and lets anyone on the
  path choose the published address: refused unless that section sets `allow_insecure_http 1`,
  which turns the refusal into a warning on every run.
- A `<secret>_file`, or a config holding a secret inline, that users other than the owner can read
  is used, with a warning naming the file and its mode (as ddclient does).
"""

from __future__ import annotations

import os
import stat

from ddns_agent import ucitypes
from ddns_agent.errors import ConfigError

OPT_IN = "allow_insecure_http"
_URL_OPTIONS = {"provider": ("endpoint", "url"), "record": ("ip_url",)}
_RISK = {"provider": "sends the credentials in clear and lets anyone on the path change what is "
                     "published",
         "record": "lets anyone on the path choose the address this record publishes"}


def _is_http(value) -> bool:
    text = value.reveal() if hasattr(value, "reveal") else value
    return isinstance(text, str) and text[:7].lower() == "http://"


def _opted_in(sec, path: str, problems: list) -> bool:
    value, line = sec.options.get(OPT_IN, ("0", sec.line))
    try:
        if isinstance(value, list):
            raise ucitypes.Invalid("expected a single value (use option, not list)")
        return ucitypes.to_bool(value)
    except ucitypes.Invalid as e:
        problems.append(ConfigError(str(e), path, line, sec.name, OPT_IN))
        return False


def _plain_http(sec, values: dict, path: str, problems: list, warnings: list) -> None:
    """`values`: option -> value as read (a `<name>_file` already replaced by what the file holds)."""
    for option in _URL_OPTIONS.get(sec.type, ()):
        if not _is_http(values.get(option)):
            continue
        given = option if option in sec.options else option + "_file"
        line = sec.options.get(given, (None, sec.line))[1]
        if _opted_in(sec, path, problems):
            warnings.append(ConfigError("warning: %s is plain http (allowed by %s), which %s"
                                        % (given, OPT_IN, _RISK[sec.type]), path, line, sec.name, given))
        else:
            problems.append(ConfigError("plain http %s; use https://, or set option %s 1 to accept that"
                                        % (_RISK[sec.type], OPT_IN), path, line, sec.name, given))


def _open_to_others(file: str) -> int | None:
    """The permission bits of `file` when its group or others may read it, else None."""
    try:
        mode = stat.S_IMODE(os.stat(file).st_mode)
    except (OSError, ValueError):
        return None
    return mode if mode & 0o044 else None


def _readable(sections: list, secret_names: dict, path: str, warnings: list) -> None:
    inline = None
    for sec in sections:
        if sec.type != "provider":
            continue
        for name, (value, line) in sec.options.items():
            if name.endswith("_file") and isinstance(value, str):
                mode = _open_to_others(value)
                if mode is not None:
                    warnings.append(ConfigError(
                        "warning: %s is readable by other users (mode %04o); chmod 600 %s"
                        % (value, mode, value), path, line, sec.name, name))
            elif name in secret_names.get(sec.name, ()) and inline is None:
                inline = (sec, name, line)
    if inline is not None:
        mode = _open_to_others(path)
        if mode is not None:
            sec, name, line = inline
            warnings.append(ConfigError(
                "warning: this file holds %s inline and is readable by other users (mode %04o); "
                "move it to %s_file (mode 0600) or chmod 600 %s" % (name, mode, name, path),
                path, line, sec.name, name))


def check(path: str, sections: list, providers: dict, records: list) -> tuple:
    """([problem ConfigError...], [warning ConfigError...]) for the sections of one config file."""
    from ddns_agent.providers import REGISTRY

    problems: list = []
    warnings: list = []
    by_key = {r.key: r for r in records}
    secret_names = {}
    for sec in sections:
        if sec.type == "provider":
            pc = providers.get(sec.name)
            if pc is not None:
                secret_names[sec.name] = REGISTRY[pc.type].secrets
                _plain_http(sec, pc.options, path, problems, warnings)
        elif sec.type == "record" and "ip_url" in sec.options and sec.name in by_key:
            _plain_http(sec, by_key[sec.name].options, path, problems, warnings)
    _readable(sections, secret_names, path, warnings)
    return problems, warnings
