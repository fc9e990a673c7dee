"""Fakes of the push services the notify presets speak to, one small class each, and a healthchecks-style
heartbeat server. Each checks what its service checks (method, path, where the token goes, the body's
shape) and answers in the service's documented shapes, errors included (docs/notify.md lists them).
Every accepted message lands in `messages` as (title, text); every request in `requests`.
"""

from __future__ import annotations

import json
import threading
import time

from fakes import FakeRequest, FakeResponse, json_response, register_secret, text_response


class _Fake:
    def __init__(self, secret: str, name: str) -> None:
        self.secret = secret
        register_secret(secret, name)
        self.messages: list = []
        self.requests: list = []
        self.errors: list = []
        self.hold = None  # a threading.Event: answer only once it is set (a hanging service)
        self.entered = threading.Event()

    def __call__(self, req: FakeRequest) -> FakeResponse:
        self.requests.append(req)
        self.entered.set()
        if self.hold is not None:
            self.hold.wait(60)
        return self.answer(req)

    def body(self, req: FakeRequest):
        """The JSON body (None when the request is not JSON)."""
        if req.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return None
        try:
            data = req.json()
        except ValueError:
            return None
        return data if isinstance(data, dict) else None


class NtfyFake(_Fake):
    """ntfy: JSON publishing is a POST/PUT to `/` with `topic`; a protected topic needs Bearer <token>."""

    def __init__(self, token: str, topic: str = "home-router-4f9a") -> None:
        super().__init__(token, "ntfy access token")
        self.topic = topic

    def answer(self, req: FakeRequest) -> FakeResponse:
        if req.method not in ("POST", "PUT") or req.route != "/":
            return json_response({"code": 40401, "http": 404, "error": "page not found"}, 404)
        data = _loads(req.body)  # ntfy takes the JSON whatever the Content-Type
        if data is None or not isinstance(data.get("topic"), str):
            return json_response({"code": 40024, "http": 400,
                                  "error": "invalid request: request body must be message JSON"}, 400)
        if data["topic"] == self.topic and req.headers.get("authorization") != "Bearer " + self.secret:
            return json_response({"code": 40101, "http": 401, "error": "unauthorized",
                                  "link": "https://ntfy.sh/docs/publish/#authentication"}, 401)
        self.messages.append((data.get("title", ""), data.get("message", "")))
        return json_response({"id": "hwQ2YpKdmg%d" % len(self.messages), "time": int(time.time()),
                              "event": "message", "topic": data["topic"], "title": data.get("title"),
                              "message": data.get("message", "triggered"), "tags": data.get("tags")})


def _loads(body: bytes):
    try:
        data = json.loads(body.decode("utf-8"))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


class TelegramFake(_Fake):
    """Bot API: POST /bot<token>/sendMessage, JSON or form; {"ok": false, "error_code", "description"}."""

    def __init__(self, token: str, chat_id: str = "123456789") -> None:
        super().__init__(token, "Telegram bot token")
        self.chat_id = chat_id

    def answer(self, req: FakeRequest) -> FakeResponse:
        route = req.route
        if not route.startswith("/bot") or route.rpartition("/")[2] != "sendMessage":
            return json_response({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
        if route[4:].rpartition("/")[0] != self.secret:
            return json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, 401)
        data = self.body(req) or (req.form if req.method == "POST" else req.query)
        if str(data.get("chat_id")) != self.chat_id:
            return json_response({"ok": False, "error_code": 400,
                                  "description": "Bad Request: chat not found"}, 400)
        if not data.get("text"):
            return json_response({"ok": False, "error_code": 400,
                                  "description": "Bad Request: message text is empty"}, 400)
        self.messages.append(("", data["text"]))
        return json_response({"ok": True, "result": {
            "message_id": len(self.messages), "date": int(time.time()),
            "chat": {"id": int(self.chat_id), "type": "private"}, "text": data["text"]}})


class BarkFake(_Fake):
    """bark-server: POST /push JSON with `device_key`; {"code": 200, "message": "success"} or code 400."""

    def answer(self, req: FakeRequest) -> FakeResponse:
        now = int(time.time())
        data = self.body(req)
        if req.route != "/push" or req.method != "POST" or data is None:
            return json_response({"code": 400, "message": "request bind failed", "timestamp": now}, 400)
        key = data.get("device_key", "")
        if key != self.secret:  # bark-server quotes the key it could not find
            return json_response({"code": 400, "message": "failed to get device token: failed to get [%s] "
                                  "device token from database" % key, "timestamp": now}, 400)
        if not data.get("body"):
            return json_response({"code": 400, "message": "body is empty", "timestamp": now}, 400)
        self.messages.append((data.get("title", ""), data["body"]))
        return json_response({"code": 200, "message": "success", "timestamp": now})


class ServerChanFake(_Fake):
    """Server酱 Turbo: POST /<sendkey>.send with title (required) and desp; {"code": 0, ...} on success."""

    def answer(self, req: FakeRequest) -> FakeResponse:
        route = req.route
        if not route.endswith(".send"):
            return text_response("404 page not found", 404)
        if route[1:-5] != self.secret:
            return json_response({"code": 40001, "message": "bad pushtoken", "data": None}, 400)
        data = self.body(req) or req.form
        if not data.get("title"):
            return json_response({"code": 40001, "message": "title can't be empty", "data": None}, 400)
        self.messages.append((data["title"], data.get("desp", "")))
        return json_response({"code": 0, "message": "", "data": {"pushid": str(len(self.messages)),
                                                                  "readkey": "SCTr8ad", "error": "SUCCESS",
                                                                  "errno": 0}})


class WeComFake(_Fake):
    """WeCom group robot: POST /cgi-bin/webhook/send?key=<key>, JSON msgtype text; HTTP 200 with errcode."""

    def answer(self, req: FakeRequest) -> FakeResponse:
        if req.route != "/cgi-bin/webhook/send" or req.method != "POST":
            return text_response("not found", 404)
        if req.query.get("key") != self.secret:
            return json_response({"errcode": 93000, "errmsg": "invalid webhook url, hint: [1700000000_1_x], "
                                  "from ip: 203.0.113.9, more info at https://open.work.weixin.qq.com/"
                                  "devtool/query?e=93000"})
        data = _loads(req.body)
        if data is None or data.get("msgtype") != "text" or not isinstance(data.get("text"), dict):
            return json_response({"errcode": 40008, "errmsg": "invalid message type"})
        content = data["text"].get("content", "")
        if len(content.encode("utf-8")) > 2048:
            return json_response({"errcode": 40058, "errmsg": "content exceed max length 2048"})
        self.messages.append(("", content))
        return json_response({"errcode": 0, "errmsg": "ok"})


class DiscordFake(_Fake):
    """Discord: POST /api/webhooks/<id>/<token> JSON {content}; 204, or {"message", "code"} errors."""

    def __init__(self, token: str, webhook_id: str = "1180000000000000001") -> None:
        super().__init__(token, "Discord webhook token")
        self.webhook_id = webhook_id

    def answer(self, req: FakeRequest) -> FakeResponse:
        parts = req.route.strip("/").split("/")
        if parts[:2] != ["api", "webhooks"] or len(parts) != 4 or parts[2] != self.webhook_id:
            return json_response({"message": "Unknown Webhook", "code": 10015}, 404)
        if parts[3] != self.secret:
            return json_response({"message": "Invalid Webhook Token", "code": 50027}, 401)
        data = self.body(req)
        if data is None:
            return json_response({"message": "Cannot send an empty message", "code": 50006}, 400)
        content = data.get("content") or ""
        if len(content) > 2000:
            return json_response({"code": 50035, "errors": {"content": {"_errors": [
                {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}},
                "message": "Invalid Form Body"}, 400)
        if not content:
            return json_response({"message": "Cannot send an empty message", "code": 50006}, 400)
        self.messages.append(("", content))
        return FakeResponse(204, {}, b"")


class SlackFake(_Fake):
    """Slack incoming webhook: POST /services/T…/B…/<secret> JSON {text}; 200 `ok`, errors as text."""

    def __init__(self, secret: str, path: str = "/services/T0EXAMPLE/B0EXAMPLE/") -> None:
        super().__init__(secret, "Slack webhook secret")
        self.path = path

    def answer(self, req: FakeRequest) -> FakeResponse:
        if not req.route.startswith(self.path):
            return text_response("no_service", 404, "text/html")
        if req.route[len(self.path):] != self.secret:
            return text_response("invalid_token", 403, "text/html")
        data = _loads(req.body)
        if data is None:
            return text_response("invalid_payload", 400, "text/html")
        if not data.get("text"):
            return text_response("no_text", 400, "text/html")
        self.messages.append(("", data["text"]))
        return text_response("ok", 200, "text/html")


class HealthchecksFake(_Fake):
    """healthchecks.io pings: /<uuid> success, /<uuid>/fail failure (HEAD, GET or POST); `pings` in order."""

    def __init__(self, uuid: str) -> None:
        super().__init__(uuid, "healthchecks check uuid")
        self.pings: list = []

    def answer(self, req: FakeRequest) -> FakeResponse:
        parts = req.route.strip("/").split("/")
        if req.method not in ("HEAD", "GET", "POST") or parts[0] != self.secret \
                or parts[1:] not in ([], ["fail"]):
            return text_response("not found", 404)
        self.pings.append(("fail" if parts[1:] else "ok", req.body.decode("utf-8", "replace")))
        return text_response("OK")
