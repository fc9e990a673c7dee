"""UCI file grammar (openwrt/uci file.c): text -> raw sections with line numbers (types: ucitypes.py)."""

from __future__ import annotations

import re

from ddns_agent.errors import ConfigError
from ddns_agent.ucitypes import is_word

# One alternative per lexical element; every character of the input matches one of them.
# Double quotes use the unrolled-loop form so that an unterminated quote fails in linear time.
_TOKEN_RE = r"""
    (?P<ws>[ \t\r\v\f]+)
  | (?P<nl>\n)
  | (?P<sep>;)
  | (?P<comment>\#[^\n]*)
  | (?P<bare>[^ \t\r\v\f\n'"\\;\#]+)
  | (?P<sq>'[^']*')
  | (?P<dq>"[^"\\]*(?:\\.[^"\\]*)*")
  | (?P<cont>\\(?:\r?\n|\Z))
  | (?P<esc>\\.)
  | (?P<open>['"])
"""
_token: list = []  # _TOKEN_RE compiled, on the first line _LINE does not take
_WORD = r"""[^ \t\r\v\f\n'"\\;\#]+|'[^'\n]*'"""  # a bare word, or single quotes on one line
# The common line in one match: a bare keyword and at most two more words, each bare or single-quoted
# and separated by whitespace, then perhaps a comment. Any other line (double quotes, backslashes, `;`,
# glued parts, a quote going on over lines, more words) goes through _TOKEN_RE; both read such a
# line the same (tests/test_config.py compares them). `(?:X|)`, not `(?:X)?`: sre runs a branch
# in a third fewer instructions than an optional group (possessive forms need Python 3.11).
_LINE = re.compile(r"""[ \t\r\v\f]*(?:([^ \t\r\v\f\n'"\\;\#]+)(?:[ \t\r\v\f]+(%s)(?:[ \t\r\v\f]+(%s)|)|)"""
                   r"""[ \t\r\v\f]*|)(?:\#[^\n]*|)(?:\n|\Z)""" % (_WORD, _WORD))
# Other checks use str methods or re's cache on first use: compiling one costs more than parsing a config.
_DQ_ESCAPE = r"\\(?:\r?\n|(.))"
_KEYWORDS = {"config": "config", "c": "config", "option": "option", "o": "option",
             "list": "list", "l": "list", "package": "package", "p": "package"}


def _is_type(text: str) -> bool:
    # printable ASCII without space (uci_validate_str)
    return text.isascii() and text.isprintable() and " " not in text and text != ""


class Section:
    """One `config TYPE [NAME]` block; `options` maps name -> (str or list of str, line).

    Anonymous sections are named `@TYPE[N]` like `uci show`, N counting every section of that type.
    """

    __slots__ = ("type", "name", "line", "options", "anonymous")

    def __init__(self, type: str, name: str, line: int, anonymous: bool = False) -> None:
        self.type = type
        self.name = name
        self.line = line
        self.options = {}
        self.anonymous = anonymous

    def __repr__(self) -> str:
        return "<Section %s %s line %d: %d options>" % (self.type, self.name, self.line, len(self.options))


def _tokens(text: str, path: str, pos: int, line: int):
    """Yield (words, line) per command from `pos` to the end of its line (or text); return (pos, line) there.

    A word is (text, line, is_plain). Raises on an unterminated quote.
    """
    if not _token:
        _token.append(re.compile(_TOKEN_RE, re.X | re.S))
    words = []
    word = None  # [parts, line, is_plain] while inside a word
    match = _token[0].match
    while True:
        m = match(text, pos)
        kind = m.lastgroup if m else "end"
        if kind in ("bare", "sq", "dq", "esc"):
            s = m.group()
            if word is None:
                word = [[], line, True]
            if kind == "bare":
                word[0].append(s)
            else:
                word[2] = False
                if kind == "sq":
                    word[0].append(s[1:-1])
                elif kind == "dq":
                    s = s[1:-1]
                    word[0].append(re.sub(_DQ_ESCAPE, lambda e: e.group(1) or "", s, flags=re.S)
                                   if "\\" in s else s)
                else:
                    word[0].append(s[1])
            line += s.count("\n")
        elif kind == "cont":
            line += 1  # backslash-newline joins lines, inside a word or between words
        else:
            if word is not None:
                words.append(("".join(word[0]), word[1], word[2]))
                word = None
            if kind == "open":
                raise ConfigError("unterminated %s quote" % m.group(), path, line)
            if kind != "ws" and kind != "comment" and words:
                yield words, words[0][1]
                words = []
            if kind == "end":
                return len(text), line
            if kind == "nl":
                return m.end(), line + 1
        pos = m.end()


def parse(text: str, path: str = "", errors: list | None = None) -> list:
    """Parse UCI text into a list of `Section` in file order.

    Raises the first ConfigError, or, when `errors` is a list, appends every problem to it and skips
    the offending command (an unterminated quote ends the parse). Like libuci, a repeated named
    section merges into the first, a repeated option replaces the earlier value and an empty option
    value removes the option; unlike libuci, mixing `option X` and `list X` is an error.
    """
    sections = []
    by_name = {}
    counts = {}
    current = None  # the open Section; False after a rejected `config` line (its options are skipped)

    def fail(message: str, line: int, section: str = "", option: str = "") -> None:
        err = ConfigError(message, path, line, section, option)
        if errors is None:
            raise err
        errors.append(err)

    def command(keyword: str, is_plain: bool, args: list, line: int) -> None:
        nonlocal current
        command = _KEYWORDS.get(keyword) if is_plain else None
        if command is None:
            fail("invalid command %r (expected config, option, list or package)" % keyword, line)
        elif command == "package":
            if not args or not args[0]:
                fail("package needs a name", line)
            elif not is_word(args[0], "_-"):
                fail("invalid package name %r" % args[0], line)
            elif len(args) > 1:
                fail("too many arguments", line)
        elif command == "config":
            current = False
            if not args or not args[0]:
                return fail("config needs a section type", line)
            stype = args[0]
            name = args[1] if len(args) > 1 else ""
            if len(args) > 2:
                fail("too many arguments (quote a name that contains spaces)", line, name)
            elif not _is_type(stype):
                fail("invalid section type %r" % stype, line)
            elif name and not is_word(name):
                fail("invalid section name %r (use only letters, digits and _)" % name, line)
            elif name in by_name:
                current = by_name[name]
                if current.type != stype:
                    fail("section %r was declared with type %r on line %d" % (name, current.type,
                                                                             current.line), line, name)
                    current = False
            else:
                index = counts.get(stype, 0)
                counts[stype] = index + 1
                current = Section(stype, name or "@%s[%d]" % (stype, index), line, not name)
                sections.append(current)
                if name:
                    by_name[name] = current
        elif current is None:
            fail("%s outside a section (add a 'config TYPE NAME' line above it)" % command, line)
        elif current is False:
            pass  # the section line was already reported
        elif not args or not args[0]:
            fail("%s needs a name" % command, line, current.name)
        elif not is_word(args[0]):
            fail("invalid option name %r (use only letters, digits and _)" % args[0], line, current.name)
        elif len(args) > 2:
            fail("too many arguments (quote a value that contains spaces)", line, current.name, args[0])
        else:
            _set(current, command == "list", args[0], args[1] if len(args) > 1 else "", line, fail)

    pos, line, end = 0, 1, len(text)
    match = _LINE.match
    while pos < end:
        m = match(text, pos)
        if m is None:  # a line only the token grammar reads
            commands = _tokens(text, path, pos, line)
            try:
                while True:
                    words, at = next(commands)
                    command(words[0][0], words[0][2], [w[0] for w in words[1:]], at)
            except StopIteration as done:
                pos, line = done.value
            except ConfigError as err:  # an unterminated quote ends the parse
                if errors is None:
                    raise
                errors.append(err)
                return sections
            continue
        pos = m.end()
        line += 1
        keyword, name, value = m.groups()
        if keyword == "option" and value and current:  # the common case, as _set would do it
            v = value[1:-1] if value[0] == "'" else value
            n = name[1:-1] if name[0] == "'" else name
            if v and (n.isalnum() and n.isascii() or is_word(n)):
                previous = current.options.get(n)
                if previous is None or type(previous[0]) is str:
                    current.options[n] = (v, line - 1)
                    continue
        if keyword == "config" and value:  # a named section, as command() would open it
            stype = name[1:-1] if name[0] == "'" else name
            named = value[1:-1] if value[0] == "'" else value
            if (stype.isalpha() and stype.isascii() and named.isalnum() and named.isascii()
                    and named not in by_name):
                counts[stype] = counts.get(stype, 0) + 1
                current = by_name[named] = Section(stype, named, line - 1)
                sections.append(current)
                continue
        if keyword is not None:
            command(keyword, True, [] if name is None else [w[1:-1] if w[0] == "'" else w for w in (
                (name,) if value is None else (name, value))], line - 1)
    return sections


def _set(section: Section, is_list: bool, name: str, value: str, line: int, fail) -> None:
    previous = section.options.get(name)
    if previous is not None and isinstance(previous[0], list) != is_list:
        fail("%s conflicts with %s %s on line %d (use one or the other)"
             % ("list" if is_list else "option", "option" if is_list else "list", name, previous[1]),
             line, section.name, name)
    elif is_list:
        if previous is None:
            section.options[name] = ([value], line)
        else:
            previous[0].append(value)
    elif value:
        section.options[name] = (value, line)
    else:
        section.options.pop(name, None)  # libuci: setting an empty value deletes the option
