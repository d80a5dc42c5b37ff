"""The domain-separation label registry (protocol/labels.py): labels are distinct, none is a
prefix of another (so no input under one label can be parsed as an input under another), and
every module uses the registry rather than spelling a label itself."""

from __future__ import annotations

import itertools
from pathlib import Path

from protocol.labels import Label

ROOT = Path(__file__).resolve().parent.parent


def test_labels_are_distinct_and_none_is_a_prefix_of_another() -> None:
    values = [m.value for m in Label]
    assert len(values) == len(set(values)) == len(Label.__members__)  # no enum aliases either
    for a, b in itertools.permutations(values, 2):
        assert not b.startswith(a), (a, b)


def test_every_label_is_versioned_and_terminated() -> None:
    for m in Label:
        assert m.value.startswith(b"salary-mpc/v") and m.value[-1:] in (b"\x00", b"\n"), m


def test_no_module_spells_a_label_outside_the_registry() -> None:
    offenders = [p.relative_to(ROOT).as_posix()
                 for pkg in ("protocol", "contributor", "mpc_nodes", "analyst")
                 for p in (ROOT / pkg).rglob("*.py")
                 if p.name != "labels.py" and "salary-mpc/v" in p.read_text()]
    assert offenders == []
