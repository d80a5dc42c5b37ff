"""The report of a complete survey: every Art. 9(1) item (a) to (g) has a heading with figures
(nothing reads "not collected"), hourly pay and variable pay appear where collected, (g) breaks
down by basic and variable pay, Art. 10's flagged categories are listed with their counts, and a
variable-pay figure below k reads n/a."""

from __future__ import annotations

from analyst.report import NOT_COLLECTED, render_html, render_markdown
from analyst.release import Component
from protocol.encoding import Record
from test_complete_figures import manifest, release_of

HEADINGS = ("(a) The gender pay gap (mean)", "(b) The gender pay gap in complementary or variable components",
            "(c) The median gender pay gap",
            "(d) The median gender pay gap in complementary or variable components",
            "(e) The proportion of female and male workers receiving complementary or variable components",
            "(f) The proportion of female and male workers in each quartile pay band",
            "(g) The gender pay gap by category of workers", "Art. 10: joint pay assessment")


def _records() -> list[Record]:
    # eng: women paid 10% less basic pay, few of them get variable pay; ops: equal pay
    recs = [Record("female", 180, "eng", 20 if i < 2 else 0, 800) for i in range(6)]
    recs += [Record("male", 200, "eng", 20, 800) for _ in range(6)]
    recs += [Record(g, 150, "ops", 10, 400) for g in ("female", "male") for _ in range(5)]
    return recs


def _section(md: str, heading: str) -> str:
    at = md.index(heading)
    nxt = md.find("\n## ", at + 1)
    return md[at: nxt if nxt >= 0 else len(md)]


def test_every_article_9_item_has_figures() -> None:
    rel = release_of(manifest(3, hours=True), _records())
    md = render_markdown(rel, "chart.png")
    for h in HEADINGS:
        assert h in md, h
    assert NOT_COLLECTED not in md and "not collected" not in md.lower()
    # (b): variable pay over its recipients: female (2 x 20 + 5 x 10) / 7, male (6 x 20 + 5 x 10) / 11
    b = _section(md, HEADINGS[1])
    assert "| female | 12.86 | +16.8 % |" in b and "| male | 15.45 | reference |" in b
    # within eng only 2 women receive variable pay (< k = 3): their variable and basic pay read n/a,
    # and so do ops's (5 recipients), or the female total minus ops would give eng's two
    eng, ops = md.split("### Category eng: basic and variable pay")[1].split("### Category ops: basic and variable pay")
    assert "| female | n/a | n/a | n/a | n/a |" in eng and "| male | 200.00 | reference | 20.00 | reference |" in eng
    assert "| female | n/a | n/a | n/a | n/a |" in ops and "| male | 150.00 | reference | 10.00 | reference |" in ops
    # (e): share receiving variable pay: female 7 of 11, male 11 of 11
    e = _section(md, HEADINGS[4])
    assert "| female | 63.6 % |" in e and "| male | 100.0 % |" in e
    # hourly pay in (a): 200 per 8 hours = 25.00 for men in eng
    assert "Hourly pay level (per hour):" in _section(md, HEADINGS[0])
    # (g) by basic and variable pay, and Art. 10: eng's pay-level gap is at least 5 %
    assert "Category eng: basic and variable pay" in md
    art10 = _section(md, HEADINGS[7])
    flagged = [f for f in rel.art10_flags or () if f.category == "eng" and f.component == Component.TOTAL]
    assert flagged and f"| eng | Pay level | female | {flagged[0].gap_percent:+.1f} % | 6 | 6 |" in art10
    assert "joint pay assessment is due" in art10 and "| ops |" not in art10
    assert "variable pay counts as bonus" in md
    assert "Art. 10: joint pay assessment" in render_html(rel, None)


def test_no_flag_reads_as_such_and_one_figure_reports_are_unchanged() -> None:
    equal = [Record(g, 150, j, 10) for g in ("female", "male") for j in ("eng", "ops") for _ in range(4)]
    md = render_markdown(release_of(manifest(3, hours=False), equal), None)
    assert "No category of workers shows a mean gap of at least 5 percent in any component." in md
    assert "Hourly pay level" not in md and "this survey does not collect hours" in md


def test_b_shows_variable_pay_over_all_workers_beside_the_recipients() -> None:
    rel = release_of(manifest(2, hours=True), _records())
    b = _section(render_markdown(rel, None), HEADINGS[1])
    # over all workers: female (2 x 20 + 5 x 10) / 11, male (6 x 20 + 5 x 10) / 11
    assert "Variable pay (all workers): Mean" in b
    assert "| female | 8.18 | +47.1 % |" in b and "| male | 15.45 | reference |" in b
    assert rel.all_employees.groups[0].components is not None
    assert rel.all_employees.groups[0].components[Component.VARIABLE_ALL].mean == (2 * 20 + 5 * 10) / 11
