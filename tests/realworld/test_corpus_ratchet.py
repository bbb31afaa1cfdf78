"""The ratchet on real vendor firmware: detection on ../shared/corpus/realworld may only go up.

Each image is scanned once per test session (as a user would, `iotcop scan IMAGE --format json`) and judged
against tests/data/realworld/<image>.yaml by iotcop.evaluation, the same code `benchmarks/realworld` and
`iotcop evaluate` use.  A change that finds more must record it in the YAML file's `ratchet` block.
"""

from __future__ import annotations

import re

import pytest
from support import REPO, corpus_file

from iotcop.evaluation import evaluate_corpus, expected_files, load_expected

pytestmark = [pytest.mark.corpus, pytest.mark.xdist_group("realworld-corpus")]

EXPECTED_DIR = REPO / "tests" / "data" / "realworld"
NAMES = sorted(p.stem for p in EXPECTED_DIR.glob("*.yaml"))
_FACT_ROW = re.compile(r"^\|\s*(\d+)\s*\|")
_NEGATIVE_ROW = re.compile(r"^\|\s*(N\d+)\s*\|")


@pytest.fixture(scope="module")
def corpus_results():
    results = evaluate_corpus(expected_files(EXPECTED_DIR), corpus_file("realworld"))
    return {r.expected.path.stem: r for r in results}


def test_the_six_corpus_images_have_expected_results():
    images = sorted(p.name.removesuffix(".tar.gz") for p in corpus_file("realworld").glob("*.tar.gz"))
    assert images == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_every_fact_and_negative_of_the_facts_file_is_encoded(name):
    expected = load_expected(EXPECTED_DIR / f"{name}.yaml")
    facts_md = corpus_file("realworld", f"{name}.facts.md").read_text(encoding="utf-8")
    assert expected.image == f"{name}.tar.gz" and expected.source == f"{name}.facts.md"
    fact_rows = {f"F{m.group(1)}" for line in facts_md.splitlines() if (m := _FACT_ROW.match(line))}
    negative_rows = {m.group(1) for line in facts_md.splitlines() if (m := _NEGATIVE_ROW.match(line))}
    assert fact_rows and negative_rows
    assert {f.id for f in expected.facts} == fact_rows  # each fact encoded (or disputed with a reason)
    assert {n.id for n in expected.negatives if n.origin is None} == negative_rows
    assert all(n.id not in negative_rows for n in expected.negatives if n.origin is not None)


@pytest.mark.parametrize("name", NAMES)
def test_no_fact_lost_and_no_negative_newly_hit(corpus_results, name):
    regressions, _ = corpus_results[name].ratchet_problems()
    assert regressions == []


@pytest.mark.parametrize("name", NAMES)
def test_ratchet_record_is_current(corpus_results, name):
    # Finding more (or hitting fewer negatives) is progress; record it so it cannot be lost again unnoticed.
    _, stale = corpus_results[name].ratchet_problems()
    assert stale == []
