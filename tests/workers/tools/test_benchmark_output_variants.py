"""The real samples rewritten the ways the field rewrites them: the parse must not change."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from orchestrator.results import MEASURE_FIELDS
from tests.workers.tools.helpers import assert_runs_match, expected, sample_names, sample_text
from workers.tools.benchmark_output import parse_output

SAMPLES = sample_names()
_LEVEL = re.compile(r"^(INFO|VERBOSE|ERROR): ")
_PROVENANCE = re.compile(r"^# (source|tf version|device|command|note): ")


def _map_lines(text: str, change) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(change(line) for line in text.split("\n"))


def _body(name: str) -> str:
    return "\n".join(
        line for line in sample_text(name).split("\n") if not _PROVENANCE.match(line)
    )


def _logcat(line: str) -> str:
    level = "E" if line.startswith("ERROR: ") else "I"
    return f"11-25 13:01:02.345  1234  1250 {level} tflite  : {_LEVEL.sub('', line)}"


def _scientific(line: str) -> str:
    if "\t" in line:  # op-table rows hold names like "...]:0" that are not numbers
        return line

    def convert(match: re.Match[str]) -> str:
        return match.group(1) + format(Decimal(match.group(2)), "e")

    return re.sub(r"([=:] ?)(\d+(?:\.\d+)?)(?=[\s,]|$)", convert, line)


VARIANTS = {
    "prefixes stripped": lambda text: _map_lines(text, lambda line: _LEVEL.sub("", line)),
    "INFO prefix added": lambda text: _map_lines(
        text, lambda line: line if _LEVEL.match(line) else f"INFO: {line}"
    ),
    "logcat threadtime": lambda text: _map_lines(text, _logcat),
    "logcat brief": lambda text: _map_lines(
        text, lambda line: f"{'E' if line.startswith('ERROR: ') else 'I'}/tflite  ( 1234): "
        + _LEVEL.sub("", line)
    ),
    "scientific notation": lambda text: _map_lines(text, _scientific),
    "CRLF": lambda text: text.replace("\n", "\r\n"),
    "CR": lambda text: text.replace("\n", "\r"),
    "ANSI colours": lambda text: _map_lines(text, lambda line: f"\x1b[32m{line}\x1b[0m"),
    "op tables without tabs": lambda text: text.replace("\t", "   "),
    "shell noise around": lambda text: (
        "user@host:~$ adb shell\ngeneric_arm64:/ $ cd /data/local/tmp\n"
        "generic_arm64:/data/local/tmp $ ls\nbenchmark_model  m.tflite\n"
        + text
        + "\ngeneric_arm64:/data/local/tmp $ exit\nuser@host:~$ "
    ),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("name", SAMPLES)
def test_variant_parses_like_the_original(name: str, variant: str) -> None:
    assert_runs_match(parse_output(VARIANTS[variant](sample_text(name))), expected(name))


def test_scientific_variant_really_rewrites_numbers() -> None:
    # Keeps the variant honest: it must change the numbers the parser reads.
    text = VARIANTS["scientific notation"](sample_text("17_desktop_x86_tf213_info_prefix_no_xnnpack_quant"))
    assert "avg=1.16066e+5" in text and "Init: 5.30e+2" in text


def test_tf22_summary_in_scientific_notation() -> None:
    (run,) = parse_output(
        "STARTING!\nAverage inference timings in us: Warmup: 1.68505e+07, Init: 2.3e+06, "
        "Inference: 1.5e+07\n"
    )
    assert run.status == "ok"
    assert run.warmup_avg_ms == pytest.approx(16850.5)
    assert run.init_ms == pytest.approx(2300.0)
    assert run.inference_avg_ms == pytest.approx(15000.0)


def test_several_invocations_in_one_transcript() -> None:
    names = [
        "15_legacy_tf1x_average_inference_timings_nnapi_missing",
        "17_desktop_x86_tf213_info_prefix_no_xnnpack_quant",
        "04_nnapi_qti-default_failed_to_prepare",
        "91_host_runner_nnapi_failed",
        "90_host_runner_xnnpack",
    ]
    prompt = "\nshell@phone:/data/local/tmp $ ./benchmark_model --graph=m.tflite\n"
    transcript = prompt.join(_body(name) for name in names)
    wanted = [run for name in names for run in expected(name)]
    assert len(wanted) == 6
    assert_runs_match(parse_output(transcript), wanted)


@pytest.mark.parametrize("name", SAMPLES)
def test_truncation_at_every_line(name: str) -> None:
    lines = sample_text(name).split("\n")
    full = parse_output(sample_text(name))
    for cut in range(len(lines) + 1):
        runs = parse_output("\n".join(lines[:cut]))
        assert runs, cut
        # Invocations before the cut are complete and identical to the full parse.
        assert [r.to_json() for r in runs[:-1]] == [r.to_json() for r in full[: len(runs) - 1]]
        last, reference = runs[-1], full[len(runs) - 1]
        # A cut never invents a number: whatever the partial text gives is the final value.
        for field in MEASURE_FIELDS:
            value = getattr(last, field)
            assert value is None or value == getattr(reference, field), (cut, field, value)
        assert last.status in ("incomplete", reference.status), cut
        if last.status == "ok":
            assert last.error is None


def test_incomplete_run_keeps_its_warmup_statistics() -> None:
    lines = sample_text("14_xnnpack_raspberrypi_op_profiling").split("\n")
    cut = next(i for i, line in enumerate(lines) if line.startswith("count=9 ")) + 1
    (run,) = parse_output("\n".join(lines[:cut]))
    assert run.status == "incomplete" and run.error is None
    assert run.first_inference_ms == pytest.approx(64.791)
    assert run.warmup_avg_ms == pytest.approx(57.7582)
    assert run.init_ms == pytest.approx(18.777)
    assert (run.num_threads, run.model_size_mb) == (4, pytest.approx(3.67827))
    assert run.inference_avg_ms is None and run.inference_count is None


def test_cut_failed_run_already_reports_its_cause() -> None:
    text = sample_text("04_nnapi_qti-default_failed_to_prepare")
    (run,) = parse_output(text.rsplit("Benchmarking failed.", 1)[0])
    assert run.status == "incomplete"
    assert run.error is not None and run.error.kind == "delegate_failed"
    assert run.error.message.endswith("Failed to apply NNAPI delegate.")


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["23_litert_benchmark_cpu_xnnpack_profiler_sme2", "04_nnapi_qti-default_failed_to_prepare"]
)
def test_truncation_at_every_character_never_raises(name: str) -> None:
    text = sample_text(name)
    for cut in range(len(text) + 1):
        for run in parse_output(text[:cut]):
            assert run.status in ("ok", "failed", "incomplete")
