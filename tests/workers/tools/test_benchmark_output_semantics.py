"""Rules the samples do not exercise: delegates, error kinds, statistics labelling, edge input."""

from __future__ import annotations

import pytest

from orchestrator.results import DelegateInfo
from workers.tools.benchmark_output import parse_one, parse_output

SUMMARY_OK = (
    "Inference timings in us: Init: 1000, First inference: 3000, Warmup (avg): 2500, "
    "Inference (avg): 2000"
)


def test_gpu_partial_delegation_lists_unsupported_ops() -> None:
    run = parse_one(
        "INFO: STARTING!\nINFO: Use gpu: [1]\nINFO: Created TensorFlow Lite delegate for GPU.\n"
        "ERROR: Following operations are not supported by GPU delegate:\n"
        "GATHER_ND: Operation is not supported.\n"
        "CUSTOM TFLite_Detection_PostProcess: Operation is not supported.\n"
        "DEQUANTIZE: \n"
        "1236 operations will run on the GPU, and the remaining 52 operations will run on the CPU.\n"
        "VERBOSE: Replacing 1236 out of 1288 node(s) with delegate (TfLiteGpuDelegateV2) node, "
        "yielding 3 partitions for subgraph 0.\n"
        "INFO: Created 3 GPU delegate kernels.\n"
        "INFO: Explicitly applied GPU delegate, and the model graph will be partially executed by "
        "the delegate w/ 3 delegate kernels.\n"
    )
    assert run.delegate == DelegateInfo(
        "GPU", "partial", 3, 1236, 1288, 3,
        ("GATHER_ND", "CUSTOM TFLite_Detection_PostProcess", "DEQUANTIZE"),
    )
    # The unsupported-op report is information: a run cut here has no error to blame.
    assert run.status == "incomplete" and run.error is None


def test_old_gpu_wording_gives_counts_without_replacing_line() -> None:
    run = parse_one(
        "Next operations are not supported by GPU delegate:\nMAXIMUM: Operation is not supported.\n"
        "First 0 operations will run on the GPU, and the remaining 81 on the CPU.\n"
    )
    assert run.delegate == DelegateInfo("GPU", "none", None, 0, 81, None, ("MAXIMUM",))


def test_the_delegate_that_executes_wins_over_one_that_does_not() -> None:
    run = parse_one(
        "INFO: Use gpu: [1]\nINFO: Use NNAPI: [1]\n"
        "INFO: Created TensorFlow Lite delegate for GPU.\nINFO: GPU delegate created.\n"
        "INFO: Created TensorFlow Lite delegate for NNAPI.\n"
        "INFO: Going to apply 2 delegates one after another.\n"
        "VERBOSE: Replacing 49 out of 49 node(s) with delegate (TfLiteGpuDelegateV2) node, "
        "yielding 1 partitions for subgraph 0.\n"
        "INFO: Created 1 GPU delegate kernels.\n"
        "INFO: Explicitly applied GPU delegate, and the model graph will be completely executed by "
        "the delegate.\n"
        "INFO: Though NNAPI delegate is explicitly applied, the model graph will not be executed "
        "by the delegate.\n"
    )
    assert run.delegate == DelegateInfo("GPU", "full", 1, 49, 49, 1)


def test_silent_nnapi_fallback_drops_the_node_counts_it_contradicts() -> None:
    run = parse_one(
        "NNAPI delegate created.\n"
        "Replacing 31 out of 31 node(s) with delegate (TfLiteNnapiDelegate) node, yielding 1 partitions.\n"
        "Though NNAPI delegate is explicitly applied, the model graph will not be executed by the delegate.\n"
    )
    assert run.delegate == DelegateInfo("NNAPI", "none", None, None, 31, None)


def test_replacing_lines_add_up_over_subgraphs_and_accelerators_beat_xnnpack() -> None:
    run = parse_one(
        "Replacing 10 out of 12 node(s) with delegate (TfLiteXNNPackDelegate) node, "
        "yielding 2 partitions for subgraph 0.\n"
        "Replacing 5 out of 8 node(s) with delegate (TfLiteHexagonDelegate) node, "
        "yielding 1 partitions for subgraph 0.\n"
        "Replacing 4 out of 4 node(s) with delegate (TfLiteHexagonDelegate) node, "
        "yielding 1 partitions for subgraph 1.\n"
    )
    assert run.delegate == DelegateInfo("HEXAGON", "partial", None, 9, 12, 2)


def test_simple_delegate_node_report() -> None:
    run = parse_one(
        "INFO: Created TensorFlow Lite delegate for Hexagon.\n"
        "INFO: Hexagon delegate: 10 nodes delegated out of 12 nodes with 2 partitions.\n"
    )
    assert run.delegate == DelegateInfo("HEXAGON", "partial", None, 10, 12, 2)


@pytest.mark.parametrize(
    "lines, kind, message",
    [
        (["ERROR: Failed to mmap model /data/local/tmp/x.tflite", "Benchmarking failed."],
         "model_load", "Failed to mmap model /data/local/tmp/x.tflite"),
        (["ERROR: Didn't find op for builtin opcode 'CONV_2D' version '5'", "ERROR: Registration failed.",
          "Failed to construct interpreter", "Benchmarking failed."],
         "unsupported_op", "Didn't find op for builtin opcode 'CONV_2D' version '5'\n"
         "Registration failed.\nFailed to construct interpreter"),
        (["ERROR: tensorflow/lite/kernels/conv.cc:349 input->dims->size != 4 (3 != 4)",
          "ERROR: Node number 0 (CONV_2D) failed to prepare.", "Failed to allocate tensors!",
          "Benchmarking failed."],
         "allocate_tensors", "tensorflow/lite/kernels/conv.cc:349 input->dims->size != 4 (3 != 4)\n"
         "Node number 0 (CONV_2D) failed to prepare.\nFailed to allocate tensors!"),
        (["ERROR: Node number 3 (MUL) failed to invoke.", "ERROR: Benchmarking failed."],
         "invoke_failed", "Node number 3 (MUL) failed to invoke."),
        (["ERROR: Please specify the name of your TF Lite input file with --graph",
          "ERROR: Benchmarking failed."],
         "bad_flags", "Please specify the name of your TF Lite input file with --graph"),
        (["ERROR: something odd", "ERROR: Benchmarking failed."], "unknown", "something odd"),
        (["Benchmarking failed."], "unknown", "Benchmarking failed."),
    ],
)
def test_error_kinds(lines: list[str], kind: str, message: str) -> None:
    run = parse_one("STARTING!\nLoaded model /data/local/tmp/x.tflite\n" + "\n".join(lines) + "\n")
    assert run.status == "failed"
    assert run.error is not None and (run.error.kind, run.error.message) == (kind, message)


@pytest.mark.parametrize(
    "crash", ["Segmentation fault", "Aborted", "11-25 13:01:02.345  1234  1234 F libc    : "
              "Fatal signal 11 (SIGSEGV), code 1 (SEGV_MAPERR), fault addr 0x0"],
)
def test_a_crash_after_the_summary_fails_the_run(crash: str) -> None:
    run = parse_one(f"STARTING!\n{SUMMARY_OK}\n{crash}\n")
    assert run.status == "failed"
    assert run.error is not None and run.error.kind == "crash"
    assert run.inference_avg_ms == pytest.approx(2.0)  # what was printed before the crash stays


def test_lone_unlabelled_statistics_line_is_not_guessed() -> None:
    run = parse_one("count=50 first=100 curr=100 min=90 max=120 avg=100 std=5\n")
    assert run.status == "incomplete"
    assert run.measures() == dict.fromkeys(run.measures())


def test_unlabelled_line_before_a_header_is_the_warmup() -> None:
    run = parse_one(
        "count=7 first=127425 curr=66709 min=66709 max=127425 avg=76605.9 std=20944\n\n"
        "Running benchmark for at least 10 iterations and at least 1 seconds\n"
        "count=15 first=66753 curr=66800 min=66699 max=66838 avg=66767.6 std=39\n"
    )
    assert (run.first_inference_ms, run.warmup_avg_ms) == (pytest.approx(127.425), pytest.approx(76.6059))
    assert (run.inference_avg_ms, run.inference_count) == (pytest.approx(66.7676), 15)


def test_summary_relabels_a_statistics_line_a_cut_mislabelled() -> None:
    # The text starts after the warmup statistics: the only header is the measured one.
    run = parse_one(
        "Running benchmark for at least 50 iterations and at least 1 seconds\n"
        "count=50 first=19876 curr=19800 min=19400 max=20500 avg=19850.2 std=120\n"
        "Inference timings in us: Init: 12345, First inference: 20123, Warmup (avg): 19900.1, "
        "Inference (avg): 19850.2\n"
    )
    assert (run.inference_min_ms, run.inference_count) == (pytest.approx(19.4), 50)
    assert run.first_inference_ms == pytest.approx(20.123)


@pytest.mark.parametrize("text", ["", "\n\n", "hello\nworld", "$ ls\nfoo bar\n", "count=\n"])
def test_text_without_benchmark_output_is_one_empty_incomplete_run(text: str) -> None:
    (run,) = parse_output(text)
    assert run.status == "incomplete" and run.error is None and run.delegate is None
    assert run.measures() == dict.fromkeys(run.measures()) and run.ops == ()


def test_default_thread_count_is_not_a_thread_count() -> None:
    assert parse_one("Num threads: [-1]\n#threads used for CPU inference: [-1]\n").num_threads is None


def test_litert_peak_memory_and_units() -> None:
    run = parse_one(
        "========== BENCHMARK RESULTS ==========\nModel initialization: 1.5 s\n"
        "Inference (avg): 250 us (40 runs)\nPeak memory usage: 12.5 MB\n"
    )
    assert (run.status, run.init_ms, run.inference_avg_ms) == ("ok", 1500.0, 0.25)
    assert (run.inference_count, run.memory_peak_mb) == (40, 12.5)


def test_parse_one_ignores_invocation_boundaries() -> None:
    text = "STARTING!\nNum threads: [2]\nSTARTING!\nNum threads: [4]\n"
    assert [run.num_threads for run in parse_output(text)] == [2, 4]
    assert parse_one(text).num_threads == 4
