"""How a notification leaves (package ddns-agent-notify): a command, an HTTP template, a preset of a
push service, a heartbeat URL. Runs in the detached sender only (notify.py); raises on failure.

Presets follow each service's documented API (docs/notify.md lists them with their answers):

    ntfy        POST <server>/  JSON {topic, title, message, tags}; `url` = the topic's URL;
                `token` (optional) as Authorization: Bearer; success: 200 with the message's JSON
    telegram    POST https://api.telegram.org/bot<token>/sendMessage JSON {chat_id, text}; {"ok": true}
    bark        POST https://api.day.app/push JSON {device_key: <token>, title, body, group};
                `url` moves it to your bark-server; success: {"code": 200}
    serverchan  POST https://sctapi.ftqq.com/<token>.send form title, desp (a Server酱³ key sctp<uid>t...
                goes to https://<uid>.push.ft07.com/send/<token>.send); success: {"code": 0}
    wecom       POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=<token> JSON
                {msgtype: text, text: {content}}; success: {"errcode": 0}
    discord     POST <url> JSON {content}; success: 204 (or 200)
    slack       POST <url> JSON {text}; success: 200 `ok`
"""

from __future__ import annotations

import json
import os
import re
from urllib.parse import quote, quote_plus, urlencode

from ddns_agent.secret import scrub

TAGS = {"change": "globe_with_meridians", "failure": "warning", "recovery": "white_check_mark"}
DEFAULT = {"telegram": "https://api.telegram.org", "bark": "https://api.day.app",
           "serverchan": "https://sctapi.ftqq.com", "wecom": "https://qyapi.weixin.qq.com"}
_WORD = re.compile(r"\{([a-z_]+)\}")


class NotifyError(Exception):
    """A notification that did not go out; the text names the service, never a secret."""


def _reveal(value) -> str:
    return value.reveal() if hasattr(value, "reveal") else str(value or "")


def _origin(url: str) -> tuple:
    """(scheme://host[:port], the rest) of `url`."""
    scheme, _, rest = url.partition("://")
    cut = min([i for i in (rest.find("/"), rest.find("?")) if i >= 0] or [len(rest)])
    return "%s://%s" % (scheme, rest[:cut]), rest[cut:]


def _at(n, url: str) -> str:
    """`url` with its scheme://host[:port] replaced by the section's `endpoint` (a test server, a proxy)."""
    endpoint = n.options.get("endpoint")
    return endpoint.rstrip("/") + _origin(url)[1] if endpoint else url


def _request(n, method: str, url: str, headers: dict, body: bytes | None, service: str):
    from ddns_agent.errors import DdnsError
    from ddns_agent.http import Timeouts, make_http

    t = float(n.timeout)
    try:
        with make_http(Timeouts(t, t, t), cacert=n.options.get("cacert")) as http:
            return http.request(method, _at(n, url), headers, body)
    except DdnsError as e:  # names host:port, never the URL's path or query (tokens live there)
        raise NotifyError("%s: %s" % (service, e))


def _refused(service: str, resp, detail) -> NotifyError:
    return NotifyError(scrub("%s refused the notification (HTTP %d): %s" % (service, resp.status, detail)
                             [:300], partial=True))


def _json(resp) -> dict:
    try:
        data = json.loads(resp.body.decode("utf-8"))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _post_json(n, url: str, obj: dict, service: str, headers: dict | None = None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return _request(n, "POST", url, h, json.dumps(obj, ensure_ascii=False).encode("utf-8"), service)


def http(n, job: dict) -> None:
    """Send `job` through the section's preset or URL template; nothing when it has neither."""
    preset = n.options.get("preset")
    if preset:
        PRESETS[preset](n, job["facts"])
    elif n.options.get("url"):
        template(n, job["facts"])


def _title(f: dict) -> str:
    return "ddns-agent %s: %s %s" % (f["DDNS_EVENT"], f["DDNS_FQDN"], f["DDNS_TYPE"])


def ntfy(n, f: dict) -> None:
    """ntfy: publish as JSON to the server root (a header Title could not carry UTF-8)."""
    base, _, topic = _reveal(n.options["url"]).rstrip("/").rpartition("/")
    token = _reveal(n.options.get("token"))
    resp = _post_json(n, base + "/", {"topic": topic, "title": _title(f), "message": f["DDNS_MESSAGE"],
                                      "tags": [TAGS.get(f["DDNS_EVENT"], "bell")]}, "ntfy",
                      {"Authorization": "Bearer " + token} if token else None)
    if resp.status != 200 or "id" not in _json(resp):
        raise _refused("ntfy", resp, _json(resp).get("error") or resp.text[:100])


def telegram(n, f: dict) -> None:
    """Telegram Bot API sendMessage."""
    url = "%s/bot%s/sendMessage" % (DEFAULT["telegram"], _reveal(n.options["token"]))
    resp = _post_json(n, url, {"chat_id": n.options["chat_id"], "text": f["DDNS_MESSAGE"],
                               "disable_web_page_preview": True}, "telegram")
    data = _json(resp)
    if data.get("ok") is not True:
        raise _refused("telegram", resp, data.get("description") or resp.text[:100])


def bark(n, f: dict) -> None:
    """Bark: JSON to /push with the device key in the body."""
    base = _reveal(n.options.get("url")) or DEFAULT["bark"]
    resp = _post_json(n, base.rstrip("/") + "/push", {"device_key": _reveal(n.options["token"]),
                                                      "title": _title(f), "body": f["DDNS_MESSAGE"],
                                                      "group": "ddns-agent"}, "bark")
    data = _json(resp)
    if data.get("code") != 200:
        raise _refused("bark", resp, data.get("message") or resp.text[:100])


def serverchan(n, f: dict) -> None:
    """ServerChan (Server酱 Turbo, sctapi; Server酱³ for sctp keys): a form with title and desp."""
    key = _reveal(n.options["token"])
    sc3 = re.match(r"^sctp(\d+)t", key)
    url = ("https://%s.push.ft07.com/send/%s.send" % (sc3.group(1), key) if sc3
           else "%s/%s.send" % (DEFAULT["serverchan"], key))
    body = urlencode({"title": _title(f)[:32], "desp": f["DDNS_MESSAGE"]}).encode()
    resp = _request(n, "POST", url, {"Content-Type": "application/x-www-form-urlencoded"}, body, "serverchan")
    data = _json(resp)
    if data.get("code") != 0:
        raise _refused("serverchan", resp, data.get("message") or resp.text[:100])


def wecom(n, f: dict) -> None:
    """WeCom (企业微信) group robot webhook, a text message (at most 2048 bytes)."""
    url = "%s/cgi-bin/webhook/send?key=%s" % (DEFAULT["wecom"], quote(_reveal(n.options["token"]), safe=""))
    text = f["DDNS_MESSAGE"].encode("utf-8")[:2048].decode("utf-8", "ignore")
    resp = _post_json(n, url, {"msgtype": "text", "text": {"content": text}}, "wecom")
    data = _json(resp)
    if data.get("errcode") != 0:
        raise _refused("wecom", resp, "%s %s" % (data.get("errcode"), data.get("errmsg") or resp.text[:100]))


def discord(n, f: dict) -> None:
    """Discord webhook: 204 without `?wait=true`."""
    resp = _post_json(n, _reveal(n.options["url"]), {"content": f["DDNS_MESSAGE"][:2000]}, "discord")
    if resp.status not in (200, 204):
        raise _refused("discord", resp, _json(resp).get("message") or resp.text[:100])


def slack(n, f: dict) -> None:
    """Slack incoming webhook: 200 `ok`; errors are text (invalid_token, no_service...)."""
    resp = _post_json(n, _reveal(n.options["url"]), {"text": f["DDNS_MESSAGE"]}, "slack")
    if resp.status != 200:
        raise _refused("slack", resp, resp.text[:100])


PRESETS = {"ntfy": ntfy, "telegram": telegram, "bark": bark, "serverchan": serverchan, "wecom": wecom,
           "discord": discord, "slack": slack}


def render(text: str, facts: dict, encode) -> str:
    """`text` with each {placeholder} (notifyconf.PLACEHOLDERS) replaced by its encoded fact."""
    return _WORD.sub(lambda m: encode(facts.get("DDNS_" + m.group(1).upper(), m.group(0))), text)


def template(n, f: dict) -> None:
    """The user's own request: `url`, `method`, `body`, `header`; success is any 2xx."""
    body = n.options.get("body")
    method = n.options.get("method") or ("POST" if body is not None else "GET")
    url = render(_reveal(n.options["url"]), f, lambda v: quote(v, safe=""))
    headers = {}
    data = None
    if body is not None:
        is_json = body.lstrip()[:1] in ("{", "[")
        data = render(body, f, (lambda v: json.dumps(v, ensure_ascii=False)[1:-1]) if is_json
                      else quote_plus).encode("utf-8")
        headers["Content-Type"] = "application/json" if is_json else "application/x-www-form-urlencoded"
    for line in n.options.get("header") or ():
        name, _, value = line.partition(":")
        headers[name.strip()] = render(value.strip(), f, str)
    resp = _request(n, method, url, headers, data, "url")
    if not 200 <= resp.status < 300:
        raise _refused(_origin(url)[0].partition("://")[2], resp, resp.text[:100])


def ping(n, job: dict) -> None:
    """Heartbeat: POST the run's summary to `ping_url` after a good run, to `fail_url` after a failed one."""
    url = _reveal(n.options["ping_url" if job["event"] == "ping" else "fail_url"])
    resp = _request(n, "POST", url, {"Content-Type": "text/plain; charset=utf-8"},
                    job["facts"]["DDNS_MESSAGE"].encode("utf-8"), "heartbeat")
    if not 200 <= resp.status < 300:
        raise _refused("heartbeat " + _origin(url)[0].partition("://")[2], resp, resp.text[:100])


def command(n, job: dict) -> None:
    """Run the section's `command` with the facts in DDNS_* variables, as hotplug scripts get theirs."""
    path = n.options.get("command")
    if not path:
        return
    from ddns_agent import spawn

    os.environ.update(job["facts"])  # this is the detached sender: its environment is its own
    try:
        code, _, err = spawn.run([path], n.timeout, limit=4096)
    except spawn.Timeout:
        raise NotifyError("command %s did not finish within %gs (killed)" % (path, n.timeout))
    except spawn.TooLarge:
        raise NotifyError("command %s printed too much (killed)" % path)
    except OSError as e:
        raise NotifyError("command %s cannot start: %s" % (path, e.strerror or e))
    finally:
        for k in job["facts"]:
            os.environ.pop(k, None)
    if code != 0:
        line = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        raise NotifyError(scrub("command %s exited with status %d%s" % (path, code, ": " + line[0][:200]
                                                                         if line[0] else ""), partial=True))
