"""Entry point: the no-change fast path (quick.py), then commands.py for everything else.

Exit codes: 0 all fine, 1 a record failed, 2 config error, 3 state directory unwritable,
130 interrupted (SIGINT; what was done is saved; `watch` stops with 0). See errors.py.
This module stays small and imports nothing but quick.py before it knows the run has work to do:
a no-change `update` loads the package, this module and quick.py only (bench: no-change).
"""

import sys  # no annotations from __future__: one module fewer on the no-change path

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Update:
    """The parsed arguments of a plain `update`, without loading argparse."""

    def __init__(self, fast) -> None:
        self.command = "update"
        self.config = fast.config
        self.state_dir = fast.state_dir
        self.interface = fast.interface
        self.verbose = False
        self.force = False
        self.seen = fast.seen  # what the fast path read (quick.handed_over)


def main(argv: "list | None" = None) -> int:
    """Entry point of `ddns-agent`; returns the exit code."""
    from ddns_agent import quick

    if argv is None:
        argv = sys.argv[1:]
    fast = quick.parse(argv)
    if fast is not None and _bad_interface(fast.interface):
        return EXIT_CONFIG
    if fast is not None and quick.unchanged(fast):
        return EXIT_OK  # nothing changed since the last all-right cycle (quick.py)
    from ddns_agent import commands

    args = _Update(fast) if fast is not None else commands.parser().parse_args(argv)
    if _bad_interface(getattr(args, "interface", None)):
        return EXIT_CONFIG
    return commands.run(args)


def _bad_interface(name: "str | None") -> bool:
    """Print why `--interface name` is refused (it names files in the state dir); False when fine."""
    if name is None or name == "*":
        return False
    section = name.isascii() and name.replace("_", "a").isalnum()  # a UCI section name: wan, wan_6
    # or a kernel device name, as dev_valid_name() allows: eth0.2, br-lan, pppoe-wan
    device = (0 < len(name.encode("utf-8", "surrogatepass")) < 16 and name not in (".", "..")
              and name.isprintable() and not any(c in "/:" or c.isspace() for c in name))
    if section or device:
        return False
    from ddns_agent.errors import one_line

    print("ddns-agent: --interface: expected a netifd interface like wan or a device like eth0, got %s"
          % one_line(repr(name), 80), file=sys.stderr)
    return True


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
