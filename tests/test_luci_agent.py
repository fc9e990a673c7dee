"""What the LuCI page needs from the agent itself: the registry as JSON, and secret files in one directory."""

from __future__ import annotations

import json
import os

from agent_env import AgentEnv

from ddns_agent.providers import COMMON_OPTIONS, REGISTRY

TOKEN = "luci-secret-dir-Tk-5521"
CONFIG = """config provider 'hook'
	option type 'webhook'
	option url 'https://192.0.2.80/update?ip={ip}&t={token}'
	option token_file '%s'

config record 'home'
	option provider 'hook'
	option domain 'example.com'
	option name 'home'
	option interface 'wan'
"""


def test_providers_json_lists_every_type_with_its_options_and_secrets(tmp_path):
    done = AgentEnv(tmp_path).run("providers", "--json")

    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert sorted(data["types"]) == sorted(REGISTRY)
    assert data["common"] == [o for o in COMMON_OPTIONS if o != "type"]
    cf = data["types"]["cloudflare"]
    assert (cf["required"], cf["optional"], cf["secrets"], cf["record_options"]) == \
        (["api_token"], ["zone_id"], ["api_token"], ["proxied"])
    assert data["types"]["duckdns"]["update_only"] is True
    assert data["types"]["rfc2136"]["package"] == "ddns-agent-rfc2136"
    assert data["record"] == {"ttl": [1, 86400], "types": ["A", "AAAA"]}


def _env(tmp_path, secret_dir):
    env = AgentEnv(tmp_path)
    env.env["DDNS_AGENT_SECRET_DIR"] = str(secret_dir)
    return env


def test_a_secret_file_outside_the_secret_directory_is_refused_naming_the_option(tmp_path):
    outside = tmp_path / "shadow"
    outside.write_text(TOKEN + "\n")
    outside.chmod(0o600)
    env = _env(tmp_path, tmp_path / "secrets")
    env.config(CONFIG % outside)

    done = env.run("check")

    assert done.returncode == 2
    assert "hook.token_file: %r is outside %s" % (str(outside), tmp_path / "secrets") in done.stderr
    assert "Traceback" not in done.stderr


def test_a_symlink_in_the_secret_directory_pointing_out_is_refused(tmp_path):
    (tmp_path / "secrets").mkdir()
    outside = tmp_path / "shadow"
    outside.write_text(TOKEN + "\n")
    os.symlink(outside, tmp_path / "secrets" / "hook.token")
    env = _env(tmp_path, tmp_path / "secrets")
    env.config(CONFIG % (tmp_path / "secrets" / "hook.token"))

    done = env.run("check")

    assert done.returncode == 2
    assert "is outside" in done.stderr


def test_a_secret_file_inside_the_secret_directory_is_used(tmp_path):
    (tmp_path / "secrets").mkdir()
    inside = tmp_path / "secrets" / "hook.token"
    inside.write_text(TOKEN + "\n")
    inside.chmod(0o600)
    env = _env(tmp_path, tmp_path / "secrets")
    env.config(CONFIG % inside)

    done = env.run("check")

    assert done.returncode == 0, done.stderr
