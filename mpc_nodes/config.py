"""The node's configuration file (TOML): the flags of ``mpc-node``'s commands, written once.

::

    # /etc/salary-mpc/node.toml
    dir = "/var/lib/salary-mpc/node0"   # the node directory (relative: to this file's directory)

    [serve]
    host = "10.0.0.5"        # the address to listen on (default: the host of the node's URL)
    port = 8441              # default: the port of the node's URL
    workers = 2

    [compute]
    stall_timeout = 120      # seconds a peer may stay away or silent before compute fails
    mpc_listen = "10.0.0.5"  # the address the MPC port binds (default: the host of its MPC address)

``mpc-node --config FILE COMMAND`` (or ``MPC_NODE_CONFIG=FILE``) reads it; a flag given on the
command line wins over the file.  It holds no secret: the node's private keys are files in the
node directory (mode 0600) and never pass through flags, the file or the environment.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from protocol.errors import SurveyError

T = TypeVar("T")

#: the commands that work on a node directory (``dir`` applies to each)
DIR_COMMANDS = ("keygen", "init", "serve", "compute", "status", "purge", "audit")


@dataclass(frozen=True)
class ServeConfig:
    host: str | None = None
    port: int | None = None
    workers: int | None = None


@dataclass(frozen=True)
class ComputeConfig:
    stall_timeout: float | None = None
    mpc_listen: str | None = None
    survey: str | None = None


@dataclass(frozen=True)
class NodeConfig:
    """A parsed configuration file; None stands for "not set" (the command's own default)."""

    dir: Path | None = None
    serve: ServeConfig = field(default_factory=ServeConfig)
    compute: ComputeConfig = field(default_factory=ComputeConfig)

    @staticmethod
    def parse(text: str, where: Path) -> NodeConfig:
        """Parse the file's text (``where``: its path, for messages and relative paths); raises
        :class:`SurveyError` naming the first unknown key or wrong value."""
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SurveyError(f"{where}: not valid TOML ({exc})") from None
        _only(doc, {"dir", "serve", "compute"}, str(where))
        serve, comp = _table(doc, "serve", where), _table(doc, "compute", where)
        _only(serve, {"host", "port", "workers"}, f"{where} [serve]")
        _only(comp, {"stall_timeout", "mpc_listen", "survey"}, f"{where} [compute]")
        raw_dir = _get(doc, "dir", str, str(where))
        workers, port = _get(serve, "workers", int, f"{where} [serve]"), _get(serve, "port", int, f"{where} [serve]")
        stall = _get(comp, "stall_timeout", (int, float), f"{where} [compute]")
        if workers is not None and workers < 1 or port is not None and not 0 < port < 65536 \
                or stall is not None and stall <= 0:
            raise SurveyError(f"{where}: workers must be at least 1, port between 1 and 65535, stall_timeout positive")
        return NodeConfig(
            None if raw_dir is None else (where.parent / Path(raw_dir).expanduser()),
            ServeConfig(_get(serve, "host", str, f"{where} [serve]"), port, workers),
            ComputeConfig(None if stall is None else float(stall), _get(comp, "mpc_listen", str, f"{where} [compute]"),
                          _get(comp, "survey", str, f"{where} [compute]")))

    @staticmethod
    def load(path: Path) -> NodeConfig:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SurveyError(f"cannot read the configuration file {path}: {exc.strerror or exc}") from None
        return NodeConfig.parse(text, path)

    def defaults(self) -> dict[str, dict[str, Any]]:
        """Default values for each command's options (click's ``default_map``), set keys only."""
        out: dict[str, dict[str, Any]] = {cmd: {} for cmd in DIR_COMMANDS}
        if self.dir is not None:
            for cmd in DIR_COMMANDS:
                out[cmd]["node_dir"] = self.dir
        for key, val in vars(self.serve).items():
            if val is not None:
                out["serve"][key] = val
        for key, val in (("stall_timeout", self.compute.stall_timeout), ("mpc_listen", self.compute.mpc_listen),
                         ("survey_id", self.compute.survey)):
            if val is not None:
                out["compute"][key] = val
        return out


def _only(table: dict[str, Any], keys: set[str], what: str) -> None:
    unknown = sorted(set(table) - keys)
    if unknown:
        raise SurveyError(f"{what}: unknown key {unknown[0]!r} (known: {', '.join(sorted(keys))})")


def _table(doc: dict[str, Any], key: str, where: Path) -> dict[str, Any]:
    val = doc.get(key, {})
    if not isinstance(val, dict):
        raise SurveyError(f"{where}: {key!r} must be a table ([{key}])")
    return val


def _get(table: dict[str, Any], key: str, typ: type | tuple[type, ...], what: str) -> Any:
    val = table.get(key)
    if val is None:
        return None
    if not isinstance(val, typ) or isinstance(val, bool):
        names = " or ".join(t.__name__ for t in (typ if isinstance(typ, tuple) else (typ,)))
        raise SurveyError(f"{what}: {key!r} must be a {names}, not {type(val).__name__}")
    return val
