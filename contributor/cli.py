"""``salary-submit``: the employee / HR command.  A thin click layer over :mod:`contributor.submit`
(one record, or a CSV file one request per record), :mod:`contributor.bulk` (a CSV file in
batches) and the modules they use.

Every :class:`~protocol.errors.SurveyError` is printed as one line
``salary-submit: error: <message>`` on stderr with exit status 1; usage errors exit 2 (click).
The participation token is never printed.
"""

from __future__ import annotations

import os

# Before numpy is imported (by protocol): the contributor's matrix products are small, and
# batches are prepared on every core by worker processes, so a multi-threaded BLAS only adds
# contention (measured: 6,400 records/s prepared with the default, 9,300/s with one thread).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import shlex
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

from protocol.errors import InvalidToken, SurveyError

from . import bulk, bulkrun
from .amounts import amount_format, decimal_mark
from .delivery import BatchResult
from .filecheck import print_check
from .hrfile import SPREADSHEET_SUFFIXES, CsvInvalid, ReadOptions, check_file, read_csv_records, read_tokens
from .nodes import (
    RetryPolicy,
    check_manifest_served,
    close_nodes,
    connect_nodes,
    load_survey_manifest,
    verify_nodes_agree,
)
from .pending import DEFAULT_RECEIPT_DIR, read_pending
from .submission import ack_summary, outcome_error, validate_record
from .submit import resume_pending, submit_csv, submit_record

PROG = "salary-submit"
#: bad rows listed when a file is refused (``--check`` lists every one)
MAX_PROBLEM_LINES = 20
#: the tokens file named in the resume command printed after Ctrl-C
_tokens_hint = "FILE"
TOKEN_ENV = "SALARY_TOKEN"

HELP = f"""Submit your salary to a privacy-preserving salary survey.

Your answer (gender and monthly salary) is split into random Shamir shares, one per
computing node; each share is encrypted to its node's key from the survey manifest and
uploaded over TLS pinned to that node's certificate.  No single node (nor any t of them
together) learns anything about your answer; only aggregate figures are ever released.

Before sending anything, salary-submit checks that every node serves exactly the
manifest you loaded.  It keeps a receipt (submission id and each node's acknowledgement,
never your salary or token) in --receipt-dir.  If a node cannot be reached, the prepared
upload is kept in a pending file there; finish it later with --resume.

Give your participation token through the {TOKEN_ENV} environment variable or
--token-file so that it does not end up in your shell history.

\b
Examples:
  # one employee (token from the environment)
  export {TOKEN_ENV}=...            # the token you were given
  salary-submit --survey manifest.json --gender female --salary 52000

\b
  # a survey with job categories (the manifest lists them)
  salary-submit --survey manifest.json --gender male --salary 4800 --category engineering

\b
  # a survey of basic and variable pay and hours (its manifest's components)
  salary-submit --survey manifest.json --gender female --basic 52000 --variable 3100 \\
      --hours 1720 --category engineering

\b
  # check the manifest's fingerprint as published by the organiser
  salary-submit --survey https://survey.example.org/manifest.json \\
      --expect-hash 3b5f...e9 --token-file token.txt --gender male --salary 4800

\b
  # change your earlier answer (same token)
  salary-submit --survey manifest.json --token-file token.txt \\
      --gender female --salary 53500 --replace

\b
  # HR: many employees at once, from a CSV (any delimiter and encoding) or an
  # .xlsx/.xls/.ods file; columns gender, salary (and job when the survey has job
  # categories) or named with --column; row i uses line i of the tokens file.
  # Rows go in batches of --batch-size (one signed, sealed request per node per
  # batch); every batch is written to a pending directory before the first upload.
  salary-submit --survey manifest.json --csv staff.csv --tokens tokens.txt

\b
  # check an export first (rows per gender and category, amounts, problems);
  # nothing is sent
  salary-submit --survey manifest.json --csv 薪資.xlsx --check \\
      --column gender=性別 --column pay=月薪 --column category=職類

\b
  # a European export: semicolons, 4.100,50
  salary-submit --survey manifest.json --csv gehalt.csv --tokens tokens.txt --decimal ,

\b
  # a node was down or Ctrl-C was pressed during a bulk run: finish it (same ids
  # and bytes; rows never prepared are prepared from the same file)
  salary-submit --resume receipts/pending-<survey>-bulk-<time>/ --tokens tokens.txt

\b
  # a node was down: finish the upload later with the same submission ids
  salary-submit --resume receipts/pending-<survey>-<id>.json --token-file token.txt
"""


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"{PROG}: error: {' '.join(str(message).split())}", err=True)
    sys.exit(code)


@contextmanager
def _errors() -> Iterator[None]:
    """Turn user-facing errors into one stderr line and exit status 1 (never a traceback)."""
    try:
        yield
    except CsvInvalid as exc:
        for problem in exc.problems[:MAX_PROBLEM_LINES]:
            click.echo(f"{PROG}: {problem}", err=True)
        if len(exc.problems) > MAX_PROBLEM_LINES:
            click.echo(f"{PROG}: ... and {len(exc.problems) - MAX_PROBLEM_LINES} more row(s) with problems "
                       "(--check lists every one)", err=True)
        _fail(str(exc))
    except bulkrun.Interrupted as exc:
        _fail(f"interrupted; nothing is lost: finish the job with: {PROG} --resume {exc.pending_dir} "
              f"--tokens {_tokens_hint}", 130)
    except KeyboardInterrupt:
        _fail("interrupted before anything was sent; run the same command again: "
              + " ".join(shlex.quote(a) for a in [PROG, *sys.argv[1:]]), 130)
    except SurveyError as exc:
        _fail(str(exc))
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        _fail(f"cannot write or read{where}: {exc.strerror or exc}")


def _single_token(token: str | None, token_file: str | None) -> str | None:
    """--token, else --token-file, else $SALARY_TOKEN (None if none given)."""
    if token:
        return token.strip()
    if token_file:
        try:
            text = Path(token_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidToken(f"cannot read token file {token_file}: {getattr(exc, 'strerror', None) or exc}") from None
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        if not lines:
            raise InvalidToken(f"token file {token_file} is empty")
        return lines[0]
    env = os.environ.get(TOKEN_ENV, "").strip()
    return env or None


def _missing_token() -> InvalidToken:
    return InvalidToken(f"no participation token given: set {TOKEN_ENV}, or use --token-file FILE (or --token)")


class _Bars:
    """One progress bar at a time on stderr, one per phase (reading, preparing, uploading): a
    phase's bar starts when the phase does and closes the previous one."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bar: Any = None
        self.tty = sys.stderr.isatty()

    def phase(self, label: str, total: int) -> Callable[[int], None]:
        """The progress callback of one phase; its bar appears at its first step (only on a
        terminal: logs get the summary lines alone)."""
        mine: list[Any] = []

        def step(n: int) -> None:
            if not self.tty:
                return
            with self.lock:
                if not mine:
                    self._close()
                    mine.append(click.progressbar(length=max(1, total), label=label, file=sys.stderr, show_pos=True))
                    self.bar = mine[0]
                if mine[0] is self.bar:
                    self.bar.update(n)
        return step

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.render_finish()
            self.bar = None

    def close(self) -> None:
        with self.lock:
            self._close()


@contextmanager
def _bars() -> Iterator[_Bars]:
    bars = _Bars()
    try:
        yield bars
    finally:
        bars.close()


@contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A thread-safe progress callback drawing click's progress bar on stderr."""
    lock = threading.Lock()
    with click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True) as bar:
        def step(n: int) -> None:
            with lock:
                bar.update(n)
        yield step


def _report_batch(res: BatchResult[Any], resume_hint: str, unprepared: bulkrun.Unprepared | None = None) -> None:
    """Print the batch summary; exit 1 if anything failed, is pending or was never prepared."""
    for line, sid, reason in res.failed:
        where = f"line {line}" if line is not None else f"submission {sid}"
        click.echo(f"{PROG}: {where}: failed: {' '.join(reason.split())}", err=True)
    for line, sid, nodes in res.pending:
        where = f"line {line}" if line is not None else f"submission {sid}"
        click.echo(f"{PROG}: {where}: pending at {nodes}", err=True)
    total = res.submitted + len({sid for _, sid, _ in res.failed} | {sid for _, sid, _ in res.pending})
    summary = f"submitted {res.submitted} of {total}; failed {len(res.failed)}; pending {len(res.pending)}"
    if unprepared is not None:
        summary += f"; never prepared {unprepared.rows}"
    if res.receipts_path is not None:
        summary += f"; receipts in {res.receipts_path}"
    click.echo(summary)
    never = (f"{unprepared.rows} row(s) of the run were never prepared ({unprepared.reason}), so they were not sent"
             if unprepared is not None else "")
    if never and not res.pending and not res.failed:
        _fail(never)
    if res.pending and res.pending_path is not None:
        _fail(f"{len(res.pending)} submission(s) not yet delivered to every node; finish them with: "
              f"{PROG} --resume {res.pending_path} {resume_hint}"
              + (f"; {len(res.failed)} failed (see above)" if res.failed else "") + (f"; {never}" if never else ""))
    if res.failed:
        reasons = sorted({r for _, _, r in res.failed})
        extra = f": {reasons[0]}" if len(reasons) == 1 else " (see above)"
        _fail(f"{len(res.failed)} of {total} submission(s) failed{extra}" + (f"; {never}" if never else ""))


@click.command(name=PROG, help=HELP, context_settings={"help_option_names": ["-h", "--help"],
                                                     "max_content_width": 100})
@click.option("--survey", metavar="FILE|URL", help="The survey manifest: a file, or an https:// URL.")
@click.option("--expect-hash", metavar="HEX", help="Refuse unless the manifest's SHA-256 equals HEX.")
@click.option("--cafile", type=click.Path(exists=True, dir_okay=False),
              help="CA certificate(s) to verify an https:// --survey URL (default: system CAs).")
@click.option("--gender", help="Your gender category, e.g. female, male, other.")
@click.option("--salary", metavar="AMOUNT",
              help="Your salary in the survey's unit, e.g. 4100, 4,100.50 or NT$45,000 (a decimal part is rounded "
                   "half to even to whole units).")
@click.option("--basic", metavar="AMOUNT",
              help="Your basic pay for the survey's pay period (a survey collecting basic and variable pay; "
                   "--salary means the same).")
@click.option("--variable", metavar="AMOUNT",
              help="Your variable or complementary pay (bonuses, commissions, allowances) for the period; 0 if none.")
@click.option("--hours", metavar="HOURS",
              help="The hours you were paid for in the period, e.g. 1720 or 86.5 (a survey collecting hours); "
                   "your hourly pay is computed on this machine.")
@click.option("--category", "--job", "job", metavar="NAME",
              help="Your job category, when the survey declares them (its manifest's job_categories).")
@click.option("--token", metavar="TOKEN",
              help=f"Participation token (prefer ${TOKEN_ENV} or --token-file: shell history).")
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False),
              help="Read the participation token from the first line of this file.")
@click.option("--replace", is_flag=True, help="Replace the earlier submission made with this token.")
@click.option("--csv", "csv_file", type=click.Path(exists=True, dir_okay=False),
              help="Submit every row of this HR file: CSV (any delimiter, UTF-8/UTF-16/Windows-1252), .xlsx, .xls "
                   "or .ods; columns gender, salary (and job when the survey has job categories) or --column.")
@click.option("--tokens", "tokens_file", type=click.Path(exists=True, dir_okay=False),
              help="With --csv (or --resume of a batch): one token per line, line i for row i.")
@click.option("--resume", "resume_file", type=click.Path(exists=True),
              help="Finish the uploads recorded in a pending file, or a bulk run's pending directory "
                   "(same ids, same envelopes).")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(0, 4096),
              help="With --csv: records per bulk request (0: one request per record and node).")
@click.option("--receipt-dir", default=DEFAULT_RECEIPT_DIR, show_default=True,
              type=click.Path(file_okay=False), help="Where receipts and pending files are kept.")
@click.option("--retries", default=5, show_default=True, type=click.IntRange(0, 20),
              help="Retries per node for transient failures (exponential backoff).")
@click.option("--retry-delay", default=0.5, show_default=True, type=click.FloatRange(0, 60), metavar="SECONDS",
              help="First backoff delay; doubles on each retry.")
@click.option("--timeout", default=30.0, show_default=True, type=click.FloatRange(0.1, 600), metavar="SECONDS",
              help="Seconds a request may make no progress (a stall), and wait for its answer.")
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(1, 64),
              help="Parallel uploads with --csv.")
@click.option("--check", is_flag=True,
              help="With --csv: validate every row and print a summary (rows per gender and category, the range of "
                   "every amount, the rows with problems); send nothing.")
@click.option("--column", "columns", multiple=True, metavar="FIELD=HEADER",
              help="With --csv: the column holding FIELD (gender, category, pay, basic, variable or hours), by its "
                   "header; repeat for each. Default: the columns headed gender, job or category, salary or pay (or "
                   "basic), variable, hours.")
@click.option("--decimal", metavar=", | . | LOCALE",
              help="The decimal mark of amounts (',' or '.', or a locale name such as de_DE). Default: each amount "
                   "is read the one way it can be (4.100,50 and 4,100.50 both work; 4,100 alone is ambiguous).")
@click.option("--encoding", metavar="NAME",
              help="With --csv: the text encoding (default: UTF-8 with or without BOM, UTF-16, else Windows-1252).")
@click.option("--delimiter", metavar="CHAR", help="With --csv: the field separator (default: detected among , ; tab |).")
def main(survey: str | None, expect_hash: str | None, cafile: str | None, gender: str | None, salary: str | None,
         basic: str | None, variable: str | None, hours: str | None, job: str | None, token: str | None, token_file: str | None, replace: bool, csv_file: str | None,
         tokens_file: str | None, resume_file: str | None, batch_size: int, receipt_dir: str, retries: int,
         retry_delay: float, timeout: float, concurrency: int, check: bool, columns: tuple[str, ...],
         decimal: str | None, encoding: str | None, delimiter: str | None) -> None:
    global _tokens_hint
    _tokens_hint = shlex.quote(tokens_file) if tokens_file else "FILE"
    retry = RetryPolicy(retries=retries, base_delay=retry_delay)
    rdir = Path(receipt_dir)
    if token and token_file:
        raise click.UsageError("give the token either with --token or with --token-file, not both")
    if basic is not None and salary is not None:
        raise click.UsageError("give your basic pay either with --basic or with --salary, not both")
    salary = basic if basic is not None else salary

    if resume_file:
        for name, val in (("--survey", survey), ("--gender", gender), ("--salary", salary), ("--variable", variable),
                          ("--hours", hours), ("--csv", csv_file),
                          ("--expect-hash", expect_hash), ("--category", job), ("--column", columns),
                          ("--decimal", decimal), ("--encoding", encoding), ("--delimiter", delimiter),
                          ("--check", check)):
            if val:
                raise click.UsageError(f"{name} cannot be used with --resume (the pending file holds the survey and "
                                       "how the file was read)")
        if replace:
            raise click.UsageError("--replace cannot be used with --resume (the pending file keeps the choice)")
        with _errors():
            _resume(Path(resume_file), token, token_file, tokens_file, retry, timeout, concurrency)
        return

    if not survey:
        raise click.UsageError("Missing option '--survey' (the survey manifest file or URL).")
    if csv_file:
        for name, val in (("--gender", gender), ("--salary", salary), ("--variable", variable), ("--hours", hours),
                          ("--category", job), ("--token", token), ("--token-file", token_file)):
            if val:
                raise click.UsageError(f"{name} cannot be used with --csv (each row has its own values and token)")
        with _errors():
            options = ReadOptions.of(columns, decimal, encoding, delimiter)
            if check:
                _check(survey, expect_hash, cafile, Path(csv_file), Path(tokens_file) if tokens_file else None,
                       options, timeout)
                return
            if not tokens_file:
                raise click.UsageError("--csv needs --tokens FILE (one participation token per data row)")
            _batch(survey, expect_hash, cafile, Path(csv_file), Path(tokens_file), rdir, replace, retry, timeout,
                   concurrency, batch_size, options)
        return

    for name, val in (("--check", check), ("--column", columns), ("--encoding", encoding),
                      ("--delimiter", delimiter)):
        if val:
            raise click.UsageError(f"{name} is for --csv FILE")
    if tokens_file:
        raise click.UsageError("--tokens is for --csv (or --resume of a batch); use --token-file for one token")
    if gender is None or salary is None:
        raise click.UsageError("give --gender and --salary (or --csv FILE --tokens FILE for many employees)")
    with _errors():
        manifest = load_survey_manifest(survey, expect_hash=expect_hash, cafile=cafile, timeout=timeout)
        record = validate_record(manifest, gender, salary, job, amount_format(manifest, decimal_mark(decimal)),
                                 variable, hours)
        tok = _single_token(token, token_file)
        if not tok:
            raise _missing_token()
        nodes = connect_nodes(manifest, retry=retry, timeout=timeout, max_connections=2)
        try:
            unreachable = verify_nodes_agree(manifest, nodes)
            res = submit_record(manifest, record, tok, nodes, receipt_dir=rdir, replace=replace,
                                unreachable=unreachable)
        finally:
            close_nodes(nodes)
        if res.outcome.acks:
            where = f" (receipt {res.receipt_path})" if res.receipt_path else ""
            click.echo(f"submission {res.submission_id}: {ack_summary(res.outcome, manifest)}{where}")
        if res.error is not None:
            raise res.error


def _read_rows(path: Path, manifest: Any, options: ReadOptions, bars: _Bars) -> Any:
    """Every valid row of the file, with a reading progress bar for CSV files."""
    total = 0
    if path.suffix.lower() not in SPREADSHEET_SUFFIXES:
        with open(path, "rb") as fh:
            total = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    step = bars.phase("Reading", total) if total > 1 else None
    rows = read_csv_records(path, manifest, options, step)
    bars.close()
    return rows


def _check(survey: str, expect_hash: str | None, cafile: str | None, path: Path, tokens_path: Path | None,
           options: ReadOptions, timeout: float) -> None:
    """--check: validate every row, print the summary and every problem; send nothing."""
    manifest = load_survey_manifest(survey, expect_hash=expect_hash, cafile=cafile, timeout=timeout)
    result = check_file(path, manifest, options)
    click.echo(print_check(result, manifest))
    for problem in result.problems:
        click.echo(f"{PROG}: {problem}", err=True)
    if tokens_path is not None:
        read_tokens(tokens_path, len(result.rows) + len(result.problems))
    if result.problems:
        _fail(f"{len(result.problems)} invalid row(s) in {path}; nothing was sent (--check)")
    click.echo("nothing was sent (--check)")


def _batch(survey: str, expect_hash: str | None, cafile: str | None, csv_path: Path, tokens_path: Path,
           rdir: Path, replace: bool, retry: RetryPolicy, timeout: float, concurrency: int,
           batch_size: int = bulk.DEFAULT_BATCH_SIZE, options: ReadOptions = ReadOptions()) -> None:
    manifest = load_survey_manifest(survey, expect_hash=expect_hash, cafile=cafile, timeout=timeout)
    with _bars() as bars:
        rows = _read_rows(csv_path, manifest, options, bars)
        tokens = read_tokens(tokens_path, len(rows))
        nodes = connect_nodes(manifest, retry=retry, timeout=timeout, max_connections=concurrency)
        res: BatchResult[Any]
        try:
            unreachable = verify_nodes_agree(manifest, nodes)
            if batch_size:
                def said(count: int, seconds: float) -> None:
                    bars.close()
                    click.echo(f"prepared {count} record(s) in {seconds:.2f} s ({count / max(seconds, 1e-9):,.0f}/s: "
                               "shared, committed, sealed, written to the pending directory)", err=True)

                res = bulkrun.submit_csv_bulk(
                    manifest, rows, tokens, nodes, receipt_dir=rdir, replace=replace, batch_size=batch_size,
                    concurrency=max(1, min(concurrency, 4)), unreachable=unreachable,
                    source=bulkrun.Source.of(csv_path, options), progress=bars.phase("Uploading", len(rows)),
                    prepare_progress=bars.phase("Preparing", len(rows)), prepared=said)
            else:
                res = submit_csv(manifest, rows, tokens, nodes, receipt_dir=rdir, replace=replace,
                                 concurrency=concurrency, unreachable=unreachable,
                                 progress=bars.phase("Submitting", len(rows)))
        finally:
            close_nodes(nodes)
    _report_batch(res, f"--tokens {shlex.quote(str(tokens_path))}")


def _resume(path: Path, token: str | None, token_file: str | None, tokens_file: str | None,
            retry: RetryPolicy, timeout: float, concurrency: int) -> None:
    if path.is_dir():
        _resume_bulk(path, tokens_file, retry, timeout, concurrency)
        return
    manifest, entries = read_pending(path)
    toks: list[str] = []
    single = _single_token(token, token_file)
    if single:
        toks.append(single)
    if tokens_file:
        toks += read_tokens(Path(tokens_file))
    if not toks:
        raise _missing_token() if len(entries) == 1 else InvalidToken(
            "this pending file holds a batch: give its --tokens FILE")
    with _progress(len(entries), "Resuming") if len(entries) > 1 else _noop() as step:
        res = resume_pending(path, toks, manifest=manifest, entries=entries, concurrency=concurrency,
                             retry=retry, timeout=timeout, progress=step)
    if len(entries) == 1 and entries[0].line is None:
        out = res.outcomes[0]
        if out.acks:
            where = f" (receipt {res.receipts_path})" if res.receipts_path else ""
            click.echo(f"submission {out.prepared.submission_id}: {ack_summary(out, manifest)}{where}")
        err = outcome_error(out, manifest, res.pending_path)
        if err is not None:
            raise err
        return
    _report_batch(res, f"--tokens {tokens_file or 'FILE'}")


def _resume_bulk(path: Path, tokens_file: str | None, retry: RetryPolicy, timeout: float,
                 concurrency: int) -> None:
    pending = bulkrun.load_pending_dir(path)
    if not tokens_file:
        raise InvalidToken("this pending directory holds a bulk run: give its --tokens FILE")
    toks = read_tokens(Path(tokens_file))
    manifest = pending.manifest
    nodes = connect_nodes(manifest, retry=retry, timeout=timeout, max_connections=concurrency)
    try:
        needed = range(manifest.n) if pending.missing() else sorted({i for e in pending.owed for i in e.nodes})
        check_manifest_served(manifest, nodes, needed)
        total = pending.run.rows if pending.run else sum(len(e.prepared.ids) for e in pending.owed)
        with _bars() as bars:
            res, unprepared = bulkrun.resume_bulk(
                pending, toks, nodes, concurrency=max(1, min(concurrency, 4)),
                progress=bars.phase("Uploading", total), prepare_progress=bars.phase("Preparing", total),
                read_progress=bars.phase("Reading", total))
    finally:
        close_nodes(nodes)
    _report_batch(res, f"--tokens {shlex.quote(tokens_file)}", unprepared)


@contextmanager
def _noop() -> Iterator[Callable[[int], None] | None]:
    yield None


def run(argv: list[str] | None = None) -> Any:  # pragma: no cover - convenience for python -m
    return main.main(args=argv, prog_name=PROG)


if __name__ == "__main__":  # pragma: no cover
    run()
