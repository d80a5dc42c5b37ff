"""``mpc-node``: the node operator's command (thin click layer over mpc_nodes.*)."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from protocol.errors import SurveyError
from protocol.wire import SurveyState

from . import keys
from .party_job import Cheat

NODE_DIR = click.option("--dir", "node_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
                        help="The node's directory (keys, database).")


#: What a command reports as one line instead of a traceback: the project's errors, and SQLite's
#: for a database damaged in a part that is read only after it was opened.
ERRORS = (SurveyError, sqlite3.DatabaseError)


def _fail(exc: Exception) -> NoReturn:
    if isinstance(exc, sqlite3.DatabaseError):
        exc = SurveyError(f"the node database cannot be read, it is damaged ({' '.join(str(exc).split())})")
    click.echo(f"mpc-node: error: {exc}", err=True)
    sys.exit(1)


def _store(node_dir: Path) -> Any:
    """The node's store, once its directory's key files were found readable."""
    from .store import NodeStore

    if not (node_dir / keys.PUBLIC_FILE).exists():
        raise SurveyError(f"{node_dir} is not a node directory (run 'mpc-node keygen' first)")
    _check_key_files(node_dir)
    return NodeStore(node_dir / keys.DB_FILE)


def _check_key_files(node_dir: Path) -> None:
    """Raise :class:`SurveyError` naming the first of the node's key files that is missing or
    damaged (the TLS ones are otherwise read deep inside the TLS library or a signature)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    keys.load_public(node_dir)
    keys.load_hpke_private(node_dir)
    for name, load in ((keys.TLS_KEY_FILE, lambda b: load_pem_private_key(b, None)),
                       (keys.TLS_CERT_FILE, x509.load_pem_x509_certificate)):
        try:
            load((node_dir / name).read_bytes())
        except (OSError, ValueError, TypeError):
            raise SurveyError(f"cannot read the node's {name} in {node_dir} (missing or damaged)") from None


def _one_survey(store: Any, survey_id: str | None) -> str:
    ids = store.survey_ids()
    if survey_id:
        return survey_id
    if len(ids) == 1:
        return str(ids[0])
    if not ids:
        raise SurveyError("this node has no survey yet (run 'mpc-node init --bundle node-bundle.json')")
    raise SurveyError(f"this node holds several surveys; choose one with --survey ({', '.join(ids)})")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), envvar="MPC_NODE_CONFIG",
              help="The node's configuration file (TOML: dir, [serve], [compute]); flags given here win over it. "
                   "Also from MPC_NODE_CONFIG.")
@click.pass_context
def main(ctx: click.Context, config_file: Path | None) -> None:
    """Run one MPC node of a salary survey.

    \b
    Typical life of a node:
      mpc-node keygen  --dir node0 --name node0 --url https://node0.example.org:8441 \\
                       --mpc-address node0.example.org:11365
      (send node0/node.json to the organiser; receive node-bundle.json)
      mpc-node init    --dir node0 --bundle node-bundle.json
      mpc-node serve   --dir node0                 # HTTPS ingest where the URL says, until the survey closes
      mpc-node compute --dir node0                 # after closing, on every node at about the same time
      mpc-node status  --dir node0
      mpc-node purge   --dir node0                 # after the analyst fetched the result
    With a configuration file (docs/DEPLOYMENT.md), e.g. dir = "node0":
      mpc-node --config node.toml serve
    """
    if config_file is not None:
        from .config import NodeConfig

        try:
            ctx.default_map = NodeConfig.load(config_file).defaults()
        except SurveyError as exc:
            _fail(exc)


@main.command()
@NODE_DIR
@click.option("--name", required=True, help="A short name for this node, e.g. 'node0' or your organisation.")
@click.option("--url", required=True, help="Public HTTPS base URL of this node's ingest API, https://HOST:PORT.")
@click.option("--mpc-address", required=True, help="HOST:PORT where this node's MPC party listens for peers.")
@click.option("--web-url", default="", metavar="URL",
              help="HTTPS base URL browsers use for this node: a TLS-terminating proxy with a browser-trusted "
                   "certificate in front of its page and upload endpoints (default: --url).")
def keygen(node_dir: Path, name: str, url: str, mpc_address: str, web_url: str) -> None:
    """Create the node's HPKE key pair and TLS certificate in --dir.

    Writes node.json (public: send it to the organiser) and private keys (mode 0600).
    """
    try:
        info = keys.keygen(node_dir, name, url, mpc_address, web_url)
    except ERRORS as exc:
        _fail(exc)
    click.echo(f"node {info.name}: keys written to {node_dir}; send {node_dir / keys.PUBLIC_FILE} to the organiser")
    click.echo(f"  TLS certificate SHA-256: {info.tls_cert_sha256}")


@main.command()
@NODE_DIR
@click.option("--bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="node-bundle.json from the organiser (manifest, token hashes).")
def init(node_dir: Path, bundle: Path) -> None:
    """Import a survey from the organiser's bundle (checks that the manifest lists this node's keys,
    and that the browser page it carries, if any, is the one the manifest pins)."""
    from .webpage import bundled_page, keep_page

    try:
        pub = keys.load_public(node_dir)
        try:
            data = json.loads(bundle.read_text())
        except ValueError:
            raise SurveyError(f"{bundle} is not valid JSON") from None
        page = bundled_page(data)
        m = _store(node_dir).import_survey(data, pub.hpke_public_key, pub.tls_cert_sha256)
        if page is not None:
            keep_page(node_dir, m.survey_id, page)
    except ERRORS as exc:
        _fail(exc)
    click.echo(f"survey {m.survey_id} imported (manifest {m.hash_hex()[:16]}…, closes {m.closes_at})")
    if page is not None:
        me = next(nd for nd in m.nodes if nd.hpke_public_key == pub.hpke_public_key)
        click.echo(f"  browser page kept (salary-page.js SHA-256 {m.web_page_sha256}); 'serve' serves it at "
                   f"{me.browser_url}/v1/surveys/{m.survey_id}/page/")


@main.command()
@NODE_DIR
@click.option("--host", help="Address to listen on (default: the host of this node's URL; e.g. 0.0.0.0 or a "
                              "private address behind a reverse proxy or NAT).")
@click.option("--port", type=int, help="Port (default: the one in this node's URL).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Server processes sharing the port; use the number of cores for heavy bulk uploads "
                   "(each acknowledgement still follows its own durable commit).")
def serve(node_dir: Path, host: str, port: int | None, workers: int) -> None:
    """Serve the HTTPS API until interrupted; prints where it listens and the surveys it serves."""
    from .server import run_server

    try:
        _store(node_dir).close()
        run_server(node_dir, host, port, workers=workers, say=click.echo)
    except ERRORS as exc:
        _fail(exc)


@main.command()
@NODE_DIR
@click.option("--survey", "survey_id", help="Survey id (needed only when the node holds several).")
@click.option("--stall-timeout", "--timeout", "stall_timeout", type=click.FloatRange(min=0, min_open=True),
              default=120.0, show_default=True,
              help="Seconds another node may stay away or send nothing before compute fails naming it; the whole "
                   "run may take longer.")
@click.option("--mpc-listen", help="Address the MPC port listens on (default: the host of this node's MPC "
                                   "address; e.g. 0.0.0.0 or a private address behind NAT).")
@click.option("--cheat", type=click.Choice([c.value for c in Cheat]), hidden=True,
              help="TESTING ONLY: make this node deviate at one step, to show the others catch it.")
def compute(node_dir: Path, survey_id: str | None, stall_timeout: float, mpc_listen: str | None,
            cheat: str | None) -> None:
    """Agree on the submission set with the other nodes and run the MPC (after closing).

    Start it on every node; each waits for the others.  A node that stays away or silent for
    --stall-timeout, or that the others catch deviating, is left out and the others rerun without
    it when there are enough nodes (at most n - 2t - 1 left out: one of 4); otherwise compute fails
    naming it.  The result stays sealed to the analyst; this node never sees it.
    """
    from .compute import ComputeOptions, compute as run

    try:
        store = _store(node_dir)
        sid = _one_survey(store, survey_id)
        store.close()
        options = ComputeOptions(stall_timeout, mpc_listen, Cheat(cheat) if cheat else None)
        summary = run(node_dir, sid, options, say=lambda s: click.echo(s, err=True))
    except ERRORS as exc:
        _fail(exc)
    verb = "completed the commit of its result share" if summary.resumed else "computed its result share"
    click.echo(f"survey {summary.survey_id}: node {summary.node_index} {verb} over "
               f"{summary.accepted} submissions ({summary.rejected} not counted) in {summary.seconds:.2f} s")
    if summary.excluded:
        click.echo(f"the result was computed without node(s) {', '.join(map(str, summary.excluded))}"
                   + (f"; named for a deviation: node(s) {', '.join(map(str, summary.named))}" if summary.named
                      else ""))
    if summary.set_aside:
        click.echo(f"{summary.set_aside} of the submissions not counted were set aside: their validation shares "
                   "were off the polynomial (see above); the analyst's result says so")


@main.command()
@NODE_DIR
@click.option("--survey", "survey_id", help="Survey id (default: all).")
@click.option("--peers/--no-peers", default=True, show_default=True,
              help="Ask the other nodes which of this node's submissions they lack (incomplete ones).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(node_dir: Path, survey_id: str | None, peers: bool, as_json: bool) -> None:
    """Show the node's surveys: state, submissions stored, incomplete submissions, closing time.

    A submission counts only if every node holds it; "incomplete" are those held here but not
    (yet) at some other node — the contributor's 'salary-submit --resume' completes them.
    """
    from .agreement import incomplete_submissions

    try:
        store = _store(node_dir)
        rows: list[dict[str, Any]] = []
        for sid in [survey_id] if survey_id else store.survey_ids():
            rec = store.survey(sid)
            rows.append({"survey_id": sid, "node_index": rec.node_index, "state": store.state(sid),
                         "submissions": store.count(sid), "closes_at": rec.manifest.closes_at})
        store.close()
        if peers:
            for r in rows:
                if r["state"] in (SurveyState.OPEN, SurveyState.CLOSED):
                    r.update(incomplete_submissions(node_dir, r["survey_id"]))
    except ERRORS as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no survey imported yet")
    for r in rows:
        click.echo(f"{r['survey_id']}: node {r['node_index']}, {r['state']}, {r['submissions']} submissions, "
                   f"closes {r['closes_at']}")
        for j, n_missing in sorted(r.get("missing_at", {}).items()):
            note = "complete" if n_missing == 0 else f"{n_missing} incomplete (not held by node {j} yet)"
            click.echo(f"  vs node {j}: {note}")
        for j, why in sorted(r.get("unreachable", {}).items()):
            click.echo(f"  vs node {j}: cannot tell ({why})")


@main.command()
@NODE_DIR
@click.option("--survey", "survey_id", help="Survey id (needed only when the node holds several).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def purge(node_dir: Path, survey_id: str | None, yes: bool) -> None:
    """Delete the stored shares of a computed survey (the audit log stays)."""
    try:
        store = _store(node_dir)
        sid = _one_survey(store, survey_id)
        if not yes:
            click.confirm(f"Delete every stored share of survey {sid}?", abort=True)
        n = store.purge(sid)
    except ERRORS as exc:
        _fail(exc)
    click.echo(f"survey {sid}: {n} shares deleted; the audit log is kept")


def _check_anchors(node_dir: Path, store: Any) -> list[str]:
    """This node's log against the signed heads of it that its peers kept, per computed survey."""
    from .anchors import check_against_peers
    from .compute import fetch_compute_state
    from .peers import Peers

    lines = []
    for sid in store.survey_ids():
        if not store.anchors(sid):
            continue  # not computed here: no head was signed
        rec = store.survey(sid)
        peers = Peers(node_dir, rec.manifest, rec.node_index)
        try:
            lines += [f"survey {sid}: checked against {said}" for said in
                      check_against_peers(store, peers, fetch_compute_state)]
        finally:
            peers.close()
    return lines


@main.command()
@NODE_DIR
@click.option("--verify", is_flag=True, help="Check the hash chain, and the log against the signed heads of it the "
                                            "other nodes kept when a survey was computed; report the first problem.")
def audit(node_dir: Path, verify: bool) -> None:
    """Print the node's audit log (never a share or a token)."""
    try:
        store = _store(node_dir)
        if verify:
            n = store.verify_audit()
            rows = store.audit_rows()
            head = rows[-1][6] if rows else "-"
            for line in _check_anchors(node_dir, store):
                click.echo(line)
            click.echo(f"audit log intact: {n} lines, hash chain verified; head {head}")
            click.echo("(the other nodes keep the head this node signed when it computed each survey; lines after "
                       "the last one are protected only by recording the head above elsewhere)")
            return
        for seq, at, sid, event, details, _prev, _h in store.audit_rows():
            click.echo(f"{seq:6d} {at} {sid or '-'} {event} {details}")
    except ERRORS as exc:
        _fail(exc)
