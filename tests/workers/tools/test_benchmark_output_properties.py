"""Property tests: no text makes the parser raise, and what it returns is always well formed."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.results import ERROR_KINDS, ParsedRun
from tests.workers.tools.helpers import sample_names, sample_text
from workers.tools.benchmark_output import parse_output

REAL_LINES = sorted({line for name in sample_names() for line in sample_text(name).splitlines()})
ANY_LINE = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"))
# Real lines, cut anywhere and glued to arbitrary text, reach the parser's deeper branches.
MUTATED_LINE = st.builds(
    lambda line, cut, tail: line[:cut] + tail, st.sampled_from(REAL_LINES), st.integers(0, 200),
    ANY_LINE,
)


def _check(runs: list[ParsedRun]) -> None:
    assert runs
    for run in runs:
        json.dumps(run.to_json(), allow_nan=False)  # finite numbers only
        if run.status == "ok":
            assert run.error is None
        if run.status == "failed":
            assert run.error is not None
        if run.error is not None:
            assert run.error.kind in ERROR_KINDS and run.error.message
        assert run.inference_count is None or run.inference_count >= 0
        assert run.num_threads is None or run.num_threads > 0


@given(st.text())
def test_never_raises_on_arbitrary_text(text: str) -> None:
    _check(parse_output(text))


@settings(max_examples=300)
@given(st.lists(st.one_of(st.sampled_from(REAL_LINES), MUTATED_LINE, ANY_LINE), max_size=80))
def test_never_raises_on_benchmark_like_lines(lines: list[str]) -> None:
    _check(parse_output("\n".join(lines)))


@given(st.lists(st.tuples(st.integers(0, 10_000), ANY_LINE), max_size=20))
def test_arbitrary_lines_mixed_into_a_real_log(insertions: list[tuple[int, str]]) -> None:
    lines = sample_text("23_litert_benchmark_cpu_xnnpack_profiler_sme2").splitlines()
    for position, line in insertions:
        lines.insert(position % (len(lines) + 1), line)
    _check(parse_output("\n".join(lines)))
