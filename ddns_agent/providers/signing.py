"""Request signatures: Tencent Cloud TC3-HMAC-SHA256, Alibaba Cloud RPC v1 HMAC-SHA1, and the
AWS SigV4 scheme that Route 53 and Volcengine (HMAC-SHA256, "request" scope) share.

Pure functions of their inputs: the timestamp and the nonce are arguments, so the vendors' worked
examples (specs/providers.md §2.3 V1-V4, §3.4 V5-V6) reproduce byte for byte in tests/test_signing.py.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote

TC3_ALGORITHM = "TC3-HMAC-SHA256"


def _hmac256(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


class Tc3Signature:
    """Every step of one TC3 signature; the intermediates are what the worked examples publish."""

    __slots__ = ("canonical_request", "hashed_canonical_request", "credential_scope", "string_to_sign",
                 "secret_date", "secret_service", "secret_signing", "signature", "signed_headers",
                 "authorization")


def tc3_sign(secret_id: str, secret_key: str, service: str, timestamp: int, headers: dict,
             payload: bytes, method: str = "POST", query: str = "") -> Tc3Signature:
    """Sign a request whose `headers` (name -> value) are the ones to sign; `payload` is the exact body.

    Names and values are trimmed and lower-cased for the canonical form (§2.3 step 2); the
    credential date is the UTC date of `timestamp`.
    """
    sig = Tc3Signature()
    canonical = sorted((k.strip().lower(), str(v).strip().lower()) for k, v in headers.items())
    sig.signed_headers = ";".join(k for k, _ in canonical)
    sig.canonical_request = "\n".join((
        method, "/", query, "".join("%s:%s\n" % kv for kv in canonical), sig.signed_headers,
        hashlib.sha256(payload).hexdigest()))
    sig.hashed_canonical_request = hashlib.sha256(sig.canonical_request.encode("utf-8")).hexdigest()
    date = time.strftime("%Y-%m-%d", time.gmtime(timestamp))
    sig.credential_scope = "%s/%s/tc3_request" % (date, service)
    sig.string_to_sign = "\n".join((TC3_ALGORITHM, str(timestamp), sig.credential_scope,
                                    sig.hashed_canonical_request))
    sig.secret_date = _hmac256(("TC3" + secret_key).encode("utf-8"), date)
    sig.secret_service = _hmac256(sig.secret_date, service)
    sig.secret_signing = _hmac256(sig.secret_service, "tc3_request")
    sig.signature = hmac.new(sig.secret_signing, sig.string_to_sign.encode("utf-8"),
                             hashlib.sha256).hexdigest()
    sig.authorization = "%s Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        TC3_ALGORITHM, secret_id, sig.credential_scope, sig.signed_headers, sig.signature)
    return sig


def rpc_encode(text: str) -> str:
    """RFC 3986 percent-encoding as Alibaba Cloud wants it: space %20, '*' %2A, '~' kept (§3.4)."""
    return quote(text, safe="-_.~")


def rpc_query(params: dict) -> str:
    """The canonicalised query: names sorted, names and values encoded, joined by '&'."""
    return "&".join("%s=%s" % (rpc_encode(k), rpc_encode(str(params[k]))) for k in sorted(params))


def rpc_string_to_sign(method: str, params: dict) -> str:
    """METHOD&%2F&encode(canonicalised query); `params` must not hold `Signature`."""
    return "%s&%s&%s" % (method, rpc_encode("/"), rpc_encode(rpc_query(params)))


def rpc_signature(secret: str, string_to_sign: str) -> str:
    """Base64 of HMAC-SHA1 keyed with secret + '&' (the '&' is part of the key)."""
    import base64
    digest = hmac.new((secret + "&").encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


class V4Signature:
    """Every step of one SigV4-style signature (the intermediates the vendors' examples publish)."""

    __slots__ = ("canonical_request", "hashed_canonical_request", "credential_scope", "string_to_sign",
                 "signing_key", "signature", "signed_headers", "authorization")


def v4_query(params: dict) -> str:
    """The canonical query: names sorted, names and values RFC 3986-encoded."""
    return "&".join("%s=%s" % (rpc_encode(k), rpc_encode(str(params[k]))) for k in sorted(params))


def v4_sign(algorithm: str, key_prefix: str, terminator: str, access_key: str, secret_key: str,
            region: str, service: str, method: str, path: str, query: str, headers: dict,
            payload_hash: str) -> V4Signature:
    """Sign with the SigV4 steps; `headers` are the ones to sign and hold the date (YYYYMMDDTHHMMSSZ).

    AWS: ("AWS4-HMAC-SHA256", "AWS4", "aws4_request"); Volcengine: ("HMAC-SHA256", "", "request").
    `path` is sent as is (already encoded); `query` is canonical (v4_query).
    """
    sig = V4Signature()
    canonical = sorted((k.strip().lower(), " ".join(str(v).split())) for k, v in headers.items())
    sig.signed_headers = ";".join(k for k, _ in canonical)
    date = dict(canonical).get("x-amz-date") or dict(canonical)["x-date"]
    lines = "".join("%s:%s\n" % kv for kv in canonical)
    sig.canonical_request = "\n".join((method, path or "/", query, lines, sig.signed_headers, payload_hash))
    sig.hashed_canonical_request = hashlib.sha256(sig.canonical_request.encode("utf-8")).hexdigest()
    sig.credential_scope = "%s/%s/%s/%s" % (date[:8], region, service, terminator)
    sig.string_to_sign = "\n".join((algorithm, date, sig.credential_scope, sig.hashed_canonical_request))
    key = (key_prefix + secret_key).encode("utf-8")
    for part in (date[:8], region, service, terminator):
        key = _hmac256(key, part)
    sig.signing_key = key
    sig.signature = hmac.new(key, sig.string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    sig.authorization = "%s Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        algorithm, access_key, sig.credential_scope, sig.signed_headers, sig.signature)
    return sig
