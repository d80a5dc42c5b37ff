"""A survey with every node in its own Linux network namespace: no loopback between the nodes,
each node reached at its own address (scripts/wan_bench.py sets the namespaces up).

Needs root and iproute2 (``ip netns``); skipped, saying why, where they are missing.  The
relayed run puts every node behind scripts/wan_relay.py (latency and a rate limit), with the
manifest naming the relay's address and the node listening on its private one, as behind NAT.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import wan_bench  # noqa: E402
from demo.cluster import tool  # noqa: E402

pytestmark = pytest.mark.slow


def _require_netns() -> None:
    why = wan_bench.netns_usable()
    if why is not None:
        pytest.skip(f"network namespaces are not available here: {why}")


@pytest.mark.parametrize("spec", ["direct", "40@20"])
def test_survey_with_every_node_in_its_own_network_namespace(tmp_path: Path, spec: str) -> None:
    _require_netns()
    link = wan_bench.Link.parse(spec)
    with wan_bench.namespaces(3, relayed=link.kind == "relayed") as topo:
        for prefix in topo.node_prefix:  # nothing between the nodes can go over loopback
            lo = subprocess.run([*prefix, "ip", "-o", "link", "show", "lo"], capture_output=True, text=True).stdout
            assert "state DOWN" in lo and "LOOPBACK,UP" not in lo
        s = wan_bench.Survey(topo, link, tmp_path, size=60, seed=3)
        s.setup()
        try:
            started = s.start()
            for i, line in enumerate(started):  # each server says where it listens: its own address
                assert line.startswith(f"mpc-node serve: node{i} listening on https://{topo.private[i]}:8441 ")
                assert line.endswith(f"its URL in the manifest: https://{topo.public[i]}:8441")
            s.upload()
            status = subprocess.run([*topo.client_prefix, tool("salary-analyst"), "status", "--survey", str(s.survey)],
                                    capture_output=True, text=True, timeout=60)
            assert status.returncode == 0, status.stderr
            assert [ln.split(": ", 1)[1] for ln in status.stdout.splitlines()] == ["open, 60 submissions"] * 3
            s.compute()
            _, exact = s.results()
            assert exact, "the released figures differ from the plaintext oracle"
            for i in range(3):
                log = (tmp_path / f"compute{i}.log").read_text()
                assert "agreed on 60 submissions" in log and "Traceback" not in log
        finally:
            s.stop()
