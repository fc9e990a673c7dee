"""The state directory: only one of our own is used, and when it cannot be written the run says so.

Through the CLI, with the `log` provider (publishes nothing) and a stand-in netifd. Rule: the
directory must belong to the agent's user and be writable by no one else; a missing one is created
0700; an existing one is never chmod'ed. Unwritable state is exit 3, one line naming the file and
`agent.state_dir`, and no temp file left behind.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
from agent_env import REAL, AgentEnv
from test_cli import LOG_CONFIG

EXIT_STATE = 3


@pytest.fixture
def env(tmp_path):
    e = AgentEnv(tmp_path)
    e.config(LOG_CONFIG)
    e.interface("wan", REAL / "dhcp-public" / "status_wan_up.json")
    e.interface("lan", REAL / "dhcpv6-pd" / "status_lan_up.json")
    return e


def one_line_error(done, code: int, *words: str) -> str:
    """The run exited `code` with one error line holding `words`, and no traceback."""
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    [line] = [ln for ln in done.stderr.splitlines() if "error" in ln or ln.startswith("ddns-agent:")]
    for word in words:
        assert word in line, line
    return line


def leftovers(folder) -> list:
    return sorted(str(p) for p in folder.rglob("*.tmp"))


# -- a directory that is not ours ---------------------------------------------------------------

def test_a_world_writable_directory_is_refused_and_left_as_it_was(env):
    env.state.mkdir(mode=0o700)
    os.chmod(env.state, 0o1777)
    done = env.run("update")
    one_line_error(done, 2, "agent.state_dir", str(env.state), "writable by others (mode 1777)")
    assert stat.S_IMODE(env.state.stat().st_mode) == 0o1777
    assert list(env.state.iterdir()) == []


def test_a_directory_of_another_user_is_refused(env):
    env.state.mkdir(mode=0o700)
    os.chown(env.state, 65534, 65534)
    done = env.run("update")
    one_line_error(done, 2, "agent.state_dir", "belongs to uid 65534")
    assert list(env.state.iterdir()) == []


def test_our_directory_reached_through_a_symlink_is_used_without_a_chmod(env, tmp_path):
    real = tmp_path / "real-state"
    real.mkdir()
    os.chmod(real, 0o750)
    env.state.symlink_to(real)
    done = env.run("update")
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(real.stat().st_mode) == 0o750
    assert (real / "state.json").is_file()


def test_a_missing_directory_is_created_0700(env):
    done = env.run("update")
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(env.state.stat().st_mode) == 0o700
    assert stat.S_IMODE((env.state / "state.json").stat().st_mode) == 0o600


def test_symlinks_planted_at_temp_file_names_are_never_followed(env, tmp_path):
    # The temp names were "<file>.<pid>.tmp": whoever could write the directory (or guess in it)
    # pointed them at a root-owned file, and the agent overwrote that file.
    victim = tmp_path / "victim"
    victim.write_text("root's file\n")
    env.state.mkdir(mode=0o700)
    (env.state / "fp").mkdir(mode=0o700)
    argv = [sys.executable, "-m", "ddns_agent", "--config", str(env.conf), "--state-dir", str(env.state),
            "update"]
    # the shell execs the agent, so its pid is known before the agent starts
    proc = subprocess.Popen(["sh", "-c", 'read go; exec "$@"', "sh", *argv], env=env.env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for name in ("state.json", "quick", "next_check", "fp/wan", "fp/lan"):
        (env.state / ("%s.%d.tmp" % (name, proc.pid))).symlink_to(victim)
    out, err = proc.communicate("go\n", timeout=60)
    assert proc.returncode == 0, err
    assert victim.read_text() == "root's file\n"
    assert json.loads((env.state / "state.json").read_text())["records"]


def test_a_lock_that_is_a_symlink_is_refused(env, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("root's file\n")
    env.state.mkdir(mode=0o700)
    (env.state / "lock").symlink_to(victim)
    done = env.run("update")
    one_line_error(done, EXIT_STATE, "lock", "symbolic link", "agent.state_dir")
    assert victim.read_text() == "root's file\n"


# -- state that cannot be written --------------------------------------------------------------

@pytest.mark.parametrize("name", ["state.json", "lock"])
def test_a_state_file_replaced_by_a_directory_is_a_one_line_error(env, name):
    assert env.run("update").returncode == 0
    target = env.state / name
    target.unlink()
    target.mkdir()
    # a plain `update` with nothing changed is answered by the fast path, which needs no state
    for args in (("-v", "update"), ("status",), ("plan",)) if name == "state.json" else (("-v", "update"),):
        done = env.run(*args)
        one_line_error(done, EXIT_STATE, str(target), "directory", "agent.state_dir")
    assert leftovers(env.state) == []


def test_a_full_state_filesystem_is_a_one_line_error_and_nothing_is_sent(env, tmp_path):
    # tmpfs on a router is small; when it is full the run must say so, not crash half-way
    env.state.mkdir(mode=0o700)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(env.state)],
                             capture_output=True, text=True)
    if mounted.returncode:
        if os.environ.get("CI") == "true":
            pytest.fail("cannot mount a tmpfs: %s" % mounted.stderr)
        pytest.skip("cannot mount a tmpfs: %s" % mounted.stderr)
    try:
        filler = env.state / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        done = env.run("update")
        one_line_error(done, EXIT_STATE, "No space left on device", "agent.state_dir")
        assert ": published " not in done.stderr  # the intent could not be saved: nothing went out
        assert leftovers(env.state) == []

        filler.unlink()
        done = env.run("update")
        assert done.returncode == 0 and ": published " in done.stderr, done.stderr
    finally:
        subprocess.run(["umount", str(env.state)], check=True)


def test_a_state_directory_removed_during_the_run_is_a_one_line_error(serve, tmp_path):
    import shutil

    from test_faults import NEW, Lab, wait_for

    lab = Lab(serve, tmp_path)
    lab.publish_first()
    lab.server.inject(delay=2.0, path=lab.patch_path)  # the write lands, the answer comes late
    proc = lab.env.start("update")
    wait_for(lambda: any(r.method == "PATCH" for r in lab.server.requests[-1:]), 30)
    shutil.rmtree(lab.env.state)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_STATE, err
    assert "Traceback" not in err and "agent.state_dir" in err and "No such file" in err, err
    assert lab.content() == [NEW]


# -- wrong-typed fields ------------------------------------------------------------------------

BAD_STATE = {"records": {
    "home": {"config": 7, "address": 5, "id": ["x"], "time": "yesterday", "checked": float("inf"),
             "hold_until": [1], "next_check": 1e300, "failures": "many", "stopped": "yes",
             "result": {"a": 1}, "error": 3, "time_failed": True},
    "home6": "not an object",
}}


def test_wrong_typed_state_fields_are_ignored_with_a_notice(env):
    env.state.mkdir(mode=0o700)
    (env.state / "state.json").write_text(json.dumps(BAD_STATE))
    for args in (("status",), ("status", "--json"), ("plan",), ("plan", "--json")):
        done = env.run(*args)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        assert "record home: time has the wrong type; ignored" in done.stderr
    done = env.run("-v", "update")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "record home6: not an object; ignored" in done.stderr
    assert "home.example.com A: published " in done.stderr
    records = env.saved()
    assert records["home"]["address"] and records["home"]["failures"] == 0
    assert env.run("status").returncode == 0


@pytest.mark.parametrize("text", ["[1, 2]", "{\"records\": []}", "not json", ""])
def test_a_state_file_that_is_not_state_starts_afresh_with_a_notice(env, text):
    env.state.mkdir(mode=0o700)
    (env.state / "state.json").write_text(text)
    done = env.run("update")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    if text:
        assert "is not agent state; starting afresh" in done.stderr
    assert env.saved()["home"]["result"] == "published"


def test_an_upgrade_keeps_each_record_s_state_the_config_digest_is_stable():
    # state.json keys each record's entry to this digest; a new value after an upgrade would drop
    # every record's id, `since` and any stop, and send one request per record to find them again
    from ddns_agent.config import ProviderConfig, RecordConfig
    from ddns_agent.secret import Secret
    from ddns_agent.state import config_hash

    home = RecordConfig("home", "cf", "example.com", "home", "AAAA", interface="wan6", ttl=300,
                        options={"proxied": "0"})
    plain = RecordConfig("plain", "cf", "example.com")
    cf = ProviderConfig("cf", "cloudflare", {"api_token": Secret("tok-123"), "zone_id": "abc"})
    log = ProviderConfig("lg", "log", {})
    digests = [config_hash(home, cf), config_hash(plain, cf), config_hash(plain, log), config_hash(home, log)]
    assert digests == [
        "9042df9551db796b", "183f10e3b43fb8e1", "f5b0b2db92e4ce48", "ad69094a1ab2f45f"]
    cf.options["api_token"] = Secret("tok-124")  # a new token lifts a `badauth` stop
    assert config_hash(plain, cf) != "183f10e3b43fb8e1"
