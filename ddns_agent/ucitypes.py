"""UCI value types, in the spirit of OpenWrt's validate_data: each converts a string or raises Invalid."""

from __future__ import annotations

import os
import re
import stat


def is_word(text: str, extra: str = "_") -> bool:
    """Non-empty and only ASCII letters, digits and characters of `extra` (UCI names: `_`)."""
    if text.isalnum() and text.isascii():
        return True
    for c in extra:
        text = text.replace(c, "a")
    return text.isascii() and text.isalnum()


#: the one directory every `<secret>_file` must be in (the LuCI page stores secrets in its
#: `secrets/`): whoever may edit the config must not get any root-readable file sent to a URL of
#: their choice (issue 10). DDNS_AGENT_SECRET_DIR moves it; UCI cannot.
SECRET_DIR = "/etc/ddns_agent"
_SECRET_MAX = 65536
_BOOLS = {"1": True, "on": True, "true": True, "yes": True, "enabled": True,
          "0": False, "off": False, "false": False, "no": False, "disabled": False}
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_URL = r"https?://[^\s/?#]+([/?#]\S*)?\Z"
_HOST_PORT = r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})\Z"


class Invalid(Exception):
    """A value failed conversion; the message says what was expected."""


def hint(word: str, choices) -> str:
    """` (did you mean 'x'?)` for the closest of `choices`, or an empty string."""
    import difflib  # only when building a message

    close = difflib.get_close_matches(word, list(choices), 1, 0.75)
    return " (did you mean %r?)" % close[0] if close else ""


def to_bool(value: str) -> bool:
    """UCI booleans as config_get_bool reads them (case-insensitive here)."""
    result = _BOOLS.get(value.lower())
    if result is None:
        raise Invalid("expected 1/0, on/off, true/false, yes/no or enabled/disabled, got %r" % value)
    return result


def number(expected: str, low: float, high: float | None, integer: bool = True,
            units: bool = False, above: bool = False):
    """A converter for a number in [low, high] (or (low, high] when `above`), optionally with s/m/h/d."""
    def convert(value: str):
        unit = value[-1:] if units and value[-1:] in ("s", "m", "h", "d") else ""
        digits = value[:len(value) - len(unit)]
        whole, dot, fraction = digits.partition(".")
        if (0 < len(whole) <= 12 and whole.isascii() and whole.isdigit() and not (dot and integer)
                and (not dot or (0 < len(fraction) <= 9 and fraction.isascii() and fraction.isdigit()))):
            n = (int if integer else float)(digits) * _UNITS[unit]
            if (n > low if above else n >= low) and (high is None or n <= high):
                return n
        raise Invalid("expected %s, got %r" % (expected, value))
    return convert


def choice(choices, normalise=str.lower):
    """A converter accepting one of `choices` after `normalise`."""
    def convert(value: str) -> str:
        if normalise(value) in choices:
            return normalise(value)
        raise Invalid("expected one of %s, got %r%s" % (", ".join(choices), value, hint(value, choices)))
    return convert


def url(value: str) -> str:
    """An http:// or https:// URL."""
    if re.match(_URL, value, re.I):
        return value
    if "@" in value:  # may hold user:password@; never echo it
        raise Invalid("expected an http:// or https:// URL")
    raise Invalid("expected an http:// or https:// URL, got %r" % value)


def absolute_path(value: str) -> str:
    """A path starting with `/`."""
    if value.startswith("/"):
        return value
    raise Invalid("expected an absolute path, got %r" % value)


def existing_file(value: str) -> str:
    """The path of an existing regular file."""
    if os.path.isfile(value):
        return value
    raise Invalid("no such file: %r" % value)


def interface_name(value: str) -> str:
    """A netifd logical interface name."""
    if is_word(value, "_.-"):
        return value
    raise Invalid("expected a netifd interface name like wan or wan6, got %r" % value)


def device_name(value: str) -> str:
    """A kernel network device name."""
    # the kernel's dev_valid_name(): 1-15 bytes, no '/', ':' or whitespace, not '.' or '..'
    if 0 < len(value.encode("utf-8", "surrogatepass")) < 16 and value not in (".", "..") and not any(
            c in "/:" or c.isspace() for c in value):
        return value
    raise Invalid("expected a kernel device name like eth0 (at most 15 characters), got %r" % value)


def host_port(value: str) -> str:
    """`host:port` or `[v6]:port`."""
    m = re.match(_HOST_PORT, value)
    if m and 0 < int(m.group(2)) < 65536:
        return value
    raise Invalid("expected host:port like stun.example.net:3478, got %r" % value)


def ipv6_suffix(value: str) -> str:
    """An IPv6 interface id (low 64 bits, like ::1234), returned in compressed form."""
    import ipaddress

    try:
        if "%" in value:
            raise ValueError
        iid = int(ipaddress.IPv6Address(value))
    except ValueError:
        raise Invalid("expected an IPv6 interface id like ::1234 or ::1:2:3:4, got %r" % value)
    if iid >> 64 or not iid:
        raise Invalid("%r is not an interface id: it must be non-zero and fit in the low 64 bits, "
                      "like ::1:2:3:4" % value)
    return str(ipaddress.IPv6Address(iid))


def _folded(label: str) -> str:
    """Why IDNA 2003 (Python's codec) and IDNA 2008 would read `label` differently, or ""."""
    import unicodedata
    from encodings.idna import nameprep

    if label.isascii():
        return ""
    lower = label.lower()
    try:
        folded = nameprep(label)
    except UnicodeError:
        folded = None
    changed = " (IDNA 2003 would publish %r instead)" % folded if folded and folded != lower else ""
    for c in lower:  # IDNA 2008 (RFC 5892) keeps letters, marks and digits; symbols are disallowed
        if c != "-" and unicodedata.category(c) not in ("Ll", "Lo", "Lm", "Mn", "Mc", "Nd"):
            return "%r (U+%04X) is not allowed in a domain name (IDNA 2008)%s" % (c, ord(c), changed)
    if folded is None:
        return "label %r is not a valid internationalised label" % label
    if changed or folded != unicodedata.normalize("NFC", lower):
        # IDNA 2003 maps ß to ss and ς to σ: a different name than the one written
        return ("label %r would be published as %r by IDNA 2003 but means %r under IDNA 2008; write "
                "xn--%s if that is the name you mean" % (label, folded, lower,
                                                         lower.encode("punycode").decode("ascii")))
    return ""


def _dns_labels(value: str, what: str, wildcard: bool = False) -> str:
    """Lower-case ASCII form of a domain or relative name; IDNs are converted only when non-ASCII."""
    name = value
    if not name.isascii():
        for label in name.split("."):
            problem = _folded(label)
            if problem:
                raise Invalid("invalid %s %r: %s" % (what, value, problem))
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            raise Invalid("invalid %s %r: not a valid internationalised domain name" % (what, value))
    name = name.lower()
    if len(name) > 253:
        raise Invalid("invalid %s %r: longer than 253 characters" % (what, value))
    for i, label in enumerate(name.split(".")):
        problem = None
        if not label:
            problem = "empty label"
        elif label == "*" and wildcard and i == 0:
            continue
        elif len(label) > 63:
            problem = "label %r is longer than 63 characters" % label
        elif not is_word(label, "_-"):
            problem = "label %r may only hold letters, digits, - and _" % label
        elif label[0] == "-" or label[-1] == "-":
            problem = "label %r starts or ends with a hyphen" % label
        if problem:
            raise Invalid("invalid %s %r: %s" % (what, value, problem))
    return name


_DOMAINS: dict = {}  # valid domain -> its form: the records of a config mostly share one or two


def domain(value: str) -> str:
    """A zone name of at least two labels, lower-case ASCII (IDNs converted); one trailing dot is dropped."""
    name = _DOMAINS.get(value)
    if name is not None:
        return name
    name = _dns_labels(value[:-1] if value.endswith(".") else value, "domain")
    if "." not in name:
        raise Invalid("invalid domain %r: needs at least two labels, like example.com" % value)
    if len(_DOMAINS) >= 64:  # `watch` re-reads edited configs for months
        _DOMAINS.clear()
    _DOMAINS[value] = name
    return name


def relative_name(value: str) -> str:
    """`@` or a name relative to the zone; `*` may be its first label."""
    if value.isalnum() and value.isascii() and len(value) <= 63:
        return value.lower()  # one label of letters and digits: what _dns_labels would say, sooner
    return "@" if value == "@" else _dns_labels(value, "name", wildcard=True)


def secret_file(path: str) -> str:
    """The text of a `<secret>_file`: one line of printable UTF-8 in SECRET_DIR, at most 64 KiB."""
    from ddns_agent.secret import has_control

    base = os.path.realpath(os.environ.get("DDNS_AGENT_SECRET_DIR") or SECRET_DIR)
    try:
        inside = os.path.commonpath([base, os.path.realpath(path)]) == base
    except ValueError:  # a NUL in the path
        inside = False
    if not inside:  # realpath: a symlink inside the directory pointing out is out too
        raise Invalid("%r is outside %s, the directory secret files must be in" % (path, base))
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO or device would block or never end
            raise Invalid("cannot read %r: not a regular file" % path)
        with open(path, "rb") as f:
            data = f.read(_SECRET_MAX + 1)
    except (OSError, ValueError) as e:  # ValueError: a NUL in the path
        raise Invalid("cannot read %r: %s" % (path, getattr(e, "strerror", None) or e))
    try:
        text = data.decode("utf-8").rstrip()
    except UnicodeDecodeError:
        raise Invalid("cannot read %r: not UTF-8 text" % path)
    if len(data) > _SECRET_MAX:
        raise Invalid("%r is larger than %d bytes" % (path, _SECRET_MAX))
    if not text:
        raise Invalid("%r is empty" % path)
    bad = has_control(text)
    if bad:  # an HTTP library would quote the whole value in its error; never show it
        raise Invalid("%r holds %s; a secret must be one line of printable text" % (path, bad))
    return text
