"""The README's commands and config examples are what the agent accepts."""

from __future__ import annotations

import re
import subprocess
import sys

from agent_env import REPO

README = (REPO / "README.md").read_text()


def blocks() -> list:
    return re.findall(r"```[a-z]*\n(.*?)```", README, re.S)


def test_readme_starts_with_the_two_commands():
    first = blocks()[0].strip().splitlines()
    assert first[0].startswith("sudo apt-get install -y make python3-venv && make run")
    assert first[1].startswith("sudo make test")
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci


def test_every_config_example_passes_check(tmp_path):
    examples = [b for b in blocks() if re.search(r"^config (provider|record)", b, re.M)]
    assert examples
    text = "\n".join(examples)

    def secret_file(match):
        path = tmp_path / match.group(1).replace("/", "_")
        path.write_text("c2VjcmV0LXZhbHVl\n")  # base64 too, for the TSIG key
        path.chmod(0o600)
        return str(path)

    text = re.sub(r"(/etc/ddns_agent/[\w.-]+)", secret_file, text)
    providers = re.findall(r"^config provider '(\w+)'", text, re.M)
    records = set(re.findall(r"^config record '(\w+)'", text, re.M))
    for name in providers:  # one record per provider, so each is also checked against a record
        if name == "duck":
            text += "\nconfig record 'r_%s'\n\toption provider '%s'\n\toption domain 'duckdns.org'\n" \
                    "\toption name 'myhome'\n\toption interface 'wan'\n" % (name, name)
        else:
            text += "\nconfig record 'r_%s'\n\toption provider '%s'\n\toption domain 'example.net'\n" \
                    "\toption name 'r%s'\n\toption interface 'wan'\n" % (name, name, name)
    assert records
    conf = tmp_path / "readme.conf"
    conf.write_text(text)
    out = subprocess.run([sys.executable, "-m", "ddns_agent", "--config", str(conf), "check"],
                         capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr


def test_providers_listed_in_readme_are_all_registered():
    from ddns_agent.providers import REGISTRY

    for name in REGISTRY:
        assert "type '%s'" % name in README, name
