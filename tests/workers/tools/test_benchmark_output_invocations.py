"""``parse_invocations``: each invocation's raw text, and the same parse as ``parse_output``."""

from __future__ import annotations

import pytest

from tests.workers.tools.helpers import sample_names, sample_text
from workers.tools.benchmark_output import parse_invocations, parse_one, parse_output


@pytest.mark.parametrize("name", sample_names())
def test_raw_text_round_trips(name: str) -> None:
    text = sample_text(name)
    invocations = parse_invocations(text)
    assert [i.run for i in invocations] == parse_output(text)
    for invocation in invocations:
        assert invocation.text in text
        assert parse_one(invocation.text) == invocation.run


def test_transcript_is_split_at_each_start() -> None:
    names = sample_names()
    transcript = "\n".join(f"$ ./benchmark_model ...\n{sample_text(n)}" for n in names[-3:])
    invocations = parse_invocations(transcript)
    starts = [i for i in invocations if "STARTING!" in i.text]
    assert all(i.text.count("STARTING!") == 1 for i in starts)
    assert len(invocations) >= len(starts) >= 1
