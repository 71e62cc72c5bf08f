"""The host runner: ``benchmark_model`` for this machine, on the LiteRT Python package.

It accepts the ``benchmark_model`` flags that matter and prints the same lines as the TF 2.13+ tool
(``INFO: `` prefixed), with real measurements, so one parser reads both::

    farm-benchmark --graph=model.tflite --num_threads=4 --use_xnnpack=true

Flags: --graph, --num_threads, --num_runs, --min_secs, --max_secs, --warmup_runs,
--warmup_min_secs, --use_xnnpack, --use_gpu, --use_nnapi, --enable_op_profiling,
--report_peak_memory_footprint (accepted; the peak is always reported).

What each delegate means here:

- CPU (``--use_xnnpack=false``): LiteRT's builtin kernels without the default XNNPACK delegate.
- XNNPACK (``--use_xnnpack=true``, the LiteRT default): the coverage verdict is computed from the
  interpreter's execution plan, in the tool's own wording.
- GPU (``--use_gpu=true``): LiteRT's CompiledModel API with the GPU accelerator; without a usable
  driver the invocation fails in the tool's style.
- NNAPI: Android only; fails in the tool's style.
- Op profiling: the Python runtime exposes no per-operator timings, so it is reported as unavailable.

Memory: "footprint delta from the start of the tool" is the change in resident set size (VmRSS);
the "peak via periodic monitoring" is the kernel's high-water mark of it (VmHWM), in MiB like the tool.
Exit status: 0 on success, 1 on failure (the tool's EXIT_FAILURE).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

__all__ = ["Flags", "main", "parse_flags", "run_benchmark"]


class _Failure(Exception):
    """A benchmark failure, already worded like the tool."""

    def __init__(self, *lines: str) -> None:
        super().__init__(lines[0] if lines else "")
        self.lines = lines


@dataclass(frozen=True)
class Flags:
    graph: str = ""
    num_threads: int = -1
    num_runs: int = 50
    min_secs: float = 1.0
    max_secs: float = 150.0
    warmup_runs: int = 1
    warmup_min_secs: float = 0.5
    use_xnnpack: bool = True
    use_gpu: bool = False
    use_nnapi: bool = False
    enable_op_profiling: bool = False
    report_peak_memory_footprint: bool = False


_TRUE = {"1", "true", "yes"}
_FALSE = {"0", "false", "no"}


def _convert(name: str, raw: str, kind: type) -> Any:
    # The message is the C++ tool's own (tools/command_line_flags.cc).
    failure = ValueError(f"Failed to parse flag '{name}' against argv '--{name}={raw}'")
    if kind is bool:
        lowered = raw.lower()
        if lowered in _TRUE | _FALSE:
            return lowered in _TRUE
        raise failure
    try:
        return kind(raw)
    except ValueError:
        raise failure from None


def parse_flags(argv: Sequence[str]) -> Flags:
    """``--name=value`` or ``--name value``; a bare boolean ``--name`` means true.

    Raises ``ValueError`` with the tool's wording for unconsumed or malformed flags.
    """
    kinds = {name: type(value) for name, value in vars(Flags()).items()}
    values: dict[str, Any] = {}
    unconsumed: list[str] = []
    args = list(argv)
    while args:
        arg = args.pop(0)
        if not arg.startswith("--"):
            unconsumed.append(arg)
            continue
        name, sep, raw = arg[2:].partition("=")
        if name not in kinds:
            unconsumed.append(arg)
            continue
        if not sep:
            if kinds[name] is bool and (not args or args[0].lower() not in _TRUE | _FALSE):
                raw = "true"
            elif args:
                raw = args.pop(0)
            else:
                raise ValueError(f"--{name} needs a value")
        values[name] = _convert(name, raw, kinds[name])
    if unconsumed:
        raise ValueError(f"Unconsumed cmdline flags: {' '.join(unconsumed)}")
    return Flags(**values)


def _proc_status_mb(field: str) -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def _random_input(shape: Sequence[int], dtype: Any, rng: np.random.Generator) -> np.ndarray:
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.random(tuple(shape), dtype=np.float32).astype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(max(info.min, -128), min(info.max, 127), size=tuple(shape), dtype=dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, size=tuple(shape)).astype(dtype)
    raise _Failure(f"ERROR: Input tensors of type {dtype} are not supported by this tool.")


def _delegated_nodes(interpreter: Any) -> tuple[int, int, int]:
    """(nodes replaced by delegates, original nodes, delegate kernels) from the execution plan.

    The interpreter lists the original nodes followed by one ``DELEGATE`` node per partition. A
    partition holds the nodes between the delegate node's inputs and outputs: walk back from its
    outputs through the producing nodes until the partition's inputs are reached.
    """
    ops = interpreter._get_ops_details()
    originals = [op for op in ops if op["op_name"] != "DELEGATE"]
    delegates = [op for op in ops if op["op_name"] == "DELEGATE"]
    producer = {int(t): op["index"] for op in originals for t in op["outputs"]}
    by_index = {op["index"]: op for op in originals}
    replaced: set[int] = set()
    for node in delegates:
        boundary = {int(t) for t in node["inputs"]}
        stack = [int(t) for t in node["outputs"]]
        while stack:
            tensor = stack.pop()
            if tensor in boundary or tensor not in producer:
                continue
            index = producer[tensor]
            if index in replaced:
                continue
            replaced.add(index)
            stack.extend(int(t) for t in by_index[index]["inputs"] if t >= 0)
    return len(replaced), len(originals), len(delegates)


class _InterpreterEngine:
    """CPU (with or without XNNPACK) through the classic Interpreter API."""

    def __init__(self, flags: Flags, out: Callable[[str], None]) -> None:
        # Lazy (heavy, optional per session): each session is a fresh process, so it imports only
        # the LiteRT engine it runs.
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        resolver = (OpResolverType.AUTO if flags.use_xnnpack
                    else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        threads = flags.num_threads if flags.num_threads > 0 else None
        try:
            self.interpreter = Interpreter(model_path=flags.graph, num_threads=threads,
                                           experimental_op_resolver_type=resolver)
            self.interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            raise _Failure(f"ERROR: Failed to allocate tensors: {exc}".strip(),
                           "ERROR: Benchmarking failed.") from exc
        if flags.use_xnnpack:
            replaced, total, kernels = _delegated_nodes(self.interpreter)
            if kernels:
                out(f"Replacing {replaced} out of {total} node(s) with delegate "
                    f"(TfLiteXNNPackDelegate) node, yielding {kernels} partitions "
                    "for the whole graph.")
            if replaced == total and kernels:
                out("Explicitly applied XNNPACK delegate, and the model graph will be completely "
                    "executed by the delegate.")
            elif kernels:
                out("Explicitly applied XNNPACK delegate, and the model graph will be partially "
                    f"executed by the delegate w/ {kernels} delegate kernels.")
            else:
                out("Though XNNPACK delegate is explicitly applied, the model graph will not be "
                    "executed by the delegate.")
        rng = np.random.default_rng(0)
        for detail in self.interpreter.get_input_details():
            self.interpreter.set_tensor(
                detail["index"], _random_input(detail["shape"], detail["dtype"], rng))

    def invoke(self) -> None:
        self.interpreter.invoke()


class _CompiledModelEngine:
    """GPU through LiteRT's CompiledModel API (the Interpreter API has no GPU delegate on Linux)."""

    def __init__(self, flags: Flags, out: Callable[[str], None]) -> None:
        # Lazy (heavy, optional per session): only GPU sessions load the CompiledModel API.
        from ai_edge_litert.compiled_model import CompiledModel
        from ai_edge_litert.hardware_accelerator import HardwareAccelerator

        try:
            self.model = CompiledModel.from_file(flags.graph,
                                                 hardware_accel=HardwareAccelerator.GPU)
        except RuntimeError as exc:
            # LiteRT's message is only source locations; what matters is that no GPU accelerator
            # could be created (no GPU, or no usable WebGPU / OpenCL driver).
            raise _Failure("ERROR: GPU delegate is not available on this machine: LiteRT could "
                           "not create a GPU accelerator (no usable GPU driver).",
                           "ERROR: Failed to apply GPU delegate.",
                           "ERROR: Benchmarking failed.") from exc
        if self.model.is_fully_accelerated():
            out("Explicitly applied GPU delegate, and the model graph will be completely executed "
                "by the delegate.")
        else:
            out("Explicitly applied GPU delegate, and the model graph will be partially executed "
                "by the delegate.")
        self.inputs = self.model.create_input_buffers(0)
        self.outputs = self.model.create_output_buffers(0)
        rng = np.random.default_rng(0)
        details = self.model.get_input_tensor_details(self.model.get_signature_by_index(0)["key"])
        for buffer, detail in zip(self.inputs, details.values(), strict=False):
            buffer.write(_random_input(detail["shape"], detail["dtype"], rng))

    def invoke(self) -> None:
        self.model.run_by_index(0, self.inputs, self.outputs)


@dataclass
class _Stats:
    times_us: list[int]

    def line(self) -> str:
        t = np.asarray(self.times_us, dtype=np.float64)
        p5, median, p95 = np.percentile(t, [5, 50, 95], method="inverted_cdf")
        # Population std, as the tool's Stat<int64_t> computes it, printed as an integer.
        return (f"count={len(t)} first={self.times_us[0]} curr={self.times_us[-1]} "
                f"min={int(t.min())} max={int(t.max())} avg={t.mean():g} std={int(t.std())} "
                f"p5={int(p5)} median={int(median)} p95={int(p95)}")

    @property
    def avg(self) -> float:
        return float(np.mean(self.times_us))


def _run_loop(invoke: Callable[[], None], min_runs: int, min_secs: float,
              max_secs: float) -> _Stats:
    times: list[int] = []
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter_ns()
        invoke()
        times.append((time.perf_counter_ns() - t0) // 1000)
        elapsed = time.perf_counter() - start
        if elapsed >= max_secs or (len(times) >= min_runs and elapsed >= min_secs):
            return _Stats(times)


def run_benchmark(flags: Flags, out: Callable[[str], None]) -> None:
    """Run one benchmark invocation, writing tool-style lines through ``out``; raise on failure."""
    rss_start = _proc_status_mb("VmRSS")
    out(f"Num threads: [{flags.num_threads}]")
    out(f"Graph: [{flags.graph}]")
    out(f"Min num runs: [{flags.num_runs}]")
    out(f"Min runs duration (seconds): [{flags.min_secs:g}]")
    out(f"Max runs duration (seconds): [{flags.max_secs:g}]")
    out(f"Num warmup runs: [{flags.warmup_runs}]")
    out(f"Min warmup runs duration (seconds): [{flags.warmup_min_secs:g}]")
    out(f"#threads used for CPU inference: [{flags.num_threads}]")
    out(f"Use xnnpack: [{int(flags.use_xnnpack)}]")
    if flags.use_gpu:
        out("Use gpu: [1]")
    if flags.use_nnapi:
        out("Use NNAPI: [1]")
    if flags.enable_op_profiling:
        out("Enable op profiling: [1]")
    if not flags.graph:
        raise _Failure("ERROR: Please specify the name of your TF Lite input file with --graph",
                       "ERROR: Benchmarking failed.")
    path = Path(flags.graph)
    if not path.is_file():
        raise _Failure(f"ERROR: Could not open '{flags.graph}'.",
                       f"ERROR: Failed to mmap model {flags.graph}",
                       "ERROR: Benchmarking failed.")
    with open(path, "rb") as handle:
        if handle.read(8)[4:8] != b"TFL3":
            raise _Failure(f"ERROR: The model file {flags.graph} is not a valid flatbuffer.",
                           f"ERROR: Failed to mmap model {flags.graph}",
                           "ERROR: Benchmarking failed.")
    out(f"Loaded model {flags.graph}")
    out(f"The input model file size (MB): {path.stat().st_size / 1e6:g}")
    if flags.use_nnapi:
        raise _Failure("ERROR: NNAPI delegate is not supported on this platform.",
                       "ERROR: Failed to apply NNAPI delegate.",
                       "ERROR: Benchmarking failed.")
    if flags.enable_op_profiling:
        out("Op profiling is not available in the LiteRT Python runtime; "
            "no per-operator table will be printed.")

    t0 = time.perf_counter_ns()
    engine: _InterpreterEngine | _CompiledModelEngine = (
        _CompiledModelEngine(flags, out) if flags.use_gpu else _InterpreterEngine(flags, out))
    init_us = (time.perf_counter_ns() - t0) // 1000
    rss_init = _proc_status_mb("VmRSS")
    out(f"Initialized session in {init_us / 1000:.3f}ms.")

    def invoke() -> None:
        try:
            engine.invoke()
        except (RuntimeError, ValueError) as exc:
            raise _Failure(f"ERROR: Failed to invoke: {exc}", "ERROR: Benchmarking failed.") from exc

    out(f"Running benchmark for at least {flags.warmup_runs} iterations and at least "
        f"{flags.warmup_min_secs:g} seconds but terminate if exceeding {flags.max_secs:g} seconds.")
    warmup = _run_loop(invoke, max(flags.warmup_runs, 1), flags.warmup_min_secs, flags.max_secs)
    out(warmup.line())
    out(f"Running benchmark for at least {flags.num_runs} iterations and at least "
        f"{flags.min_secs:g} seconds but terminate if exceeding {flags.max_secs:g} seconds.")
    measured = _run_loop(invoke, max(flags.num_runs, 1), flags.min_secs, flags.max_secs)
    out(measured.line())
    out(f"Inference timings in us: Init: {init_us}, First inference: {warmup.times_us[0]}, "
        f"Warmup (avg): {warmup.avg:g}, Inference (avg): {measured.avg:g}")
    out("Note: as the benchmark tool itself affects memory footprint, the following is only "
        "APPROXIMATE to the actual memory footprint of the model at runtime. Take the information "
        "at your one discretion.")
    rss_end = _proc_status_mb("VmRSS")
    out(f"Memory footprint delta from the start of the tool (MB): "
        f"init={rss_init - rss_start:g} overall={rss_end - rss_start:g}")
    out(f"Overall peak memory footprint (MB) via periodic monitoring: "
        f"{_proc_status_mb('VmHWM'):g}")


def main(argv: Sequence[str] | None = None, stream: TextIO | None = None) -> int:
    stream = stream or sys.stdout

    def out(line: str) -> None:
        prefix = "" if line.startswith("ERROR: ") else "INFO: "
        stream.write(prefix + line + "\n")
        stream.flush()

    out("STARTING!")
    try:
        flags = parse_flags(sys.argv[1:] if argv is None else argv)
    except ValueError as exc:
        out(f"ERROR: {exc}")
        out("ERROR: Benchmarking failed.")
        return 1
    try:
        run_benchmark(flags, out)
    except _Failure as failure:
        for line in failure.lines:
            out(line)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
