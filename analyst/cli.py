"""``salary-analyst``: the organiser/analyst's command (thin click layer over analyst.*)."""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import unicodedata
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NoReturn

import click

from protocol.encoding import PayPeriod
from protocol.errors import SurveyError
from protocol.manifest import MODELS, parse_time
from protocol.webpage import WebPage
from protocol.wire import error_detail

from protocol.answers import fold

from .formats import OutputFormat, render
from .i18n import available, resolve
from .release import Release, ThreatModel, parse
from .nodes import NodeClients, each_node
from .results import build_report, fetch_result_shares
from .survey import (
    BUNDLE_FILE,
    LINKS_FILE,
    MANIFEST_FILE,
    PAGE_DIR,
    TOKENS_FILE,
    create_survey,
    load_analyst_secret,
    load_node_info,
    packaged_page,
)

SURVEY_DIR = click.option("--survey", "survey_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
                          help="The survey directory written by 'salary-analyst create'.")


#: ``salary-analyst results`` exit status when, in the malicious model, submissions were set aside
#: because their validation shares were off the polynomial (the result is written all the same).
EXIT_SET_ASIDE = 3


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


def _job_categories(text: str) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Job categories as the organiser writes them, in any script: each one's key is its
    NFKC-normalised lower-case form (what records hold), its label the text as written when that
    differs (what outputs show)."""
    keys: list[str] = []
    labels: list[tuple[str, str]] = []
    for raw in (j.strip() for j in text.split(",")):
        if not raw:
            continue
        key = unicodedata.normalize("NFKC", raw).lower()
        if key in keys:
            raise SurveyError(f"--job-categories names {raw!r} twice")
        keys.append(key)
        if raw != key:
            labels.append((key, raw))
    return tuple(keys), tuple(labels)


def _gender_labels(text: str) -> tuple[tuple[str, str], ...]:
    """``female=女,male=男,other=其他`` as (key, label) pairs."""
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, eq, label = part.partition("=")
        if not eq or not label.strip():
            raise SurveyError(f"--gender-labels takes KEY=LABEL pairs separated by commas, e.g. female=女,male=男; "
                              f"not {part!r}")
        out.append((fold(key), label.strip()))
    return tuple(out)


def _bands(bands: str, band_width: int | None, salary_max: int) -> tuple[int, ...]:
    if bands.strip() and band_width:
        raise SurveyError("give --bands or --band-width, not both")
    if band_width:
        return tuple(range(band_width, salary_max, band_width))  # the top band runs to salary_max
    try:
        return tuple(int(b) for b in bands.split(",") if b.strip())
    except ValueError:
        raise SurveyError("--bands takes whole numbers separated by commas, e.g. 2000,2500,3000") from None


def _hundredths(text: str, option: str) -> int:
    """An amount per hour in hundredths of the unit (``12.5`` -> 1250)."""
    try:
        value = Decimal(text.strip()) * 100
    except InvalidOperation:
        raise SurveyError(f"{option} takes an amount such as 150 or 0.50, not {text!r}") from None
    if value != value.to_integral_value() or value <= 0:
        raise SurveyError(f"{option} takes a positive amount with at most two decimals, not {text!r}")
    return int(value)


def _complete(components: str, pay_period: str | None, variable_max: int, variable_band_width: int | None,
              hours_max: int, hourly_max: str, hourly_band_width: str) -> dict[str, Any]:
    """The manifest's fields of a complete survey from ``create``'s options (none without
    --components)."""
    parts = tuple(c.strip() for c in components.split(",") if c.strip())
    if not parts:
        if pay_period or variable_max or hours_max or hourly_max or variable_band_width or hourly_band_width:
            raise SurveyError("--pay-period, --variable-... and --hours-/--hourly-... need --components")
        return {}
    top = _hundredths(hourly_max, "--hourly-max") if hourly_max else 0
    width = _hundredths(hourly_band_width, "--hourly-band-width") if hourly_band_width else 0
    return dict(components=parts, pay_period=pay_period or "", variable_max=variable_max,
                variable_bands=tuple(range(variable_band_width, variable_max, variable_band_width))
                if variable_band_width and variable_max else (),
                hours_max=hours_max, hourly_max=top, hourly_bands=tuple(range(width, top, width)) if width else ())


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
      salary-analyst report result.json --report report.html   # again, from the saved result
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
@click.option("--job-categories", metavar="A,B,...", default="",
              help="Job categories (categories of workers) employees choose from, in any script (工程,業務); "
                   "figures and pay gaps are reported per gender within each.")
@click.option("--bands", metavar="E1,E2,...", default="",
              help="Salary band boundaries for medians and quartile pay bands, e.g. 2000,2500,3000.")
@click.option("--band-width", type=click.IntRange(min=1), metavar="W",
              help="Equal salary bands of width W from 0 up to --salary-max (instead of --bands).")
@click.option("--epsilon", "dp_epsilon", metavar="EPS", default="",
              help="Differential privacy: add jointly generated discrete Laplace noise with total budget EPS "
                   "(e.g. 1.0) to every released figure.")
@click.option("--gender-labels", metavar="KEY=LABEL,...", default="",
              help="The organiser's labels for the gender categories, e.g. female=女,male=男,other=其他: employees "
                   "and HR files may answer with a key or its label, every output shows the label.")
@click.option("--components", metavar="basic[,variable][,hours]", default="",
              help="A complete survey: what each employee gives besides basic pay (variable pay, hours paid); "
                   "--salary-max and the bands then apply to the pay level, basic + variable.")
@click.option("--pay-period", type=click.Choice([p.value for p in PayPeriod]),
              help="With --components: the period the pay figures cover.")
@click.option("--variable-max", type=int, default=0, help="With variable pay: its upper bound per period.")
@click.option("--variable-band-width", type=click.IntRange(min=2), metavar="W",
              help="With variable pay: equal bands of width W above the band of no variable pay.")
@click.option("--hours-max", type=int, default=0, help="With hours: the most hours paid per period.")
@click.option("--hourly-max", metavar="AMOUNT", default="",
              help="With hours: the upper bound of hourly pay, in the salary unit per hour (e.g. 150).")
@click.option("--hourly-band-width", metavar="AMOUNT", default="",
              help="With hours: equal hourly pay bands of this width per hour (e.g. 0.50).")
@click.option("--organisation", default="", metavar="NAME",
              help="Employer or organiser filing the report, shown on it (e.g. 'Acme GmbH').")
@click.option("--reporting-period", default="", metavar="PERIOD",
              help="Period the report covers, shown on it (e.g. 2026).")
@click.option("--language", default="", metavar="TAG",
              help="The organiser's language for the page and the report, BCP 47 (e.g. en, de, zh-TW).")
@click.option("--web-page", "web_page_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Directory holding the browser page (index.html, salary-page.js) every node serves; its script's "
                   "SHA-256 is pinned in the manifest (default: the page packaged with this program, if any).")
@click.option("--no-web-page", is_flag=True, help="No browser page: employees submit with salary-submit only.")
@click.option("--web-origin", "web_origins", multiple=True, metavar="https://HOST[:PORT]",
              help="Another origin whose pages may call the nodes' upload endpoints (e.g. the organiser's own site "
                   "hosting survey/page/); repeatable. The nodes' own page origins are always allowed.")
def create(out_dir: Path, node_files: tuple[Path, ...], survey_id: str, title: str, model: str,
           threshold: int | None, tokens: int, closes_at: str | None, closes_in: str, salary_max: int,
           salary_unit: str, min_group_size: int, job_categories: str, bands: str, band_width: int | None,
           dp_epsilon: str, gender_labels: str, components: str, pay_period: str | None, variable_max: int,
           variable_band_width: int | None, hours_max: int, hourly_max: str, hourly_band_width: str,
           organisation: str, reporting_period: str, language: str, web_page_dir: Path | None, no_web_page: bool,
           web_origins: tuple[str, ...]) -> None:
    """Create a survey: manifest, participation tokens, node bundle and the analyst's secret key.

    \b
    A pay-transparency survey (EU Directive 2023/970 Art. 9, UK reporting) adds job
    categories, salary bands (medians and quartiles are interpolated inside bands: the
    narrower, the more exact, the larger each submission) and optionally a privacy budget:
      salary-analyst create ... --salary-max 20000 --band-width 250 \\
          --job-categories engineering,sales,support --epsilon 1.0
    With a browser page (the default when one is packaged), links.txt holds one participation
    link per token, and every node serves the page.
    """
    try:
        page = _web_page(web_page_dir, no_web_page)
        edges = _bands(bands, band_width, salary_max)
        jobs, job_labels = _job_categories(job_categories)
        nodes = [load_node_info(f) for f in node_files]
        m = create_survey(out_dir, nodes, survey_id=survey_id, title=title, model=model, threshold=threshold,
                          tokens=tokens, closes_at=_closing(closes_at, closes_in), salary_max=salary_max,
                          salary_unit=salary_unit, min_group_size=min_group_size, job_categories=jobs,
                          salary_bands=edges, dp_epsilon=dp_epsilon.strip(), gender_labels=_gender_labels(gender_labels),
                          job_labels=job_labels, organisation=organisation.strip(),
                          reporting_period=reporting_period.strip(), language=language.strip(),
                          web_origins=web_origins, web_page=page,
                          **_complete(components, pay_period, variable_max, variable_band_width, hours_max,
                                      hourly_max, hourly_band_width))
    except SurveyError as exc:
        _fail(exc)
    click.echo(f"survey {m.survey_id}: n={m.n} nodes, t={m.threshold}, k={m.min_group_size}, closes {m.closes_at}")
    sc = m.scheme()
    click.echo(f"  {len(m.job_categories)} job categories, {sc.B} salary band(s), "
               f"{m.vector_length()} field elements per submission"
               + (f", differential privacy epsilon={m.dp_epsilon}" if m.dp_epsilon else ""))
    click.echo(f"  manifest hash {m.hash_hex()}")
    click.echo(f"  {out_dir / MANIFEST_FILE}: public, for employees and nodes")
    click.echo(f"  {out_dir / BUNDLE_FILE}: for every node operator ('mpc-node init --bundle ...')")
    click.echo(f"  {out_dir / TOKENS_FILE}: {tokens} tokens, one per employee (secret)")
    if page is not None:
        click.echo(f"  {out_dir / LINKS_FILE}: the same tokens as participation links to node 0's page (secret)")
        click.echo(f"  {out_dir / PAGE_DIR}: the page every node serves (salary-page.js SHA-256 {m.web_page_sha256})")


def _web_page(web_page_dir: Path | None, no_web_page: bool) -> WebPage | None:
    """The page ``create`` pins: --web-page's, else the packaged one (if any), none with --no-web-page."""
    if no_web_page:
        if web_page_dir is not None:
            raise SurveyError("give --web-page or --no-web-page, not both")
        return None
    return WebPage.from_dir(web_page_dir) if web_page_dir is not None else packaged_page()


@main.command()
@SURVEY_DIR
def status(survey_dir: Path) -> None:
    """Show every node's state and submission count (the nodes are asked at once)."""
    try:
        manifest, _, cred = load_analyst_secret(survey_dir)
        with NodeClients(manifest, cred) as nodes:
            lines = each_node(manifest, lambda j: _status_line(nodes, j))
    except SurveyError as exc:
        _fail(exc)
    for j, (node, line) in enumerate(zip(manifest.nodes, lines)):
        click.echo(f"node {j} ({node.name}, {node.url}): {line}")


def _status_line(nodes: NodeClients, j: int) -> str:
    try:
        r = nodes.request(j, "GET", "status", retries=1)
    except SurveyError as exc:
        return str(exc)
    if r.status_code != 200:
        return error_detail(r)
    d = r.json()
    return f"{d['state']}, {d['submissions']} submissions"


@main.command("check-page")
@SURVEY_DIR
def check_page(survey_dir: Path) -> None:
    """Check the browser page every node serves against the survey's copy (page/) and the manifest.

    One line per node; exit status 1 if any node serves other HTML, another script, or none.
    """
    from .pagecheck import check_pages

    try:
        manifest, answers = check_pages(survey_dir)
    except SurveyError as exc:
        _fail(exc)
    for a in answers:
        where = f"node {a.index} ({a.name}, {manifest.nodes[a.index].browser_url})"
        click.echo(f"{where}: " + ("serves the survey's page" if a.ok else "MISMATCH: " + "; ".join(a.problems)))
    bad = [a.index for a in answers if not a.ok]
    if bad:
        _fail(SurveyError(f"node(s) {', '.join(map(str, bad))} do not serve the survey's page"))
    click.echo(f"every node serves the survey's page (salary-page.js SHA-256 {manifest.web_page_sha256})")


@main.command()
@SURVEY_DIR
def close(survey_dir: Path) -> None:
    """Close the survey at every node now (no more submissions; the nodes are asked at once)."""
    try:
        manifest, _, cred = load_analyst_secret(survey_dir)
        with NodeClients(manifest, cred) as nodes:
            answers = each_node(manifest, lambda j: _close_at(nodes, j))
        for j, (closed, why) in enumerate(answers):
            if closed is not None:
                click.echo(f"node {j} ({manifest.nodes[j].name}): closed with {closed} submissions")
        failed = [why for _, why in answers if why]
        if failed:
            raise SurveyError("not every node closed: " + "; ".join(failed))
    except SurveyError as exc:
        _fail(exc)


def _close_at(nodes: NodeClients, j: int) -> tuple[int | None, str]:
    """(submissions held, "") once node j is closed, or (None, why not)."""
    try:
        r = nodes.request(j, "POST", "close")
    except SurveyError as exc:
        return None, str(exc)
    if r.status_code == 200:
        return int(r.json()["submissions"]), ""
    return None, f"node {j}: {error_detail(r)}"


def _check_report_path(report_file: Path | None) -> None:
    """Refuse a report path that cannot be written, before any work is done."""
    if report_file is None:
        return
    from .report import report_format

    try:
        report_format(report_file)
    except ValueError:
        raise click.BadParameter("the report file must end in .html or .md", param_hint="--report") from None
    if not report_file.resolve().parent.is_dir():
        raise click.BadParameter(f"the directory {report_file.resolve().parent} does not exist", param_hint="--report")


LANG = click.option("--lang", default="en", show_default=True, metavar="LANG",
                    help="Language of the table and the report: " + ", ".join(available())
                         + " (one catalog file each in analyst/locale/).")


def _write_report(release: Release, report_file: Path, lang: str) -> None:
    from .report import write_report

    try:
        written = write_report(release, report_file, lang)
    except OSError as exc:
        _fail(SurveyError(f"cannot write the report {report_file}: {exc.strerror or exc}"))
    click.echo("report written to " + ", ".join(str(f) for f in written), err=True)


@main.command()
@SURVEY_DIR
@click.option("--format", "fmt", type=click.Choice([f.value for f in OutputFormat]), default=OutputFormat.TABLE.value,
              show_default=True)
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the output to this file instead of standard output.")
@click.option("--report", "report_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a pay-transparency report (.html, self-contained; or .md with a .png chart "
                   "beside it).")
@LANG
def results(survey_dir: Path, fmt: str, out_file: Path | None, report_file: Path | None, lang: str) -> None:
    """Fetch the result shares from every node, verify them, reconstruct and report.

    Per gender, and per gender within each job category: count, mean, median, standard
    deviation, quartile pay bands and pay gaps versus male.  Groups with fewer than k
    submissions, and groups whose figures would let someone derive them, get no salary figure.

    Exit status 0 when released; 1 when nothing is; 3 (malicious model) when the result was
    released and written but some submissions were set aside because their validation shares were
    off the polynomial (a lying node can drop submissions that way when n < 3t+1).
    """
    _check_report_path(report_file)
    try:
        lang = resolve(lang)
        manifest, sk, cred = load_analyst_secret(survey_dir)
        release = build_report(manifest, sk, fetch_result_shares(manifest, cred))
    except SurveyError as exc:
        _fail(exc)
    if report_file is not None:
        _write_report(release, report_file, lang)
    text = render(release, OutputFormat(fmt), lang)
    if out_file:
        out_file.write_text(text if text.endswith("\n") else text + "\n")
        click.echo(f"result written to {out_file}", err=True)
    else:
        click.echo(text)
    if release.submissions.set_aside and release.model == ThreatModel.MALICIOUS:
        click.echo(f"salary-analyst: warning: {release.submissions.set_aside} submission(s) set aside (validation "
                   f"shares off the polynomial); exit status {EXIT_SET_ASIDE}", err=True)
        sys.exit(EXIT_SET_ASIDE)


@main.command()
@click.argument("result_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--report", "report_file", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The report to write (.html, self-contained; or .md with a .png chart beside it).")
@LANG
def report(result_file: Path, report_file: Path, lang: str) -> None:
    """Render the pay-transparency report of a saved result.

    \b
    RESULT_FILE is what 'results --format json --out RESULT_FILE' wrote:
      salary-analyst report result.json --report report.html
    """
    _check_report_path(report_file)
    try:
        lang = resolve(lang)
        try:
            doc = json.loads(result_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise SurveyError(f"cannot read the result {result_file}: {exc}") from None
        release = parse(doc)
    except SurveyError as exc:
        _fail(exc)
    _write_report(release, report_file, lang)
