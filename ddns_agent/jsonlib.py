"""JSON through the standard library; ujson only when asked for (DDNS_AGENT_JSON=ujson).

Measured (bench/README.md): for the agent's small documents the import dominates, and ujson's
import (it pulls in `decimal`, a separate package on OpenWrt) costs more than it saves.
"""

from __future__ import annotations

import os

if os.environ.get("DDNS_AGENT_JSON") == "ujson":
    import ujson as _json

    def dumps(obj, indent: int = 0) -> str:
        """Serialise `obj`; `indent` > 0 pretty-prints."""
        return _json.dumps(obj, indent=indent, ensure_ascii=False, escape_forward_slashes=False)
    _encode = _scan = None
else:
    import json as _json

    # json.dumps builds a new encoder on every call that passes options, and JSONEncoder.encode
    # builds a C encoder per call in Python: 5 calls per changed record. This one is built once;
    # without a circular-reference check (the agent's documents are trees; a cycle still raises).
    _COMPACT = _json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
    try:
        _encode = _json.encoder.c_make_encoder(None, _COMPACT.default, _json.encoder.encode_basestring,
                                               None, ":", ",", False, False, True)
    except TypeError:  # pragma: no cover - no C encoder, or another signature
        _encode = None

    def dumps(obj, indent: int = 0) -> str:
        """Serialise `obj`; `indent` > 0 pretty-prints."""
        if not indent:
            return "".join(_encode(obj, 0)) if _encode is not None else _COMPACT.encode(obj)
        return _json.dumps(obj, indent=indent, ensure_ascii=False, separators=(", ", ": "))
    _scan = _json._default_decoder.scan_once  # the C scanner json.loads ends in


def items(mapping: dict) -> list:
    """`"key": value` per item of `mapping` (str keys), values compact: the lines of state.json."""
    if _encode is None:
        return ["%s: %s" % (dumps(k), dumps(v)) for k, v in mapping.items()]
    key = _json.encoder.encode_basestring  # what dumps() runs, minus two calls per item
    return ["%s: %s" % (key(k), "".join(_encode(v, 0))) for k, v in mapping.items()]


def _parse(text):
    """json.loads; a str holding only its value skips json.loads' Python layers."""
    if _scan is not None and type(text) is str:
        try:
            obj, end = _scan(text, 0)
        except StopIteration:  # leading whitespace, or not JSON: json.loads says which
            end = -1
        if end == len(text):
            return obj
    return _json.loads(text)


def loads(text):
    """Parse JSON text (str or bytes); anything that is not usable JSON raises ValueError.

    That includes nesting too deep for the parser (stdlib json: RecursionError) and strings holding
    a lone surrogate escape (\\ud800): UTF-8 cannot hold them, so state and log writes would fail.
    """
    try:
        obj = _parse(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply")
    if (b"\\u" if isinstance(text, bytes) else "\\u") in text:
        try:
            dumps(obj).encode("utf-8")
        except UnicodeError:
            raise ValueError("JSON string holds a lone surrogate (\\ud800-\\udfff)")
    return obj
