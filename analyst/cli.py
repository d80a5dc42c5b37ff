"""``salary-analyst``: the organiser/analyst's command (thin click layer over analyst.*)."""

from __future__ import annotations

import datetime as dt
import re
import sys
from pathlib import Path
from typing import NoReturn

import click

from protocol.errors import SurveyError
from protocol.manifest import MODELS, parse_time
from protocol.wire import error_detail

from .results import build_report, fetch_result_shares, format_table, node_request, report_json
from .survey import BUNDLE_FILE, MANIFEST_FILE, TOKENS_FILE, create_survey, load_analyst_secret, load_node_info

SURVEY_DIR = click.option("--survey", "survey_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
                          help="The survey directory written by 'salary-analyst create'.")


def _fail(exc: SurveyError) -> NoReturn:
    click.echo(f"salary-analyst: error: {exc}", err=True)
    sys.exit(1)


def _closing(closes_at: str | None, closes_in: str) -> dt.datetime:
    if closes_at:
        return parse_time(closes_at)
    m = re.fullmatch(r"(\d+)([smhd])", closes_in.strip())
    if not m:
        raise SurveyError("--closes-in takes a number and a unit s, m, h or d, e.g. 14d")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(**{unit: int(m.group(1))})


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Create a salary survey, close it, and fetch the aggregate result.

    \b
    Typical life of a survey:
      salary-analyst create --out survey --survey-id acme-2026 --tokens 500 \\
          --node node0/node.json --node node1/node.json --node node2/node.json
      (send survey/node-bundle.json to every node operator, one token from
       survey/tokens.txt to each employee, survey/manifest.json to everyone)
      salary-analyst status  --survey survey
      salary-analyst close   --survey survey      # or wait for the closing time
      (node operators run 'mpc-node compute')
      salary-analyst results --survey survey --format json --out result.json
    """


@main.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="New directory for the survey's files.")
@click.option("--node", "node_files", type=click.Path(exists=True, dir_okay=False, path_type=Path), multiple=True,
              required=True, help="A node's node.json from 'mpc-node keygen'; repeat, in node order (at least 3).")
@click.option("--survey-id", required=True, help="Short id, letters/digits/.-_ (e.g. acme-2026).")
@click.option("--title", default="Salary survey", show_default=True)
@click.option("--model", type=click.Choice(MODELS), default="semi-honest", show_default=True,
              help="Threat model for the nodes.")
@click.option("--threshold", "-t", type=int, help="Collusion threshold t (1 <= t, 2t < n). Default (n-1)//2.")
@click.option("--tokens", type=int, default=100, show_default=True, help="Number of participation tokens to issue.")
@click.option("--closes-at", help="Closing time, ISO 8601 with zone, e.g. 2026-12-31T23:59:59Z.")
@click.option("--closes-in", default="14d", show_default=True, help="Closing time from now, e.g. 90m, 48h, 14d.")
@click.option("--salary-max", type=int, default=1_000_000, show_default=True, help="Upper bound for a salary.")
@click.option("--unit", "salary_unit", default="EUR/month", show_default=True, help="Salary unit shown to everyone.")
@click.option("--min-group-size", "-k", type=int, default=5, show_default=True,
              help="Groups with fewer submissions get no salary figure.")
def create(out_dir: Path, node_files: tuple[Path, ...], survey_id: str, title: str, model: str,
           threshold: int | None, tokens: int, closes_at: str | None, closes_in: str, salary_max: int,
           salary_unit: str, min_group_size: int) -> None:
    """Create a survey: manifest, participation tokens, node bundle and the analyst's secret key."""
    try:
        nodes = [load_node_info(f) for f in node_files]
        m = create_survey(out_dir, nodes, survey_id=survey_id, title=title, model=model, threshold=threshold,
                          tokens=tokens, closes_at=_closing(closes_at, closes_in), salary_max=salary_max,
                          salary_unit=salary_unit, min_group_size=min_group_size)
    except SurveyError as exc:
        _fail(exc)
    click.echo(f"survey {m.survey_id}: n={m.n} nodes, t={m.threshold}, k={m.min_group_size}, closes {m.closes_at}")
    click.echo(f"  manifest hash {m.hash_hex()}")
    click.echo(f"  {out_dir / MANIFEST_FILE}: public, for employees and nodes")
    click.echo(f"  {out_dir / BUNDLE_FILE}: for every node operator ('mpc-node init --bundle ...')")
    click.echo(f"  {out_dir / TOKENS_FILE}: {tokens} tokens, one per employee (secret)")


@main.command()
@SURVEY_DIR
def status(survey_dir: Path) -> None:
    """Show every node's state and submission count."""
    try:
        manifest, _, _ = load_analyst_secret(survey_dir)
        for j, node in enumerate(manifest.nodes):
            try:
                r = node_request(manifest, j, "GET", "status", retries=1)
                if r.status_code == 200:
                    d = r.json()
                    line = f"{d['state']}, {d['submissions']} submissions"
                else:
                    line = error_detail(r)
            except SurveyError as exc:
                line = str(exc)
            click.echo(f"node {j} ({node.name}, {node.url}): {line}")
    except SurveyError as exc:
        _fail(exc)


@main.command()
@SURVEY_DIR
def close(survey_dir: Path) -> None:
    """Close the survey at every node now (no more submissions)."""
    try:
        manifest, _, cred = load_analyst_secret(survey_dir)
        failed = []
        for j, node in enumerate(manifest.nodes):
            try:
                r = node_request(manifest, j, "POST", "close", cred)
                if r.status_code == 200:
                    d = r.json()
                    click.echo(f"node {j} ({node.name}): closed with {d['submissions']} submissions")
                    continue
                failed.append(f"node {j}: {error_detail(r)}")
            except SurveyError as exc:
                failed.append(str(exc))
        if failed:
            raise SurveyError("not every node closed: " + "; ".join(failed))
    except SurveyError as exc:
        _fail(exc)


@main.command()
@SURVEY_DIR
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the output to this file instead of standard output.")
def results(survey_dir: Path, fmt: str, out_file: Path | None) -> None:
    """Fetch the result shares from every node, verify them, reconstruct and report.

    Only counts, and means of groups with at least k submissions, are ever reconstructed.
    """
    try:
        manifest, sk, cred = load_analyst_secret(survey_dir)
        report = build_report(manifest, sk, fetch_result_shares(manifest, cred))
    except SurveyError as exc:
        _fail(exc)
    text = report_json(report) if fmt == "json" else format_table(report)
    if out_file:
        out_file.write_text(text + "\n")
        click.echo(f"result written to {out_file}", err=True)
    else:
        click.echo(text)
