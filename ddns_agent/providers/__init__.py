"""Registry of provider types: name -> module, imported only when used, and the options each takes."""

from __future__ import annotations

import sys

#: options every provider section may carry (allow_insecure_http: accept an http:// endpoint or url)
COMMON_OPTIONS = ("type", "endpoint", "cacert", "timeout", "allow_insecure_http")


class ProviderInfo:
    """What the config layer needs to know about a provider type, without importing it."""

    __slots__ = ("module", "cls", "required", "optional", "secrets", "record_options", "summary",
                 "readable")

    def __init__(self, module: str, cls: str, required: tuple = (), optional: tuple = (),
                 secrets: tuple = (), record_options: tuple = (), summary: str = "",
                 readable: bool = True) -> None:
        # readable=False: an update-only protocol (the class has can_find False); the agent never
        # re-sends an unchanged address to it on a timer (repeated no-change updates count as abuse)
        self.readable = readable
        self.module = module
        self.cls = cls
        self.required = required            # each may also be given as <option>_file
        self.optional = optional
        self.secrets = secrets              # never logged; <option>_file reads a 0600 file
        self.record_options = record_options  # extra options a record of this provider may set
        self.summary = summary


REGISTRY = {
    "log": ProviderInfo(
        "log", "LogProvider",
        summary="publishes nothing; logs what it would publish (dry runs, demos)", readable=False),
    "cloudflare": ProviderInfo(
        "cloudflare", "Cloudflare", required=("api_token",), optional=("zone_id",),
        secrets=("api_token",), record_options=("proxied",),
        summary="Cloudflare API v4 with an API token (Zone:Read + DNS:Edit)"),
    "dnspod": ProviderInfo(
        "dnspod", "DNSPod", required=("login_token",), optional=("record_line", "contact_email"),
        secrets=("login_token",), record_options=("record_line",),
        summary="DNSPod legacy API (dnsapi.cn) with login_token 'ID,Token'"),
    "rfc2136": ProviderInfo(
        "rfc2136", "Rfc2136", required=("server", "key_name", "key_secret"),
        optional=("port", "key_algorithm", "zone"), secrets=("key_secret",),
        summary="RFC 2136 dynamic update signed with a TSIG key (BIND, Knot, PowerDNS...)"),
    "tencentcloud": ProviderInfo(
        "tencentcloud", "TencentCloud", required=("secret_id", "secret_key"), optional=("record_line",),
        secrets=("secret_key",), record_options=("record_line",),
        summary="Tencent Cloud DNSPod API 3.0 with a CAM key (SecretId/SecretKey), TC3-HMAC-SHA256"),
    "alidns": ProviderInfo(
        "alidns", "AliDns", required=("access_key_id", "access_key_secret"),
        secrets=("access_key_secret",),
        summary="Alibaba Cloud DNS (alidns) with a RAM AccessKey, RPC signature v1"),
    "duckdns": ProviderInfo(
        "duckdns", "DuckDNS", required=("token",), secrets=("token",),
        summary="DuckDNS with the account token; records: domain duckdns.org, name <sub>", readable=False),
    "dyndns2": ProviderInfo(
        "dyndns2", "Dyndns2", required=("password",), optional=("username", "preset"),
        secrets=("password",),
        summary="dyndns2 /nic/update with Basic auth: preset noip, oray, dynu, he (username = host, "
                "password = its key), desec (username = the domain, password = a token), ovh (a DynHost "
                "login) or custom (endpoint = the whole update URL)", readable=False),
    "huaweicloud": ProviderInfo(
        "huaweicloud", "HuaweiCloud", required=("access_key_id", "secret_access_key"),
        secrets=("secret_access_key",),
        summary="Huawei Cloud DNS public zones with an IAM AK/SK, SDK-HMAC-SHA256"),
    "route53": ProviderInfo(
        "route53", "Route53", required=("access_key_id", "secret_access_key"), optional=("hosted_zone_id",),
        secrets=("secret_access_key",),
        summary="Amazon Route 53 with an IAM access key, SigV4; one UPSERT per change"),
    "volcengine": ProviderInfo(
        "volcengine", "Volcengine", required=("access_key_id", "secret_access_key"),
        secrets=("secret_access_key",),
        summary="Volcengine (火山引擎) DNS with an AccessKey, HMAC-SHA256 (V4-style) signature"),
    "webhook": ProviderInfo(
        "webhook", "Webhook",
        optional=("url", "preset", "method", "body", "content_type", "headers", "success_status",
                  "success_text", "username", "password", "token"),
        secrets=("url", "password", "token"),
        summary="any HTTP(S) URL (option url) from a template with {ip} {ip4} {ip6} {ip6prefix} {domain} "
                "{name} {fqdn} {type} {ttl} {token} {password} {username}; or preset dynv6, freedns, "
                "njalla (option token) or namecheap (option password)", readable=False),
    "digitalocean": ProviderInfo(
        "digitalocean", "DigitalOcean", required=("api_token",), secrets=("api_token",),
        summary="DigitalOcean DNS (API v2) with a personal access token (domain:read + domain:update)"),
    "hetzner": ProviderInfo(
        "hetzner", "Hetzner", required=("api_token",), secrets=("api_token",),
        summary="Hetzner DNS (zones in Hetzner Console) through the Cloud API, Read & Write token"),
    "porkbun": ProviderInfo(
        "porkbun", "Porkbun", required=("api_key", "secret_api_key"), secrets=("api_key", "secret_api_key"),
        summary="Porkbun API v3 with an API key pair; the domain needs API ACCESS on"),
    "gandi": ProviderInfo(
        "gandi", "Gandi", required=("api_token",), secrets=("api_token",),
        summary="Gandi LiveDNS (API v5) with a personal access token"),
    "namecom": ProviderInfo(
        "namecom", "NameCom", required=("username", "api_token"), secrets=("api_token",),
        summary="name.com API v4 with the account user name and an API token"),
    "cloudns": ProviderInfo(
        "cloudns", "ClouDNS", required=("auth_id", "auth_password"), optional=("sub_auth",),
        secrets=("auth_password",),
        summary="ClouDNS HTTP API with an API user (auth-id, or sub-auth-id with sub_auth 1)"),
    "namesilo": ProviderInfo(
        "namesilo", "NameSilo", required=("api_key",), secrets=("api_key",),
        summary="NameSilo API with an API key (API Manager)"),
    "spaceship": ProviderInfo(
        "spaceship", "Spaceship", required=("api_key", "api_secret"), secrets=("api_key", "api_secret"),
        summary="Spaceship API with an API key and secret (dnsRecords:read + dnsRecords:write)"),
}


#: provider types shipped in a package of their own (like ddns-scripts-nsupdate): type -> package
PACKAGES = {
    "rfc2136": "ddns-agent-rfc2136",
    # the further HTTP APIs (issue 12) share one package, ddns-agent-providers
    "digitalocean": "ddns-agent-providers",
    "hetzner": "ddns-agent-providers",
    "porkbun": "ddns-agent-providers",
    "gandi": "ddns-agent-providers",
    "namecom": "ddns-agent-providers",
    "cloudns": "ddns-agent-providers",
    "namesilo": "ddns-agent-providers",
    "spaceship": "ddns-agent-providers",
    "huaweicloud": "ddns-agent-providers",
    "volcengine": "ddns-agent-providers",
    "route53": "ddns-agent-providers",
    # the Chinese cloud pair with providers/signing.py: split off when the core passed 60 KB
    "tencentcloud": "ddns-agent-providers",
    "alidns": "ddns-agent-providers",
}


def load(type_name: str):
    """Import and return the provider class for `type_name` (KeyError if unknown).

    ConfigError (option `type`) when the type's own package is not installed.
    """
    info = REGISTRY[type_name]
    name = "ddns_agent.providers." + info.module
    try:
        __import__(name)  # not importlib.import_module: importing importlib is 1.6 M instructions
    except ModuleNotFoundError as e:
        if e.name != name or type_name not in PACKAGES:
            raise
        from ddns_agent.errors import ConfigError

        raise ConfigError("provider type %s is not installed: opkg install %s"
                          % (type_name, PACKAGES[type_name]), option="type")
    return getattr(sys.modules[name], info.cls)
