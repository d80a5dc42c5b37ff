"""What a report needs to be filed with a regulator besides its figures: who files it, the
period and release date, the manifest hash that identifies the survey, the legal provision each
table answers, and method notes a regulator can read.

:func:`legal_basis` and :func:`method_notes` take a ``gettext`` so that the result document holds
them in English and the report in its language (every template is marked for translation).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from .i18n import N_

__all__ = ["LegalBasis", "Filing", "LEGAL_BASIS", "legal_basis", "method_notes", "release_date"]

#: the Directive, for people
DIRECTIVE = "Directive (EU) 2023/970"
#: the UK regulations, for people: the Equality Act 2010 (Gender Pay Gap Information) Regulations
#: 2017 bind private employers (public authorities report the same figures under SI 2017/353)
UK_REGULATIONS = "SI 2017/172"


@dataclass(frozen=True, kw_only=True)
class LegalBasis:
    """The provisions one report table answers: the Directive's article and the UK regulation
    ("" where the UK regulations ask no such figure)."""

    table: str
    directive: str
    uk: str


@dataclass(frozen=True, kw_only=True)
class Filing:
    """Who files the report and for which period ("" when the manifest names none), the release
    date (ISO 8601, UTC), the survey's manifest hash (hex SHA-256 of its canonical bytes), and the
    legal basis and method notes as released (English)."""

    organisation: str
    reporting_period: str
    released_on: str
    manifest_hash: str
    legal_basis: tuple[LegalBasis, ...]
    method_notes: tuple[str, ...]


#: (report table, Directive 2023/970 provision, SI 2017/172 provision) in the report's order; the
#: UK provisions are reg. 2(1)(a)..(f), whose calculations regs. 8 to 13 set out
LEGAL_BASIS = (
    (N_("(a) The gender pay gap (mean)"), "Art. 9(1)(a)", "reg. 2(1)(a), reg. 8"),
    (N_("(b) The gender pay gap in complementary or variable components"), "Art. 9(1)(b)", "reg. 2(1)(c), reg. 10"),
    (N_("(c) The median gender pay gap"), "Art. 9(1)(c)", "reg. 2(1)(b), reg. 9"),
    (N_("(d) The median gender pay gap in complementary or variable components"), "Art. 9(1)(d)",
     "reg. 2(1)(d), reg. 11"),
    (N_("(e) The proportion of female and male workers receiving complementary or variable components"),
     "Art. 9(1)(e)", "reg. 2(1)(e), reg. 12"),
    (N_("(f) The proportion of female and male workers in each quartile pay band"), "Art. 9(1)(f)",
     "reg. 2(1)(f), reg. 13"),
    (N_("(g) The gender pay gap by category of workers"), "Art. 9(1)(g)", ""),
    (N_("Art. 10: joint pay assessment"), "Art. 10", ""),
)


def legal_basis(complete: bool, gettext: Callable[[str], str] = str) -> tuple[LegalBasis, ...]:
    """Every report table's provisions; Art. 10's table only in a complete survey's report."""
    return tuple(LegalBasis(table=gettext(t), directive=d, uk=u) for t, d, u in LEGAL_BASIS
                 if complete or d != "Art. 10")


def method_notes(*, model: str, k: int, banded: bool, dp_epsilon: str | None,
                 gettext: Callable[[str], str] = str) -> tuple[str, ...]:
    """How the figures were computed and protected, for a regulator: secure multiparty
    computation, the minimum group size k and suppression, the banding error of medians, and
    differential privacy when used."""
    _ = gettext
    notes = [
        _("Computation: every employee's pay was split into secret shares held by independent nodes ({model} model); the "
          "figures were computed by secure multiparty computation, so no node, nor the analyst, saw any individual "
          "record, and each record was checked on its shares to lie within the survey's declared bounds.").format(
            model=model),
        _("Suppression: no figure is released over fewer than k = {k} employees (for variable pay, fewer than k "
          "recipients); further groups are suppressed where a small group's figures could otherwise be derived by "
          "subtraction.").format(k=k),
    ]
    if banded:
        notes.append(_("Medians and quartile thresholds are interpolated inside pay bands chosen by the organiser; "
                       "each median is shown with the worst-case error (±) this banding allows."))
    if dp_epsilon:
        notes.append(_("Differential privacy: calibrated random noise was added to every released figure, with a "
                       "total privacy budget ε = {epsilon}; the noise's standard deviations are listed in the "
                       "report.").format(epsilon=dp_epsilon))
    return tuple(notes)


def release_date(now: dt.datetime | None = None) -> str:
    """Today's date in UTC, ISO 8601 (the release date shown on the report)."""
    return (now or dt.datetime.now(dt.timezone.utc)).date().isoformat()
