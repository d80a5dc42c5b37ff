"""The layering rules of docs/ARCHITECTURE.md, checked on the source."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ROLES = ("contributor", "mpc_nodes", "analyst")


def _imports(package: str) -> set[str]:
    found: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
    return found


@pytest.mark.parametrize("role", ROLES)
def test_roles_import_only_protocol_not_each_other(role: str) -> None:
    tops = {name.split(".")[0] for name in _imports(role)}
    assert tops & (set(ROLES) - {role}) == set()


def test_protocol_imports_no_role_and_no_mpc_runtime() -> None:
    tops = {name.split(".")[0] for name in _imports("protocol")}
    assert tops & set(ROLES) == set() and "mpyc" not in tops


def test_only_the_party_program_imports_mpyc_runtime() -> None:
    importers = [p.relative_to(ROOT).as_posix() for pkg in ("protocol", *ROLES) for p in (ROOT / pkg).rglob("*.py")
                 if "mpyc.runtime" in p.read_text()]
    assert importers == ["mpc_nodes/mpc_program.py"]


def test_loading_every_cli_leaves_mpyc_runtime_unimported() -> None:
    code = ("import sys, contributor.cli, analyst.cli, mpc_nodes.cli, mpc_nodes.compute, mpc_nodes.server\n"
            "print('mpyc.runtime' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, "--no-such-flag"], capture_output=True, text=True, cwd=ROOT,
                         timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr


def test_the_compute_command_imports_neither_httpx_nor_the_mpc_program() -> None:
    """`mpc-node compute` is started on every node for every survey: importing httpx (a client
    for a handful of GETs) and the MPC program (run in its own process) cost a tenth of a
    second each time (docs/ARCHITECTURE.md, scale)."""
    code = ("import sys, mpc_nodes.cli, mpc_nodes.compute\n"
            "print(sorted(m for m in ('httpx', 'mpc_nodes.mpc_program', 'asyncio') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr
