"""The commands behind cli.main once the fast path has passed: arguments, wiring, exit codes."""

import sys

from ddns_agent.cli import EXIT_CONFIG, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK


def parser():
    """The argparse parser of every command (a plain `update` never builds it: cli.main)."""
    import argparse

    from ddns_agent import __version__

    p = argparse.ArgumentParser(
        prog="ddns-agent",
        description="Keep DNS records in step with this router's own addresses (netifd / netlink).")
    p.add_argument("--config", "-c", default=None,
                   help="UCI config file (default /etc/config/ddns_agent)")
    p.add_argument("--state-dir", default=None, help="state directory (default: agent.state_dir)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging, tracebacks on bugs")
    p.add_argument("--version", action="version", version="ddns_agent " + __version__)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    u = sub.add_parser("update", help="read addresses and push what changed")
    u.add_argument("--interface", "-i", help="only records served by this netifd interface or device")
    u.add_argument("--force", action="store_true", help="re-read remote records and repair drift")
    pl = sub.add_parser("plan", help="show what would change and why (no provider traffic)")
    pl.add_argument("--json", action="store_true")
    pl.add_argument("--interface", "-i", help="only records served by this interface")
    st = sub.add_parser("status", help="last results from the state directory")
    st.add_argument("--json", action="store_true")
    ck = sub.add_parser("check", help="validate the config, reporting every problem")
    ck.add_argument("--online", action="store_true",
                    help="also make one read-only call per provider to prove credentials work")
    sub.add_parser("watch", help="stay resident: update on netlink / netifd address events")
    pv = sub.add_parser("providers", help="list provider types and the options each takes")
    pv.add_argument("--json", action="store_true", help="as JSON (the LuCI page builds its forms from it)")
    return p


def run(args) -> int:
    """Run the parsed command; map errors to exit codes (cli.py's docstring)."""
    from ddns_agent.errors import ConfigError, DdnsError
    from ddns_agent.log import Log

    log = Log("debug" if args.verbose else "info")
    try:
        if args.command == "providers":
            return cmd_providers(args.json)
        if args.command == "check":
            return cmd_check(args, log)
        from ddns_agent import config as config_mod

        cfg = config_mod.load(args.config or config_mod.DEFAULT_PATH)
        if not args.verbose:
            log.level = _level(cfg.agent.log_level)
        for warning in cfg.warnings:
            log.warning(str(warning))
        state_dir = args.state_dir or cfg.agent.state_dir
        if args.command == "status":
            return cmd_status(cfg, state_dir, args.json)
        if args.command == "plan":
            from ddns_agent.agent import Agent

            return Agent(cfg, state_dir, log).show_plan(args.interface, args.json)
        if not cfg.agent.enabled:
            log.info("agent is disabled (agent.enabled 0); nothing to do")
            return EXIT_OK
        from ddns_agent.agent import Agent

        agent = Agent(cfg, state_dir, log)
        if args.command == "update":
            return agent.update(args.interface, args.force, seen=getattr(args, "seen", None))
        return agent.watch()
    except ConfigError as e:
        log.fatal(str(e))
        return EXIT_CONFIG
    except DdnsError as e:
        log.error(str(e))
        return e.exit_code
    except KeyboardInterrupt:  # what a publish under way had done is saved (agent.py)
        if args.command == "watch":
            return EXIT_OK  # SIGTERM from procd, or Ctrl-C: the way a resident agent stops
        log.notice("interrupted")
        return EXIT_INTERRUPTED
    except Exception as e:  # a bug: one line (no traceback, no secret); -v shows where
        from ddns_agent.errors import one_line

        if args.verbose:
            import traceback

            print(one_line(traceback.format_exc(), 20000).replace("\\n", "\n"), file=sys.stderr)
        print("ddns-agent: internal error: %s" % one_line("%s: %s" % (type(e).__name__, e)),
              file=sys.stderr)
        return EXIT_FAILED


def _level(name: str) -> int:
    from ddns_agent.log import LEVELS

    return LEVELS.get(name, 6)


def cmd_providers(as_json: bool = False) -> int:
    """Print every provider type with the options it takes."""
    from ddns_agent.providers import COMMON_OPTIONS, PACKAGES, REGISTRY

    if as_json:
        return _providers_json()
    for name in sorted(REGISTRY):
        info = REGISTRY[name]
        missing = ""
        if name in PACKAGES and not _installed("ddns_agent.providers." + info.module):
            missing = " (not installed: opkg install %s)" % PACKAGES[name]
        print("%s: %s%s" % (name, info.summary, missing))
        if info.required:
            print("  required: " + ", ".join(_fmt(o, info) for o in info.required))
        opt = [_fmt(o, info) for o in info.optional] + [o for o in COMMON_OPTIONS if o != "type"]
        print("  optional: " + ", ".join(opt))
        if info.record_options:
            print("  record options: " + ", ".join(info.record_options))
    return EXIT_OK


def _providers_json() -> int:
    """The registry as JSON: one source of truth for `providers` and the LuCI forms."""
    from ddns_agent import jsonlib
    from ddns_agent.providers import COMMON_OPTIONS, PACKAGES, REGISTRY

    types = {n: {"summary": i.summary, "required": i.required, "optional": i.optional,
                 "secrets": i.secrets, "record_options": i.record_options, "update_only": not i.readable,
                 "package": PACKAGES.get(n),
                 "installed": n not in PACKAGES or _installed("ddns_agent.providers." + i.module)}
             for n, i in sorted(REGISTRY.items())}
    # the record rules the page checks inline: config.py's ttl and type
    print(jsonlib.dumps({"types": types, "common": COMMON_OPTIONS[1:],
                         "record": {"ttl": [1, 86400], "types": ["A", "AAAA"]}}))
    return EXIT_OK


def _fmt(option: str, info) -> str:
    return "%s (or %s_file)" % (option, option) if option in info.secrets else option


def cmd_check(args, log) -> int:
    """Validate the config and report every problem at once; `--online` checks each provider."""
    from ddns_agent import config as config_mod

    path = args.config or config_mod.DEFAULT_PATH
    cfg, problems = config_mod.check(path)
    if cfg is not None:
        problems = _provider_problems(cfg, path)
    for w in cfg.warnings if cfg is not None else ():
        print("ddns-agent: %s" % w, file=sys.stderr)
    for e in problems:
        print("ddns-agent: %s" % e, file=sys.stderr)
    if problems:
        print("ddns-agent: %d problem(s) in %s" % (len(problems), path), file=sys.stderr)
        return EXIT_CONFIG
    print("%s: %d provider(s), %d record(s): OK" % (path, len(cfg.providers), len(cfg.records)))
    if not args.online:
        return EXIT_OK
    from ddns_agent.agent import Agent

    return Agent(cfg, args.state_dir or cfg.agent.state_dir, log).check_online()


def _provider_problems(cfg, path: str) -> list:
    """Option values only a provider can judge (a base64 key, an algorithm name), as ConfigErrors."""
    from ddns_agent import providers as registry
    from ddns_agent.errors import ConfigError

    problems = []
    for name, pc in cfg.providers.items():
        try:
            if pc.options.get("cacert"):  # a file that is no CA bundle would fail every update
                from ddns_agent.transports import ssl_context

                ssl_context(pc.options["cacert"])
            registry.load(pc.type)(pc.options, None)
        except ConfigError as e:
            e.file, e.line, e.section = path, e.line or pc.line, name
            problems.append(e)
    upstream = [r for r in cfg.records if set(r.source or ()) & {"upnp", "natpmp", "stun", "url"}]
    if upstream and not _installed("ddns_agent.upstream"):
        for r in upstream:
            problems.append(ConfigError("sources upnp, natpmp, stun and url are not installed: "
                                        "opkg install ddns-agent-upstream", path, r.line, r.key,
                                        "source"))
    return problems


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def cmd_status(cfg, state_dir: str, as_json: bool) -> int:
    """Print each record's result, since when and why (status.py; schema in docs/status.md)."""
    from ddns_agent import status

    return status.show(cfg, state_dir, as_json)
