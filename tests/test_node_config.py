"""The operator's side of a node on its own host: the configuration file, where ``serve`` listens
and what it says when it starts."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import make_survey
from demo.cluster import free_ports, tool
from mpc_nodes import cli
from mpc_nodes.config import NodeConfig
from mpc_nodes.keys import keygen
from mpc_nodes.server import listen_address, startup_lines
from protocol.errors import SurveyError

EXAMPLE = """
dir = "node0"

[serve]
host = "10.0.0.5"
port = 8441
workers = 2

[compute]
stall_timeout = 90
mpc_listen = "0.0.0.0"
"""


def test_config_file_parses_into_each_commands_defaults(tmp_path: Path) -> None:
    cfg = NodeConfig.parse(EXAMPLE, tmp_path / "etc" / "node.toml")
    assert cfg.dir == tmp_path / "etc" / "node0"  # relative to the file's directory
    d = cfg.defaults()
    assert d["serve"] == {"node_dir": cfg.dir, "host": "10.0.0.5", "port": 8441, "workers": 2}
    assert d["compute"] == {"node_dir": cfg.dir, "stall_timeout": 90.0, "mpc_listen": "0.0.0.0"}
    assert d["status"] == d["audit"] == {"node_dir": cfg.dir}
    assert NodeConfig.parse("", tmp_path / "empty.toml").defaults()["serve"] == {}


@pytest.mark.parametrize("text,needle", [
    ("dri = 'x'", "unknown key 'dri'"),
    ("[serve]\nhots = 'x'", r"\[serve\]: unknown key 'hots'"),
    ("[serve]\nport = '8441'", "'port' must be a int, not str"),
    ("[compute]\nstall_timeout = true", "'stall_timeout' must be a int or float, not bool"),
    ("[serve]\nworkers = 0", "workers must be at least 1"),
    ("[compute]\nstall_timeout = -1", "stall_timeout positive"),
    ("serve = 3", "'serve' must be a table"),
    ("dir = ", "not valid TOML"),
])
def test_config_file_mistakes_are_one_line_errors(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(SurveyError, match=needle):
        NodeConfig.parse(text, tmp_path / "node.toml")


def _imported(tmp_path: Path) -> Path:
    s = make_survey(tmp_path)
    d = s.node_dirs[0]
    assert CliRunner().invoke(cli.main, ["init", "--dir", str(d), "--bundle", str(s.dir / "node-bundle.json")]
                              ).exit_code == 0
    return d


def test_commands_take_the_node_directory_from_the_file_and_flags_win(tmp_path: Path) -> None:
    d = _imported(tmp_path)
    cfg = tmp_path / "node.toml"
    cfg.write_text(f'dir = "{d.name}"\n')
    runner = CliRunner()
    out = runner.invoke(cli.main, ["--config", str(cfg), "status", "--no-peers", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)[0]["survey_id"] == "test-survey"
    out = runner.invoke(cli.main, ["status", "--no-peers", "--json"], env={"MPC_NODE_CONFIG": str(cfg)})
    assert out.exit_code == 0 and json.loads(out.output)[0]["state"] == "open"
    empty = tmp_path / "empty"
    empty.mkdir()
    out = runner.invoke(cli.main, ["--config", str(cfg), "status", "--dir", str(empty)])
    assert out.exit_code == 1 and f"{empty} is not a node directory" in out.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[serve]\nprot = 1\n")
    out = runner.invoke(cli.main, ["--config", str(bad), "status"])
    assert out.exit_code == 1 and out.output.strip().splitlines()[-1] == (
        f"mpc-node: error: {bad} [serve]: unknown key 'prot' (known: host, port, workers)")


def test_compute_options_come_from_the_file_unless_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mpc_nodes import compute

    d = _imported(tmp_path)
    seen: list[Any] = []

    def fake(node_dir: Path, sid: str, options: Any, say: Any) -> Any:
        seen.append(options)
        raise SurveyError("stop here")

    monkeypatch.setattr(compute, "compute", fake)
    cfg = tmp_path / "node.toml"
    cfg.write_text(f'dir = "{d}"\n[compute]\nstall_timeout = 300\nmpc_listen = "10.1.1.1"\n')
    runner = CliRunner()
    runner.invoke(cli.main, ["--config", str(cfg), "compute"])
    runner.invoke(cli.main, ["--config", str(cfg), "compute", "--stall-timeout", "30", "--mpc-listen", "0.0.0.0"])
    runner.invoke(cli.main, ["compute", "--dir", str(d), "--timeout", "7"])  # the older name of the flag
    assert [(o.stall_timeout, o.mpc_listen) for o in seen] == [(300.0, "10.1.1.1"), (30.0, "0.0.0.0"), (7.0, None)]


def test_serve_listens_where_the_url_says_unless_told(tmp_path: Path) -> None:
    keygen(tmp_path / "n", "n", "https://10.20.30.40:8441", "10.20.30.40:11365")
    assert listen_address(tmp_path / "n") == ("10.20.30.40", 8441)
    assert listen_address(tmp_path / "n", "0.0.0.0", 9000) == ("0.0.0.0", 9000)
    keygen(tmp_path / "v6", "v6", "https://[2001:db8::7]:8441", "[2001:db8::7]:11365")
    assert listen_address(tmp_path / "v6") == ("2001:db8::7", 8441)


def test_startup_lines_name_the_address_and_every_survey_with_its_state(tmp_path: Path) -> None:
    d = _imported(tmp_path)
    lines = startup_lines(d, "127.0.0.1", 8441, 2)
    assert lines[0].startswith("mpc-node serve: node0 listening on https://127.0.0.1:8441 (2 workers); its URL in "
                               "the manifest: https://127.0.0.1:")
    assert lines[1].startswith("  survey test-survey: node 0 of 3, open, 0 submissions, closes ")


@pytest.mark.slow
def test_serve_process_listens_on_its_urls_address_only_and_says_so(tmp_path: Path) -> None:
    """A node whose URL names 127.0.0.2 listens there (not on 127.0.0.1, not on every interface)."""
    port, mpc = free_ports(2)
    keygen(tmp_path / "n", "edge", f"https://127.0.0.2:{port}", f"127.0.0.2:{mpc}")
    proc = subprocess.Popen([tool("mpc-node"), "serve", "--dir", str(tmp_path / "n")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith(f"mpc-node serve: edge listening on https://127.0.0.2:{port} (1 worker)"), first
        assert "no survey imported yet" in proc.stdout.readline()
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.2", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "serve does not listen on its URL's address"
                time.sleep(0.1)
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
