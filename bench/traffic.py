"""Provider traffic: requests per changed record per provider, and 1 vs 50 records (connection reuse)."""

from __future__ import annotations

import json

import boxes
from measure import BenchError, Variant, interleave, ratios, summary, walls

DUCK_TOKEN = "a7c4d0ad-114e-40ef-ba1d-d217904a50f2"
HOOK_KEY = "k3y-bench-7"


def _cloudflare(ca) -> tuple:
    served = boxes.cloudflare(ca)
    return served, boxes.cloudflare_options(served), "example.com", "home"


def _dnspod(ca) -> tuple:
    served = boxes.dnspod(ca)
    return served, boxes.dnspod_options(served), "example.com", "home"


def _tencentcloud(ca) -> tuple:
    from fakes.tencentcloud import TencentCloudFake
    served = boxes.Served(TencentCloudFake("AKIDbench0001", "bench-secret-key"), ca)
    return served, {"type": "tencentcloud", "secret_id": "AKIDbench0001", "secret_key": "bench-secret-key",
                    "endpoint": served.server.url, "cacert": served.server.cafile}, "example.com", "home"


def _alidns(ca) -> tuple:
    from fakes.alidns import AliDnsFake
    served = boxes.Served(AliDnsFake("LTAIbench0001", "bench-access-secret"), ca)
    return served, {"type": "alidns", "access_key_id": "LTAIbench0001",
                    "access_key_secret": "bench-access-secret", "endpoint": served.server.url,
                    "cacert": served.server.cafile}, "example.com", "home"


def _duckdns(ca) -> tuple:
    from fakes.duckdns import DuckDNSFake
    served = boxes.Served(DuckDNSFake(DUCK_TOKEN), ca)
    return served, {"type": "duckdns", "token": DUCK_TOKEN, "endpoint": served.server.url,
                    "cacert": served.server.cafile}, "duckdns.org", "myhome"


def _dyndns2(ca) -> tuple:
    from fakes.dyndns2 import Dyndns2Fake
    served = boxes.Served(Dyndns2Fake({"bench": "bench-pass"}, {"home.example.com": "bench"}), ca)
    return served, {"type": "dyndns2", "preset": "custom", "username": "bench", "password": "bench-pass",
                    "endpoint": served.server.url + "/nic/update", "cacert": served.server.cafile}, \
        "example.com", "home"


def _webhook(ca) -> tuple:
    from fakes.webhook import WebhookFake
    served = boxes.Served(WebhookFake(HOOK_KEY), ca)
    return served, {"type": "webhook", "url": "https://dyn.example.net/update?hostname={fqdn}&myip={ip}"
                    "&key={token}", "token": HOOK_KEY, "success_text": "OK", "endpoint": served.server.url,
                    "cacert": served.server.cafile}, "example.com", "home"


def _digitalocean(ca) -> tuple:
    from fakes.digitalocean import PREFIX, DigitalOceanFake
    served = boxes.Served(DigitalOceanFake("dop_v1_bench0001"), ca)
    options = {"type": "digitalocean", "api_token": "dop_v1_bench0001",
               "endpoint": served.server.url + PREFIX, "cacert": served.server.cafile}
    return served, options, "example.com", "home"


#: provider type -> (CA) -> (served fake, provider options, record domain, record name)
HTTP_PROVIDERS = {"cloudflare": _cloudflare, "dnspod": _dnspod, "tencentcloud": _tencentcloud,
                  "alidns": _alidns, "duckdns": _duckdns, "dyndns2": _dyndns2, "webhook": _webhook}


def _hetzner(ca) -> tuple:
    from fakes.hetzner import PREFIX, HetznerFake
    served = boxes.Served(HetznerFake("hcloud-bench-0001"), ca)
    options = {"type": "hetzner", "api_token": "hcloud-bench-0001",
               "endpoint": served.server.url + PREFIX, "cacert": served.server.cafile}
    return served, options, "example.com", "home"


def _porkbun(ca) -> tuple:
    from fakes.porkbun import PREFIX, PorkbunFake
    served = boxes.Served(PorkbunFake("pk1_bench0001", "sk1_bench0001"), ca)
    options = {"type": "porkbun", "api_key": "pk1_bench0001", "secret_api_key": "sk1_bench0001",
               "endpoint": served.server.url + PREFIX, "cacert": served.server.cafile}
    return served, options, "example.com", "home"


def _gandi(ca) -> tuple:
    from fakes.gandi import PREFIX, GandiFake
    served = boxes.Served(GandiFake("gandi-bench-0001"), ca)
    options = {"type": "gandi", "api_token": "gandi-bench-0001",
               "endpoint": served.server.url + PREFIX, "cacert": served.server.cafile}
    return served, options, "example.com", "home"


def _namecom(ca) -> tuple:
    from fakes.namecom import PREFIX, NameComFake
    served = boxes.Served(NameComFake("bench", "namecom-bench-0001"), ca)
    options = {"type": "namecom", "username": "bench", "api_token": "namecom-bench-0001",
               "endpoint": served.server.url + PREFIX, "cacert": served.server.cafile}
    return served, options, "example.com", "home"


def _cloudns(ca) -> tuple:
    from fakes.cloudns import ClouDNSFake
    served = boxes.Served(ClouDNSFake("4242", "cloudns-bench-0001"), ca)
    options = {"type": "cloudns", "auth_id": "4242", "auth_password": "cloudns-bench-0001",
               "endpoint": served.server.url, "cacert": served.server.cafile}
    return served, options, "example.com", "home"


HTTP_PROVIDERS.update(digitalocean=_digitalocean, hetzner=_hetzner, porkbun=_porkbun, gandi=_gandi,
                      namecom=_namecom, cloudns=_cloudns)


def _namesilo(ca) -> tuple:
    from fakes.namesilo import PREFIX, NameSiloFake
    served = boxes.Served(NameSiloFake("namesilo-bench-0001"), ca)
    options = {"type": "namesilo", "api_key": "namesilo-bench-0001",
               "endpoint": served.server.url + PREFIX, "cacert": served.server.cafile}
    return served, options, "example.com", "home"


def _spaceship(ca) -> tuple:
    from fakes.spaceship import PREFIX, SpaceshipFake
    served = boxes.Served(SpaceshipFake("spaceship-key-0001", "spaceship-secret-0001"), ca)
    options = {"type": "spaceship", "api_key": "spaceship-key-0001", "api_secret": "spaceship-secret-0001",
               "endpoint": served.server.url + PREFIX, "cacert": served.server.cafile}
    return served, options, "example.com", "home"


HTTP_PROVIDERS.update(namesilo=_namesilo, spaceship=_spaceship)


def _served(fake, ca, options: dict) -> tuple:
    served = boxes.Served(fake, ca)
    return served, dict(options, endpoint=served.server.url, cacert=served.server.cafile)


def _dynv6(ca) -> tuple:
    from fakes.presets import Dynv6Fake
    served, options = _served(Dynv6Fake({"myhome.dynv6.net": "dynv6-bench-token"}), ca,
                              {"type": "webhook", "preset": "dynv6", "token": "dynv6-bench-token"})
    return served, options, "myhome.dynv6.net", "@"


def _njalla(ca) -> tuple:
    from fakes.presets import NjallaFake
    served, options = _served(NjallaFake({"home.example.com": "njalla-bench-key"}), ca,
                              {"type": "webhook", "preset": "njalla", "token": "njalla-bench-key"})
    return served, options, "example.com", "home"


def _namecheap(ca) -> tuple:
    from fakes.presets import NamecheapFake
    served, options = _served(NamecheapFake({"example.com": "namecheap-bench-pw"}), ca,
                              {"type": "webhook", "preset": "namecheap", "password": "namecheap-bench-pw"})
    return served, options, "example.com", "home", [("home4", "example.com", "home", "A")]  # IPv4 only


def _freedns(ca) -> tuple:
    from fakes.presets import FreeDnsFake
    served, options = _served(FreeDnsFake({"freedns-bench-tok": ("home.example.com", "A")}), ca,
                              {"type": "webhook", "preset": "freedns", "token": "freedns-bench-tok"})
    return served, options, "example.com", "home", [("home4", "example.com", "home", "A")]  # token per family


def _desec(ca) -> tuple:
    from fakes.presets import DesecFake
    served, options = _served(DesecFake({"home.dedyn.io": "desec-bench-token"}), ca,
                              {"type": "dyndns2", "preset": "desec", "password": "desec-bench-token"})
    options["endpoint"] += "/"
    return served, options, "home.dedyn.io", "@"


def _ovh(ca) -> tuple:
    from fakes.presets import OvhFake
    fake = OvhFake({"example.com-home": "ovh-bench-pw"}, {"home.example.com": "example.com-home"})
    served, options = _served(fake, ca, {"type": "dyndns2", "preset": "ovh", "username": "example.com-home",
                                         "password": "ovh-bench-pw"})
    options["endpoint"] += "/nic/update?system=dyndns"
    return served, options, "example.com", "home"


def _huaweicloud(ca) -> tuple:
    from fakes.huaweicloud import HuaweiCloudFake
    served, options = _served(HuaweiCloudFake("HPUALBENCH0001", "huawei-bench-sk"), ca,
                              {"type": "huaweicloud", "access_key_id": "HPUALBENCH0001",
                               "secret_access_key": "huawei-bench-sk"})
    return served, options, "example.com", "home"


def _volcengine(ca) -> tuple:
    from fakes.volcengine import VolcengineFake
    served, options = _served(VolcengineFake("AKLTbench0001", "volcengine-bench-sk"), ca,
                              {"type": "volcengine", "access_key_id": "AKLTbench0001",
                               "secret_access_key": "volcengine-bench-sk"})
    return served, options, "example.com", "home"


def _route53(ca) -> tuple:
    from fakes.route53 import Route53Fake
    served, options = _served(Route53Fake("AKIABENCH0001", "route53-bench-secret"), ca,
                              {"type": "route53", "access_key_id": "AKIABENCH0001",
                               "secret_access_key": "route53-bench-secret"})
    return served, options, "example.com", "home"


HTTP_PROVIDERS.update(huaweicloud=_huaweicloud, volcengine=_volcengine, route53=_route53)
#: URL presets (issue 12), measured like the types they are data for
PRESETS = {"webhook/dynv6": _dynv6, "webhook/njalla": _njalla, "webhook/namecheap": _namecheap,
           "webhook/freedns": _freedns, "dyndns2/desec": _desec, "dyndns2/ovh": _ovh}


def _pair(domain: str, name: str) -> list:
    return [("home4", domain, name, "A"), ("home6", domain, name, "AAAA")]


def _steady(box: boxes.Box, env: dict, count, records: int = 2) -> dict:
    """First run (creates), then a changed run and an unchanged run; counts of each."""
    box.wan(boxes.V4[0], boxes.V6[0])
    first = count(lambda: Variant("first", box.argv("update"), env).run())
    box.wan(boxes.V4[1], boxes.V6[1])
    changed = count(lambda: Variant("changed", box.argv("update"), env).run())
    same = count(lambda: Variant("unchanged", box.argv("update"), env).run())
    return {"first_run": first, "changed_run": changed, "unchanged_run": same,
            "changed_records": records, "per_changed_record": changed / records}


def http_provider(root, ca, name: str, transport: str) -> dict:
    """Steady-state requests of one HTTPS provider against its fake, A + AAAA both changed."""
    served, options, domain, record_name, *rest = dict(HTTP_PROVIDERS, **PRESETS)[name](ca)
    records = rest[0] if rest else _pair(domain, record_name)
    try:
        box = boxes.Box(root, "req-%s-%s" % (name.replace("/", "-"), transport))
        box.config("p", options, records)

        def count(run) -> int:
            mark = served.mark()
            run()
            return served.since(mark)[0]

        out = _steady(box, box.env_for(transport), count, len(records))
        if getattr(served.handler, "errors", None):
            raise BenchError("the %s fake saw a bad request or crashed: %r"
                             % (name, served.handler.errors[0]))
    finally:
        served.stop()
    out.update(provider=name, transport=transport)
    return out


def rfc2136(root) -> dict:
    """Steady-state messages to a real BIND9: signed queries plus UPDATEs, A + AAAA both changed."""
    import bind as bind_mod

    if bind_mod._why_missing():
        return {"provider": "rfc2136", "skipped": bind_mod._why_missing()}
    with bind_mod.Bind(root / "bind", zone="example.com", lifetime_s=300) as ns:
        box = boxes.Box(root, "req-rfc2136")
        box.config("p", {"type": "rfc2136", "server": ns.address, "port": ns.port,
                         "key_name": ns.key_name, "key_secret": ns.key_secret},
                   _pair("example.com", "home"))

        def count(run) -> int:
            before = ns.updates() + ns.signed_queries("home.example.com")
            run()
            return ns.updates() + ns.signed_queries("home.example.com") - before

        out = _steady(box, box.env, count)
        if ns.dig("home.example.com", "A")[0][1] != boxes.V4[1]:
            raise BenchError("BIND does not answer the published address")
    out.update(provider="rfc2136", transport="udp")
    return out


def requests_per_provider(root, ca, log) -> list:
    """One row per provider type the agent knows; those without a fake say so."""
    from ddns_agent.providers import REGISTRY

    rows = []
    for name in sorted(REGISTRY):
        if name == "log":
            continue
        if name in HTTP_PROVIDERS:
            for transport in ("urllib3", "stdlib"):
                log("  requests: %s (%s)" % (name, transport))
                rows.append(http_provider(root, ca, name, transport))
        elif name == "rfc2136":
            log("  requests: rfc2136 (BIND9)")
            rows.append(rfc2136(root))
        else:
            rows.append({"provider": name, "skipped": "no fake wired into bench/traffic.py"})
    for name in PRESETS:
        for transport in ("urllib3", "stdlib"):
            log("  requests: %s (%s)" % (name, transport))
            rows.append(http_provider(root, ca, name, transport))
    return rows


def many_records(root, ca, transport: str, reps: int, n: int = 50) -> dict:
    """The same provider with 1 and with `n` changed records: time, requests, TCP connections."""
    served = boxes.cloudflare(ca)
    try:
        sides = {}
        for count in (1, n):
            box = boxes.Box(root, "many-%d-%s" % (count, transport))
            recs = [("h%02d" % i, "example.com", "h%02d-%d" % (i, count), "A") for i in range(count)]
            box.config("cf", boxes.cloudflare_options(served), recs)
            env = box.env_for(transport)
            box.wan(boxes.V4[1])
            Variant("first", box.argv("update"), env).run()
            sides[count] = (box, env)
        seen: dict = {1: [], n: []}

        def variant(count: int) -> Variant:
            box, env = sides[count]
            mark = {}

            def prepare(i: int) -> None:
                box.wan(boxes.V4[i % 2])
                mark["m"] = served.mark()

            def check(i: int, sample) -> None:
                reqs, conns, methods = served.since(mark["m"])
                if methods != ["PATCH"] * count:
                    raise BenchError("%d records (%s): sent %s" % (count, transport, methods))
                seen[count].append((reqs, conns))

            return Variant("%d records" % count, box.argv("update"), env, prepare, check)

        def floor(count: int) -> Variant:
            # the same PATCHes written and read by hand on one socket + ssl connection: what the fake,
            # TLS and the interpreter cost per record, with no HTTP library and no agent
            box, env = sides[count]
            ids = [v["id"] for v in json.loads((box.state / "state.json").read_text())["records"].values()]
            fenv = boxes.raw_paths_env(env, boxes.cloudflare_options(served)["endpoint"],
                                       served.server.cafile, ids, boxes.V4[0])
            return Variant("floor %d" % count, boxes.floor_argv("stdlib"), fenv)

        runs = interleave([variant(1), variant(n), floor(1), floor(n)], reps)
    finally:
        served.stop()
    f_one, f_many = walls(runs["floor 1"]), walls(runs["floor %d" % n])
    one, many = walls(runs["1 records"]), walls(runs["%d records" % n])
    conns_one = sorted({c for _, c in seen[1]})
    conns_many = sorted({c for _, c in seen[n]})
    per_record = [(m - o) / (n - 1) for m, o in zip(many, one)]
    return {"transport": transport, "records": n, "one_ms": summary(one), "many_ms": summary(many),
            "ratio": ratios(many, one), "extra_ms_per_record": summary(per_record),
            "floor_extra_ms_per_record": summary([(m - o) / (n - 1) for m, o in zip(f_many, f_one)]),
            "requests_one": seen[1][-1][0], "requests_many": seen[n][-1][0],
            "connections_one": conns_one, "connections_many": conns_many}
