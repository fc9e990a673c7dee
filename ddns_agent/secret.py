"""A secret string that never prints itself, and `scrub` for text that may carry one anyway."""

from __future__ import annotations

#: the value of every Secret made in this process (the config's credentials), for `scrub`
_VALUES: dict = {}
_SHORTEST = 4  # shorter values would mask ordinary words; such a secret is no secret anyway
_PIECE = 8  # the shortest piece of a secret found inside decoded base64 that partial scrubbing masks
_HEAD = 12  # the shortest head of a cut secret it masks (case-sensitive: ordinary words must survive)
_forms_cache: list = [None]  # every form of every secret, built on first use; reset on a new Secret
_KEEP = 32  # secrets remembered: a resident agent re-reading its config must not grow without end
MASK = "***"


class Secret:
    """Holds a credential; `str()` and `repr()` give `***`, `reveal()` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        for part in _parts(value):
            if len(part) >= _SHORTEST and part not in _VALUES:
                _VALUES[part] = None
                _forms_cache[0] = None
                _runs_cache.clear()
                if len(_VALUES) > _KEEP:
                    del _VALUES[next(iter(_VALUES))]

    def reveal(self) -> str:
        """The real value, for signing or sending; never for messages."""
        return self._value

    def __str__(self) -> str:
        return MASK

    __repr__ = __str__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def _parts(value: str) -> list:
    """What of `value` is secret: all of it, but of a URL (webhook `url`) only its credentials and keys.

    Messages name a URL's scheme://host[:port] on purpose; what may hold a key is the user:password@
    and the long literals of the path and query (the webhook provider masks the same).
    """
    scheme, sep, rest = value.partition("://")
    if not sep or not scheme.isalpha() or any(c.isspace() for c in value):
        return [value]
    cut = min([i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0] or [len(rest)])
    userinfo = rest[:cut].rpartition("@")[0]
    words = [userinfo, userinfo.partition(":")[2]] if userinfo else []  # the user name is no secret
    literal = rest[cut:]
    for placeholder in set(literal[i:literal.find("}", i) + 1] for i in range(len(literal))
                           if literal[i] == "{" and "}" in literal[i:]):
        literal = literal.replace(placeholder, "/")
    for sep in "?&=#:;,":
        literal = literal.replace(sep, "/")
    return [w for w in words + literal.split("/") if len(w) >= 10 or (w and w in words)]


def _forms(value: str) -> set:
    """The ways a request or a server's echo commonly writes `value`."""
    import base64
    import json
    from urllib.parse import quote, quote_plus

    raw = value.encode("utf-8", "surrogatepass")
    forms = {value, quote(value, safe=""), quote(value), quote_plus(value),
             json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1],
             base64.b64encode(raw).decode().rstrip("="), base64.urlsafe_b64encode(raw).decode().rstrip("="),
             raw.hex()}
    for sep in ",:":  # "ID,Token" (DNSPod), "user:key": a server may echo one part
        forms.update(part for part in value.split(sep) if len(part) >= 8)
    return {f for f in forms if len(f) >= _SHORTEST}


def _all_forms() -> tuple:
    """Every form of every registered secret, longest first (mask whole before parts)."""
    if _forms_cache[0] is None:
        forms = set()
        for value in _VALUES:
            forms |= _forms(value)
        _forms_cache[0] = tuple(sorted(forms, key=len, reverse=True))
        _lower_forms[0] = frozenset(f.lower() for f in _forms_cache[0])
    return _forms_cache[0]


_lower_forms: list = [frozenset()]  # _all_forms() in lower case


def _mask(text: str, forms: tuple, partial: bool) -> str:
    """Replace each form (case-insensitive); with `partial`, then also the heads left of cut forms."""
    if partial:
        text = _mask(text, forms, False)  # whole forms first, so no longer form's head eats one
    low = text.lower()
    fold = len(low) == len(text) and not partial  # no lower() that moved characters (U+0130)
    if not fold:
        low = text
    for form in forms:
        form = form.lower() if fold else form
        key = form[:_HEAD] if partial else form
        if len(key) < _SHORTEST:
            continue
        i = low.find(key)
        while i != -1:
            n = len(key)
            while partial and n < len(form) and i + n < len(low) and low[i + n] == form[n]:
                n += 1
            if n == len(form) or (partial and n >= _HEAD):
                text, low = text[:i] + MASK + text[i + n:], low[:i] + MASK + low[i + n:]
            i = low.find(key, i + 1)
    return text


def _runs(partial: bool) -> tuple:
    """(need, pieces, pattern) of _hidden_in_base64, built once per set of secrets."""
    found = _runs_cache.get(partial)
    if found is None:
        import re

        pieces = {v[i:i + _PIECE] for v in _VALUES for i in range(len(v) - _PIECE + 1)} if partial else ()
        # a run decodes to at most 3/4 of its length: one too short to hold any secret (or piece) is
        # kept without decoding (an ordinary word such as "published" in every log line), and
        # one that is so even with "==" is not matched at all
        need = min(min(map(len, _VALUES)), _PIECE) if partial else min(map(len, _VALUES))
        found = _runs_cache[partial] = (need, pieces, re.compile(
            r"[A-Za-z0-9+/_-]{%d,}={0,2}" % max(8, -(-4 * need // 3) - 2)))
    return found


_runs_cache: dict = {}  # partial -> _runs(partial); emptied when the secrets change


def _hidden_in_base64(text: str, partial: bool) -> str:
    """Mask base64 runs that decode to text holding a secret (Basic auth `user:password`)."""
    need, pieces, runs = _runs(partial)
    if runs.search(text) is None:
        return text
    import base64

    def check(m) -> str:
        run = m.group()
        if len(run) * 3 // 4 < need:
            return run
        for candidate in (run, run[1:], run[2:], run[3:]):  # a run may start mid-quantum
            body = candidate.rstrip("=")
            body = body[:len(body) - len(body) % 4] if partial else body  # a cut run: whole quanta
            for decode in (base64.b64decode, base64.urlsafe_b64decode):
                try:
                    plain = decode(body + "=" * (-len(body) % 4)).decode("utf-8", "replace")
                except ValueError:
                    continue
                if any(v in plain for v in _VALUES) or any(p in plain for p in pieces):
                    return MASK
        return run
    return runs.sub(check, text)


def scrub(text: str, partial: bool = False) -> str:
    """`text` with every known secret masked: raw, percent-, JSON-, hex- or base64-encoded.

    `partial` also masks the head of a secret (12 characters or more) where an answer was cut short,
    and base64 that decodes to a piece of one; error messages use it, ordinary log lines need not.
    """
    if not _VALUES or not text:
        return text
    forms = _all_forms()
    low = text.lower()
    if partial or len(low) != len(text) or any(map(low.__contains__, _lower_forms[0])):
        text = _mask(text, forms, partial)
    # else no form is in it (_mask's case-insensitive search, one C loop): the common log line
    return _hidden_in_base64(text, partial)


def has_control(value: str) -> str:
    """A name for the first control character in `value` ("a line break", "U+001B"), else ""."""
    if value.isprintable():  # no C0/C1 control nor U+2028/2029 (all non-printable): no loop in Python
        return ""
    for c in value:
        if c < " " or "\x7f" <= c <= "\x9f" or c in "\u2028\u2029":
            return {"\n": "a line break", "\r": "a carriage return", "\t": "a tab",
                    "\x00": "a NUL"}.get(c, "control character U+%04X" % ord(c))
    return ""
