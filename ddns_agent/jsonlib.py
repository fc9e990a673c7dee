"""JSON through ujson when installed (faster, smaller), the standard library otherwise."""

from __future__ import annotations

try:
    import ujson as _json

    def dumps(obj, indent: int = 0) -> str:
        """Serialise `obj`; `indent` > 0 pretty-prints."""
        return _json.dumps(obj, indent=indent, ensure_ascii=False, escape_forward_slashes=False)
except ImportError:  # ujson is optional (not in the OpenWrt feed)
    import json as _json

    def dumps(obj, indent: int = 0) -> str:
        """Serialise `obj`; `indent` > 0 pretty-prints."""
        return _json.dumps(obj, indent=indent or None, ensure_ascii=False,
                           separators=(", ", ": ") if indent else (",", ":"))

loads = _json.loads
