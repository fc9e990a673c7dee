"""Each notify preset against a local fake of its service's documented API, over real TLS with the test CA."""

from __future__ import annotations

import pytest
from fakes.notify import (
    BarkFake,
    DiscordFake,
    HealthchecksFake,
    NtfyFake,
    ServerChanFake,
    SlackFake,
    TelegramFake,
    WeComFake,
)

from ddns_agent import config, notify, notifysend

NTFY_TOKEN = "tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2"
TELEGRAM_TOKEN = "7102938475:AAHd6sjW0-hvzG3S-ntQEmKqV9vDoQ7rQfs"
BARK_TOKEN = "Zq3nVwX8yR2pLk5mTt7uJc"
SERVERCHAN_TOKEN = "SCT245871TzKq9wPbXr3mN6vLhYd2"
WECOM_TOKEN = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
DISCORD_TOKEN = "Xk2pQ9vR7sT4uW1yZ3bC5dE8fG0hJ6kL-mN_oP2qR4sT6uV8wX0yZ2aB4cD6eF8gH"
SLACK_SECRET = "XXXXXXXXXXXXXXXXXXXXXXXX"
HC_SECRET = "5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278"
PROVIDER_TOKEN = "cf-provider-token-0a1b2c3d4e5f6a7b8c9d"

BASE = """
config provider 'cf'
	option type 'cloudflare'
	option api_token '%s'

config record 'home'
	option provider 'cf'
	option domain 'example.com'
	option name 'home'
	option interface 'wan'

config notify 'phone'
""" % PROVIDER_TOKEN


def section(tmp_path, server, options: str):
    """The notify section `phone` with `options`, pointed at `server` with its CA."""
    path = tmp_path / "ddns_agent.conf"
    path.write_text(BASE + options + "\toption endpoint '%s'\n\toption cacert '%s'\n"
                    % (server.url, server.cafile))
    cfg, errors = config.check(str(path))
    assert errors == [], [str(e) for e in errors]
    return cfg, cfg.notify[0]


def facts(cfg, event: str = "change", error: str = "") -> dict:
    return notify._facts(cfg.records[0], cfg, event, {"address": "203.0.113.7", "previous": "203.0.113.5",
                                                      "error": error, "failures": 3}, 1700000000)


def send(cfg, n, event: str = "change") -> None:
    notifysend.http(n, {"facts": facts(cfg, event)})


def test_ntfy_publishes_json_to_the_server_root_with_the_topic_and_bearer_token(tmp_path, serve):
    fake = NtfyFake(NTFY_TOKEN)
    server = serve(fake)
    cfg, n = section(tmp_path, server, "\toption preset 'ntfy'\n\toption url 'https://ntfy.sh/home-router-4f9a'\n"
                     "\toption token '%s'\n" % NTFY_TOKEN)
    send(cfg, n)
    [req] = server.requests
    assert (req.method, req.route) == ("POST", "/")
    assert req.headers["authorization"] == "Bearer " + NTFY_TOKEN
    body = req.json()
    assert body["topic"] == "home-router-4f9a" and body["tags"] == ["globe_with_meridians"]
    assert fake.messages == [("ddns-agent change: home.example.com A",
                              "home.example.com A is now 203.0.113.7 (was 203.0.113.5)")]


def test_ntfy_refusal_is_an_error_quoting_ntfy_never_the_token(tmp_path, serve):
    server = serve(NtfyFake(NTFY_TOKEN))
    cfg, n = section(tmp_path, server, "\toption preset 'ntfy'\n\toption url 'https://ntfy.sh/home-router-4f9a'\n"
                     "\toption token 'tk_wrongwrongwrongwrongwrong'\n")
    with pytest.raises(notifysend.NotifyError, match=r"ntfy refused the notification \(HTTP 401\): unauth"):
        send(cfg, n)


def test_telegram_sends_the_message_to_the_chat_with_the_token_in_the_path(tmp_path, serve):
    fake = TelegramFake(TELEGRAM_TOKEN, chat_id="123456789")
    server = serve(fake)
    cfg, n = section(tmp_path, server, "\toption preset 'telegram'\n\toption token '%s'\n"
                     "\toption chat_id '123456789'\n" % TELEGRAM_TOKEN)
    send(cfg, n, "recovery")
    [req] = server.requests
    assert (req.method, req.route) == ("POST", "/bot%s/sendMessage" % TELEGRAM_TOKEN)
    assert req.json()["chat_id"] == "123456789"
    assert fake.messages == [("", "home.example.com A is published again: 203.0.113.7")]


@pytest.mark.parametrize("token,chat,words", [
    ("7102938475:AAwrongwrongwrongwrongwrongwrongw", "123456789", "HTTP 401\\): Unauthorized"),
    (TELEGRAM_TOKEN, "42", "HTTP 400\\): Bad Request: chat not found")])
def test_telegram_errors_carry_the_description_and_no_token(tmp_path, serve, token, chat, words):
    server = serve(TelegramFake(TELEGRAM_TOKEN))
    cfg, n = section(tmp_path, server, "\toption preset 'telegram'\n\toption token '%s'\n"
                     "\toption chat_id '%s'\n" % (token, chat))
    with pytest.raises(notifysend.NotifyError, match="telegram refused the notification \\(" + words) as e:
        send(cfg, n)
    assert token not in str(e.value)


def test_bark_posts_json_to_push_with_the_device_key_in_the_body(tmp_path, serve):
    fake = BarkFake(BARK_TOKEN, "Bark device key")
    server = serve(fake)
    cfg, n = section(tmp_path, server, "\toption preset 'bark'\n\toption token '%s'\n" % BARK_TOKEN)
    send(cfg, n, "failure")
    [req] = server.requests
    assert (req.method, req.route) == ("POST", "/push") and req.json()["device_key"] == BARK_TOKEN
    assert req.json()["group"] == "ddns-agent"
    assert fake.messages[0][0] == "ddns-agent failure: home.example.com A"


def test_bark_unknown_key_is_refused_and_the_quoted_key_is_masked(tmp_path, serve):
    server = serve(BarkFake(BARK_TOKEN, "Bark device key"))
    wrong = "WrongDeviceKey0123456789"
    cfg, n = section(tmp_path, server, "\toption preset 'bark'\n\toption token '%s'\n" % wrong)
    with pytest.raises(notifysend.NotifyError, match="bark refused the notification") as e:
        send(cfg, n)
    assert "device token from database" in str(e.value) and wrong not in str(e.value)


def test_serverchan_posts_a_form_with_title_and_desp_to_the_sendkey_url(tmp_path, serve):
    fake = ServerChanFake(SERVERCHAN_TOKEN, "ServerChan SendKey")
    server = serve(fake)
    cfg, n = section(tmp_path, server, "\toption preset 'serverchan'\n"
                     "\toption token '%s'\n" % SERVERCHAN_TOKEN)
    send(cfg, n)
    [req] = server.requests
    assert (req.method, req.route) == ("POST", "/%s.send" % SERVERCHAN_TOKEN)
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    # sctapi takes a title of at most 32 characters
    assert fake.messages == [("ddns-agent change: home.example.",
                              "home.example.com A is now 203.0.113.7 (was 203.0.113.5)")]


def test_serverchan_bad_key_answer_is_an_error(tmp_path, serve):
    server = serve(ServerChanFake(SERVERCHAN_TOKEN, "ServerChan SendKey"))
    cfg, n = section(tmp_path, server, "\toption preset 'serverchan'\n"
                     "\toption token 'SCT000000WrongKeyWrongKey'\n")
    with pytest.raises(notifysend.NotifyError, match="serverchan refused .*bad pushtoken"):
        send(cfg, n)


def test_wecom_posts_a_text_message_with_the_key_in_the_query(tmp_path, serve):
    fake = WeComFake(WECOM_TOKEN, "WeCom robot key")
    server = serve(fake)
    cfg, n = section(tmp_path, server, "\toption preset 'wecom'\n\toption token '%s'\n" % WECOM_TOKEN)
    send(cfg, n)
    [req] = server.requests
    assert (req.method, req.route, req.query) == ("POST", "/cgi-bin/webhook/send", {"key": WECOM_TOKEN})
    assert req.json()["msgtype"] == "text"
    assert fake.messages == [("", "home.example.com A is now 203.0.113.7 (was 203.0.113.5)")]


def test_wecom_errcode_in_an_http_200_is_an_error(tmp_path, serve):
    server = serve(WeComFake(WECOM_TOKEN, "WeCom robot key"))
    cfg, n = section(tmp_path, server, "\toption preset 'wecom'\n\toption token 'not-the-key-0000000000'\n")
    with pytest.raises(notifysend.NotifyError, match="wecom refused .*HTTP 200.*93000 invalid webhook url"):
        send(cfg, n)


def test_discord_webhook_takes_content_and_answers_204(tmp_path, serve):
    fake = DiscordFake(DISCORD_TOKEN)
    server = serve(fake)
    url = "https://discord.com/api/webhooks/1180000000000000001/" + DISCORD_TOKEN
    cfg, n = section(tmp_path, server, "\toption preset 'discord'\n\toption url '%s'\n" % url)
    send(cfg, n)
    [req] = server.requests
    assert (req.method, req.route) == ("POST", "/api/webhooks/1180000000000000001/" + DISCORD_TOKEN)
    assert fake.messages == [("", "home.example.com A is now 203.0.113.7 (was 203.0.113.5)")]


def test_discord_invalid_token_is_an_error_without_the_url(tmp_path, serve):
    server = serve(DiscordFake(DISCORD_TOKEN))
    url = "https://discord.com/api/webhooks/1180000000000000001/WrongTokenWrongTokenWrongToken"
    cfg, n = section(tmp_path, server, "\toption preset 'discord'\n\toption url '%s'\n" % url)
    with pytest.raises(notifysend.NotifyError, match=r"discord refused .*401\): Invalid Webhook Token") as e:
        send(cfg, n)
    assert "WrongToken" not in str(e.value)


def test_slack_incoming_webhook_takes_text_and_answers_ok(tmp_path, serve):
    fake = SlackFake(SLACK_SECRET)
    server = serve(fake)
    url = "https://hooks.slack.com/services/T0EXAMPLE/B0EXAMPLE/" + SLACK_SECRET
    cfg, n = section(tmp_path, server, "\toption preset 'slack'\n\toption url '%s'\n" % url)
    send(cfg, n)
    assert server.requests[0].json() == {"text": "home.example.com A is now 203.0.113.7 (was 203.0.113.5)"}
    assert len(fake.messages) == 1


def test_slack_invalid_token_text_is_the_error(tmp_path, serve):
    server = serve(SlackFake(SLACK_SECRET))
    url = "https://hooks.slack.com/services/T0EXAMPLE/B0EXAMPLE/WrongWrongWrongWrongWrong"
    cfg, n = section(tmp_path, server, "\toption preset 'slack'\n\toption url '%s'\n" % url)
    with pytest.raises(notifysend.NotifyError, match=r"slack refused .*403\): invalid_token"):
        send(cfg, n)


def test_url_template_renders_placeholders_escaped_for_json_and_sends_the_headers(tmp_path, serve):
    fake = SlackFake(SLACK_SECRET)
    server = serve(fake)
    url = "https://hooks.example.net/services/T0EXAMPLE/B0EXAMPLE/" + SLACK_SECRET
    cfg, n = section(tmp_path, server, "\toption url '%s'\n"
                     "\toption body '{\"text\": \"{message} ({event})\"}'\n"
                     "\tlist header 'X-Record: {record}'\n" % url)
    send(cfg, n)
    [req] = server.requests
    assert req.headers["x-record"] == "home" and req.headers["content-type"] == "application/json"
    assert fake.messages == [("", "home.example.com A is now 203.0.113.7 (was 203.0.113.5) (change)")]


def test_heartbeat_posts_to_the_ping_url_or_its_fail_url(tmp_path, serve):
    fake = HealthchecksFake(HC_SECRET)
    server = serve(fake)
    cfg, n = section(tmp_path, server, "\toption ping_url 'https://hc-ping.com/%s'\n"
                     "\toption fail_url 'https://hc-ping.com/%s/fail'\n" % (HC_SECRET, HC_SECRET))
    notifysend.ping(n, {"event": "ping", "facts": {"DDNS_MESSAGE": "all records are right"}})
    notifysend.ping(n, {"event": "fail", "facts": {"DDNS_MESSAGE": "home.example.com A: HTTP 500"}})
    assert fake.pings == [("ok", "all records are right"), ("fail", "home.example.com A: HTTP 500")]


def test_a_provider_secret_in_an_error_never_reaches_the_notification(tmp_path, serve):
    fake = SlackFake(SLACK_SECRET)
    server = serve(fake)
    url = "https://hooks.slack.com/services/T0EXAMPLE/B0EXAMPLE/" + SLACK_SECRET
    cfg, n = section(tmp_path, server, "\toption preset 'slack'\n\toption url '%s'\n" % url)
    job = {"facts": facts(cfg, "failure", error="HTTP 403 for token=%s" % PROVIDER_TOKEN)}
    notifysend.http(n, job)
    assert PROVIDER_TOKEN not in server.requests[0].body.decode()
    assert "token=***" in fake.messages[0][1]


def test_heartbeat_to_an_unknown_check_is_an_error(tmp_path, serve):
    server = serve(HealthchecksFake(HC_SECRET))
    cfg, n = section(tmp_path, server, "\toption ping_url 'https://hc-ping.com/00000000-aaaa-bbbb-cccc-000000000000'\n")
    with pytest.raises(notifysend.NotifyError, match=r"refused the notification \(HTTP 404\): not found"):
        notifysend.ping(n, {"event": "ping", "facts": {"DDNS_MESSAGE": "all records are right"}})


def test_a_service_whose_certificate_is_not_trusted_gets_nothing(tmp_path, serve):
    fake = SlackFake(SLACK_SECRET)
    server = serve(fake)
    url = "https://hooks.slack.com/services/T0EXAMPLE/B0EXAMPLE/" + SLACK_SECRET
    cfg, n = section(tmp_path, server, "\toption preset 'slack'\n\toption url '%s'\n" % url)
    n.options.pop("cacert")  # the system's CAs do not know the test CA
    with pytest.raises(notifysend.NotifyError, match="slack: .*127.0.0.1.*certificate"):
        send(cfg, n)
    assert fake.messages == []
