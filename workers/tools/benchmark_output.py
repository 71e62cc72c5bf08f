"""Read what a TFLite / LiteRT ``benchmark_model`` printed, whatever its generation.

Pure and tolerant (jc style): every line is normalised, matched against the variants below, and
converted with helpers that return ``None`` instead of raising. Unknown lines are ignored; no text
makes this module raise. Output is ``orchestrator.results.ParsedRun`` (its docstring is the JSON
schema); times are converted to milliseconds, memory is MB, ``None`` means "the text did not say".

API::

    parse_output(text) -> list[ParsedRun]   # one entry per invocation, at least one
    parse_invocations(text) -> list[Invocation]  # the same, each with its own raw text
    parse_one(text) -> ParsedRun            # the whole text as one invocation

Invocations: each starts at a line ending in ``STARTING!`` (a shell prompt may be glued in front of
it). Text before the first ``STARTING!`` is an invocation of its own only if it holds benchmark
output (a transcript cut at the top); text without any ``STARTING!`` is a single invocation.

Line wrappers stripped first, in any nesting, so every variant below matches with or without them:
  - logcat ``11-25 13:01:02.345  1234  1250 I tflite  : `` (threadtime), ``I/tflite( 1234): ``
    (brief) and ``11-25 13:01:02.345 I/tflite( 1234): `` (time); level E/F/A marks an error line
  - ``INFO: `` / ``VERBOSE: `` / ``WARNING: `` / ``WARN: `` / ``DEBUG: `` / ``ERROR: `` / ``FATAL: ``
  - glog ``E1125 13:01:02.345678  1234 file.cc:12] `` and LiteRT ``[litert/x/file.h:81] ``
  - ANSI colour codes; CRLF and CR line ends

Recognised lines (numbers may be in scientific notation, ``1.68505e+07``):
  - ``count=N first= curr= min= max= avg= std= [p5= median= p95=]`` (microseconds). The first
    one after the first ``Running benchmark for at least ...`` line is the warmup statistics
    (``first=`` is the first inference, ``avg=`` the warmup average); the one after the second is
    the measured statistics (``inference_*``, ``inference_count``; median only from ``median=``).
    A third/fourth header starts a new warmup/measured pair. A statistics line with no header before
    it (a tail paste, samples 01/02) is identified by the summary: the line whose ``avg=`` equals
    the summary's inference average is the measured one, the line equal to its warmup average is
    the warmup one; the summary also corrects a header count thrown off by a cut transcript. Without
    a summary, a lone unlabelled line is not reported (it could be either); if it precedes header
    lines, it is taken as the warmup line and the next header as the measured one.
    ``Timings (microseconds): count=...`` lines belong to the op profiler and are ignored.
  - Summaries (status ``ok``): ``Inference timings in us: Init: A, First inference: B,
    Warmup (avg): C, Inference (avg): D`` (TF >= 2.3); ``Average inference timings in us:
    Warmup: X, Init: Y, Inference: Z`` (TF 2.2) or ``..., no stats: Z`` (TF 1.x); LiteRT's
    ``==== BENCHMARK RESULTS ====`` block with ``Model initialization: X ms``, ``Warmup (first)``,
    ``Warmup (avg)``, ``Inference (avg): X ms (N runs)``, ``Inference (min|max|std)``
    (``std`` is printed without a unit; LiteRT prints it in ms), ``Init footprint: X MB``,
    ``Overall footprint: X MB``, ``Peak memory usage: X MB``.
    When two lines give the same value, the more precise one wins: microsecond statistics and
    summaries and ``Initialized session in X ms`` beat the LiteRT block's two-decimal ms values.
  - ``Initialized session in X ms``, ``The input model file size (MB): X``,
    ``#threads used for CPU inference: [N]`` (preferred) / ``Num threads: [N]`` (negative = "let
    the runtime choose", reported as None).
  - Memory: ``Peak memory footprint (MB): init= overall=`` (TF 2.3/2.4) and ``Memory footprint
    delta from the start of the tool (MB): init= overall=`` (later) give ``memory_init_mb`` /
    ``memory_overall_mb``; ``Overall peak memory footprint (MB) via periodic monitoring: N`` gives
    ``memory_peak_mb``.
  - Delegate, strongest evidence first (the delegate reported is the one the strongest evidence
    names; among verdicts the one executing most of the graph; otherwise a non-XNNPACK delegate
    over the default XNNPACK one):
      1. verdicts ``Explicitly applied X delegate, and the model graph will be completely|partially
         executed by the delegate [(]w/ N delegate kernels[)]`` / ``Though X delegate is explicitly
         applied, the model graph will not be executed by the delegate`` (coverage full/partial/none)
      2. node counts ``Replacing N out of M node(s) with delegate (TfLiteXDelegate) node, yielding
         K partitions [for subgraph S]`` (summed over subgraphs), ``X delegate: N nodes delegated
         out of M nodes [with K partitions]``, the GPU delegate's ``[First] N operations will run
         on the GPU, and the remaining M [operations will run] on the CPU`` and
         ``Created N GPU delegate kernels``; coverage from the counts when no verdict says it.
         If the verdict says "not executed", node counts that claim otherwise are dropped.
      3. ``Created TensorFlow Lite [XNNPACK ]delegate for X`` / ``X delegate created``
      4. the flag echo ``Use gpu|nnapi|hexagon|xnnpack|coreml : [1]``
      5. delegate kernels in the regular-run op profile (``TfLiteNnapiDelegate`` rows): kernels and
         partitions = their number, coverage full if no other operator ran, else partial.
    Unsupported ops: the GPU delegate's ``Following|Next operations are not supported by GPU
    delegate:`` list (``OP_NAME: reason`` lines). NNAPI failures (samples 04/05) name no operator.
  - Op profile: ``Operator-wise Profiling Info for Regular Benchmark Runs:`` (or a table with no
    section header, as LiteRT prints it) ``==== Run Order ====`` table, else the ``Top by
    Computation Time`` one (which lists only the top N); ``Profiling Info for Benchmark
    Initialization`` and ``Summary by node type`` tables are skipped. Columns are found from the
    ``[node type] ... [Name]`` header; rows are tab-separated, or space-aligned when tabs were lost.
  - Failure (status ``failed``): ``Benchmarking failed.``, a crash (``Segmentation fault``, ``Fatal
    signal N``, ``Aborted``, ``Killed``, ``Check failed:``, ``terminate called ...``) or ``CANNOT
    LINK EXECUTABLE``. A failure anywhere in the invocation wins over a summary.

Status: ``failed`` if a failure line is present, else ``ok`` if a summary was printed, else
``incomplete``. ``error`` is None for ``ok`` runs; otherwise it holds the error lines (lines with an
error level, or saying "failed", "could not", "unable to", a crash...) that no rule above understood
(an ERROR-level delegate report such as the GPU unsupported-op list is information, not a cause)
in order, de-duplicated,
joined with newlines (``Benchmarking failed.`` only when nothing else was said), and a kind from
the first matching class in: crash, bad_flags, model_load, unsupported_op, delegate_failed,
allocate_tensors, invoke_failed, else unknown. An ``incomplete`` run with no error line (the text
just stops) has ``error`` None.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from orchestrator.results import DelegateInfo, OpRow, ParsedRun, RunError, Status

__all__ = ["Invocation", "parse_invocations", "parse_one", "parse_output"]

_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_NUM_RE = re.compile(_NUM)
_I = re.IGNORECASE

# Value sources, best first: a value is only replaced by one from an equal or better source.
_PRECISE = 0  # microsecond statistics and summaries, "Initialized session in 1.234ms"
_COARSE = 1  # LiteRT's BENCHMARK RESULTS block (two decimals of ms), "Num threads" flag echo


# ---------------------------------------------------------------------------------------------
# converters: never raise, None when the text is not a usable number


def _to_float(text: str | None) -> float | None:
    if text is None or not _NUM_RE.fullmatch(text.strip()):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def _to_int(text: str | None) -> int | None:
    value = _to_float(text)
    if value is None or not value.is_integer() or abs(value) > 2**53:
        return None
    return int(value)


def _count(text: str | None) -> int | None:
    value = _to_int(text)
    return value if value is not None and value >= 0 else None


def _to_ms(text: str | None, unit: str | None) -> float | None:
    value = _to_float(text)
    if value is None:
        return None
    unit = (unit or "ms").lower()
    if unit == "us":
        return value / 1000
    if unit == "s":
        return value * 1000
    return value if unit == "ms" else None


# ---------------------------------------------------------------------------------------------
# line normalisation

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_WRAPPERS = (
    # logcat threadtime, time and brief formats
    re.compile(
        r"^\s*(?:\d{4}-)?\d\d-\d\d\s+\d\d:\d\d:\d\d\.\d+\s+\d+\s+\d+\s+(?P<level>[VDIWEFA])\s+"
        r"[^:]*: ?"
    ),
    re.compile(
        r"^\s*(?:\d{4}-)?\d\d-\d\d\s+\d\d:\d\d:\d\d\.\d+\s+(?P<level>[VDIWEFA])/[^(]*\(\s*\d+\): ?"
    ),
    re.compile(r"^\s*(?P<level>[VDIWEFA])/[^(:]*\(\s*\d+\): ?"),
    re.compile(r"^(?P<level>INFO|VERBOSE|WARNING|WARN|DEBUG|ERROR|FATAL): ?"),
    re.compile(r"^(?P<level>[IWEF])\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ [^\]\s]+:\d+\] ?"),
    re.compile(r"^\[[^\]\s]+:\d+\] ?"),
)
_ERROR_LEVELS = {"E", "F", "A", "ERROR", "FATAL"}


@dataclass(frozen=True)
class _Line:
    text: str
    error_level: bool


def _normalise(raw: str) -> _Line:
    text = _ANSI.sub("", raw)
    error_level = False
    for _ in range(8):  # wrappers nest (logcat around "INFO: " around "[file:line] ")
        for wrapper in _WRAPPERS:
            match = wrapper.match(text)
            if match and match.end() > 0:
                error_level = error_level or match.groupdict().get("level") in _ERROR_LEVELS
                text = text[match.end() :]
                break
        else:
            break
    return _Line(text.strip(), error_level)


# ---------------------------------------------------------------------------------------------
# line patterns

_STARTING = re.compile(r"STARTING!\s*$")
_RUNNING = re.compile(r"^Running benchmark for at least", _I)
_STATS = re.compile(r"^count=(\S+)(.*)$")
_KEY_VALUE = re.compile(r"(\w+)=(\S+)")
_SUMMARY = re.compile(r"^(?:Average )?inference timings in (us|ms|s):(.*)$", _I)
_SUMMARY_PAIR = re.compile(r"\s*([A-Za-z][A-Za-z ()]*?)\s*:\s*(" + _NUM + r")\s*(?:,|$)")
_INIT_SESSION = re.compile(r"^Initialized session in\s*(" + _NUM + r")\s*(ms|us|s)\b", _I)
_MODEL_SIZE = re.compile(r"^The input model file size \(MB\):\s*(" + _NUM + r")")
_THREADS_USED = re.compile(r"^#threads used for CPU inference\s*:\s*\[(" + _NUM + r")\]", _I)
_NUM_THREADS = re.compile(r"^Num[ _]threads\s*:\s*\[(" + _NUM + r")\]", _I)
_MEMORY = re.compile(
    r"^(?:Peak memory footprint|Memory footprint delta from the start of the tool)\s*\(MB\):"
    r"\s*init=(\S+)\s+overall=(\S+)",
    _I,
)
_PEAK = re.compile(
    r"^Overall peak memory footprint \(MB\) via periodic monitoring:\s*(" + _NUM + ")", _I
)
_RESULTS_TITLE = re.compile(r"^=+\s*BENCHMARK RESULTS\s*=+$", _I)
_LITERT_TIME = re.compile(
    r"^(Model initialization|Warmup \(first\)|Warmup \(avg\)|Inference \((?:avg|min|max|std)\))"
    r":\s*(" + _NUM + r")\s*(ms|us|s)?\b(?:\s*\((\d+) runs\))?",
    _I,
)
_LITERT_MEMORY = re.compile(
    r"^(Init footprint|Overall footprint|Peak memory (?:usage|footprint)):\s*(" + _NUM + r")\s*MB",
    _I,
)
_VERDICT = re.compile(
    r"^Explicitly applied (.+?) delegate, and the model graph will be (completely|partially)"
    r" executed by the delegate(?:\s*\(?\s*w/\s*(\d+) delegate kernels)?",
    _I,
)
_VERDICT_NONE = re.compile(
    r"^Though (.+?) delegate is explicitly applied, the model graph will not be executed", _I
)
_REPLACING = re.compile(
    r"^Replacing (\d+) out of (\d+) node\(s\) with delegate \(([^)]+)\) node"
    r"(?:, yielding (\d+) partitions?)?(?: for subgraph (\d+))?",
    _I,
)
_NODES_DELEGATED = re.compile(
    r"^(.+?):\s*(\d+) nodes delegated out of (\d+) nodes(?: with (\d+) partitions?)?", _I
)
_GPU_KERNELS = re.compile(r"^Created (\d+) GPU delegate kernels", _I)
_GPU_LIST = re.compile(r"^(?:Following|Next) operations are not supported by (?:the )?GPU delegate")
_GPU_OP = re.compile(r"^([A-Z][A-Z0-9_]*(?: [A-Za-z0-9_.\-/]+)?):")
_GPU_SPLIT = re.compile(
    r"^(?:First )?(\d+) operations will run on the GPU, and the remaining (\d+)", _I
)
_CREATED = re.compile(r"^Created TensorFlow Lite (?:(\w+) )?delegate for (.+?)\.?$", _I)
_CREATED_SHORT = re.compile(r"^(\w+) delegate created\.?$", _I)
_FLAG_DELEGATE = re.compile(
    r"^Use (gpu|nnapi|legacy nnapi|hexagon|xnnpack|coreml)\s*:\s*\[(?:1|true)\]", _I
)
_TABLE_TITLE = re.compile(r"^=+\s*(Run Order|Top by .+?|Summary by .+?)\s*=+$", _I)
_SECTION_INIT = re.compile(r"^Profiling Info for Benchmark Initialization", _I)
_SECTION_REGULAR = re.compile(r"^Operator-wise Profiling Info", _I)
_OTHER_EVIDENCE = re.compile(
    r"^(?:Loaded model\b|Graph:\s*\[|Log parameter values verbosely|Min num runs|"
    r"Going to apply \d+ delegates|resolved reporter|Initialized TensorFlow Lite runtime|"
    r"Number of nodes executed)",
    _I,
)

_FAILURE = re.compile(
    r"^Benchmarking failed|CANNOT LINK EXECUTABLE|segmentation fault|^Fatal signal \d+|"
    r"^Aborted\b|^Killed\b|^Check failed:|^terminate called|illegal instruction|\bbus error\b",
    _I,
)
# Lines without an error level that still report a problem.
_ERROR_WORDS = re.compile(
    r"\bfailed\b|\bfailure\b|returned error|"
    r"^(?:could not|couldn't|cannot|can't|unable to|didn't find|error\b)|"
    r"segmentation fault|fatal signal|^aborted\b|^killed\b|core dumped|^terminate called|"
    r"illegal instruction|\bbus error\b|^usage:|unknown flag|disallowed cpu fallback|"
    r"cannot link executable|not supported on this platform",
    _I,
)
_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern, _I))
    for kind, pattern in (
        (
            "crash",
            r"segmentation fault|fatal signal \d+|\bSIG(?:SEGV|ABRT|BUS|ILL|FPE)\b|^aborted\b|"
            r"^killed\b|\bbus error\b|illegal instruction|core dumped|^terminate called|"
            r"check failed:|abort message",
        ),
        (
            "bad_flags",
            r"^usage:|unknown (?:flag|argument|option)|unrecognized (?:flag|argument|option)|"
            r"failed to parse|unconsumed (?:cmdline )?flags|please specify|"
            r"invalid (?:flag|value for|argument)",
        ),
        (
            "model_load",
            r"failed to mmap model|could not open '|could not (?:open|read|load) (?:the )?model|"
            r"not a valid (?:flatbuffer|tf ?lite)|model identifier|"
            r"failed to (?:load|read) (?:the )?model|no such file or directory|"
            r"unable to (?:open|load|read) (?:the )?(?:model|file)|invalid model",
        ),
        (
            "unsupported_op",
            r"didn't find (?:op|custom op)|unresolved custom op|builtin_code out of range|"
            r"registration failed|unsupported (?:op|operator|builtin)|"
            r"not supported by this interpreter|op type not registered",
        ),
        (
            "delegate_failed",
            r"delegat|nn ?api|aneuralnetworks|cpu fallback|opencl|opengl|xnnpack|hexagon",
        ),
        (
            "allocate_tensors",
            r"failed to allocate tensors|allocatetensors\(\) failed|failed to prepare",
        ),
        (
            "invoke_failed",
            r"failed to invoke|failed invoke|invoke\(\) failed|invoke failed|"
            r"failed to run (?:the )?(?:model|inference)",
        ),
    )
)
_GENERIC_FAILURE = re.compile(r"^Benchmarking failed\.?$", _I)
_PROFILE_NON_OPS = re.compile(r"^(?:AllocateTensors|ModifyGraphWithDelegate|LiteRT::)")
_DELEGATE_NODE = re.compile(r"^TfLite(\w+?)Delegate(?:V\d+)?$")
_ALIASES = {
    "NN API": "NNAPI",
    "LEGACY NNAPI": "NNAPI",
    "XNNPACK": "XNNPACK",
    "METAL": "GPU",
    "SELECT TF OPS": "FLEX",
}
_COVERAGE_ORDER = {"full": 0, "partial": 1, "none": 2}


def _delegate_name(raw: str) -> str:
    """``TfLiteGpuDelegateV2`` / ``Hexagon`` / ``EthosuDelegate`` -> ``GPU`` / ``HEXAGON`` / ..."""
    name = raw.strip().strip("[]").strip()
    node = _DELEGATE_NODE.fullmatch(name)
    if node:
        name = node.group(1)
    name = re.sub(r"\s*delegate(?:V\d+)?$", "", name, flags=_I).strip()
    name = name.upper()
    return _ALIASES.get(name, name)


def _coverage(delegated: int | None, total: int | None) -> str | None:
    if delegated is None or total is None or total <= 0 or delegated > total:
        return None
    if delegated == 0:
        return "none"
    return "full" if delegated == total else "partial"


def _close(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


# ---------------------------------------------------------------------------------------------
# op profile tables


@lru_cache(maxsize=32)
def _spaced_row(numeric_columns: int) -> re.Pattern[str]:
    """A row whose tabs were lost: node type, N numbers (some with %), then the name."""
    number = r"(-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?%?)"
    return re.compile(r"^(.+?)" + r"\s+" + r"\s+".join([number] * numeric_columns) + r"\s+(\S.*)$")


def _row_cells(text: str, columns: tuple[str, ...]) -> list[str] | None:
    cells = [cell.strip() for cell in text.split("\t")]
    if len(cells) == len(columns):
        return cells
    if len(columns) < 3 or columns[0] != "node type" or columns[-1] != "name":
        return None
    match = _spaced_row(len(columns) - 2).match(text)
    return [group.strip() for group in match.groups()] if match else None


def _parse_row(text: str, columns: tuple[str, ...]) -> OpRow | None:
    if "node type" not in columns or "name" not in columns or "avg ms" not in columns:
        return None
    cells = _row_cells(text, columns)
    if cells is None:
        return None
    cell = dict(zip(columns, cells, strict=True))
    node_type, name, avg_ms = cell["node type"], cell["name"], _to_float(cell["avg ms"])
    if not node_type or not name or avg_ms is None:
        return None
    percent = _to_float(cell["%"].rstrip("%")) if "%" in cell else None
    times_called = _to_int(cell["times called"]) if "times called" in cell else None
    return OpRow(node_type, name, avg_ms, percent, times_called)


# ---------------------------------------------------------------------------------------------
# one invocation


@dataclass
class _Stats:
    headers_before: int
    values: dict[str, str]


@dataclass
class _Counts:
    delegated: int | None = None
    total: int | None = None
    partitions: int | None = None


@dataclass
class _Invocation:
    """Folds the lines of one invocation into a ``ParsedRun``."""

    evidence: bool = False
    failed: bool = False
    summary: bool = False
    values: dict[str, tuple[int, float | int]] = field(default_factory=dict)
    headers: int = 0
    stats: list[_Stats] = field(default_factory=list)
    summary_inference_ms: float | None = None
    summary_warmup_ms: float | None = None
    error_lines: list[str] = field(default_factory=list)
    verdicts: list[tuple[str, str, int | None]] = field(default_factory=list)
    replacing: dict[str, dict[int | None, _Counts]] = field(default_factory=dict)
    node_reports: dict[str, _Counts] = field(default_factory=dict)
    gpu_kernels: int | None = None
    created: list[str] = field(default_factory=list)
    flagged: list[str] = field(default_factory=list)
    unsupported: dict[str, list[str]] = field(default_factory=dict)
    gpu_list_open: bool = False
    section: str | None = None
    table: str | None = None
    columns: tuple[str, ...] | None = None
    run_order: list[OpRow] = field(default_factory=list)
    top: list[OpRow] = field(default_factory=list)
    tables_done: set[str] = field(default_factory=set)

    # -- feeding -------------------------------------------------------------------------------

    def feed(self, line: _Line) -> None:
        text = line.text
        if self._feed_table(text) or self._feed_gpu_list(text):
            return
        if _FAILURE.search(text):
            self.failed = True
            self.evidence = True
        for pattern, handler in _RULES:
            match = pattern.match(text)
            if match:
                handler(self, match)
                self.evidence = True
                return
        # Only lines no rule understood: an ERROR-level delegate report is information, not a cause.
        if text and (line.error_level or _ERROR_WORDS.search(text)):
            self.error_lines.append(text)

    def _set(self, name: str, value: float | int | None, rank: int) -> None:
        if value is None:
            return
        current = self.values.get(name)
        if current is None or rank <= current[0]:
            self.values[name] = (rank, value)

    def _feed_table(self, text: str) -> bool:
        title = _TABLE_TITLE.match(text)
        if title:
            kind = title.group(1).lower()
            self.table = {"run order": "run_order", "top by computation time": "top"}.get(
                kind, "other"
            )
            self.columns = None
            self.evidence = True
            return True
        if self.table is None:
            return False
        if self.columns is None and "[node type]" in text.lower():
            self.columns = tuple(c.strip().lower() for c in re.findall(r"\[([^\]]*)\]", text))
            return True
        row = _parse_row(text, self.columns) if self.columns else None
        if row is None:
            if self.table in ("run_order", "top") and self._rows(self.table):
                self.tables_done.add(self.table)
            self.table = None
            self.columns = None
            return False
        wanted = self.section != "init" and self.table in ("run_order", "top")
        if wanted and self.table not in self.tables_done:
            self._rows(self.table).append(row)
        return True

    def _rows(self, table: str) -> list[OpRow]:
        return self.run_order if table == "run_order" else self.top

    def _feed_gpu_list(self, text: str) -> bool:
        if not self.gpu_list_open:
            return False
        op = _GPU_OP.match(text)
        if op and not _GPU_SPLIT.match(text):
            self.unsupported.setdefault("GPU", []).append(op.group(1))
            return True
        self.gpu_list_open = False
        return False

    # -- handlers (one per recognised line) ----------------------------------------------------

    def _on_running(self, _: re.Match[str]) -> None:
        self.headers += 1

    def _on_stats(self, match: re.Match[str]) -> None:
        values = dict(_KEY_VALUE.findall(match.group(2)))
        values["count"] = match.group(1)
        self.stats.append(_Stats(self.headers, values))

    def _on_summary(self, match: re.Match[str]) -> None:
        unit = match.group(1)
        fields = {
            "init": "init_ms",
            "first inference": "first_inference_ms",
            "warmup (avg)": "warmup_avg_ms",
            "warmup": "warmup_avg_ms",
            "inference (avg)": "inference_avg_ms",
            "inference": "inference_avg_ms",
            "no stats": "inference_avg_ms",
        }
        for key, raw in _SUMMARY_PAIR.findall(match.group(2)):
            name = fields.get(key.strip().lower())
            if name is None:
                continue
            self._set(name, _to_ms(raw, unit), _PRECISE)
            if name == "inference_avg_ms":
                self.summary = True
                self.summary_inference_ms = _to_ms(raw, unit)
            elif name == "warmup_avg_ms":
                self.summary_warmup_ms = _to_ms(raw, unit)

    def _on_init_session(self, match: re.Match[str]) -> None:
        self._set("init_ms", _to_ms(match.group(1), match.group(2)), _PRECISE)

    def _on_model_size(self, match: re.Match[str]) -> None:
        self._set("model_size_mb", _to_float(match.group(1)), _PRECISE)

    def _on_threads(self, match: re.Match[str], rank: int) -> None:
        threads = _to_int(match.group(1))
        self._set("num_threads", threads if threads is not None and threads > 0 else None, rank)

    def _on_memory(self, match: re.Match[str]) -> None:
        self._set("memory_init_mb", _to_float(match.group(1)), _PRECISE)
        self._set("memory_overall_mb", _to_float(match.group(2)), _PRECISE)

    def _on_peak(self, match: re.Match[str]) -> None:
        self._set("memory_peak_mb", _to_float(match.group(1)), _PRECISE)

    def _on_results_title(self, _: re.Match[str]) -> None:
        self.summary = True

    def _on_litert_time(self, match: re.Match[str]) -> None:
        label, raw, unit, runs = match.groups()
        name = {
            "model initialization": "init_ms",
            "warmup (first)": "first_inference_ms",
            "warmup (avg)": "warmup_avg_ms",
            "inference (avg)": "inference_avg_ms",
            "inference (min)": "inference_min_ms",
            "inference (max)": "inference_max_ms",
            "inference (std)": "inference_std_ms",
        }[label.lower()]
        self._set(name, _to_ms(raw, unit), _COARSE)
        if name == "inference_avg_ms":
            self._set("inference_count", _count(runs), _COARSE)

    def _on_litert_memory(self, match: re.Match[str]) -> None:
        label = match.group(1).lower()
        name = {"init footprint": "memory_init_mb", "overall footprint": "memory_overall_mb"}.get(
            label, "memory_peak_mb"
        )
        self._set(name, _to_float(match.group(2)), _COARSE)

    def _on_verdict(self, match: re.Match[str]) -> None:
        coverage = "full" if match.group(2).lower() == "completely" else "partial"
        self.verdicts.append((_delegate_name(match.group(1)), coverage, _to_int(match.group(3))))

    def _on_verdict_none(self, match: re.Match[str]) -> None:
        self.verdicts.append((_delegate_name(match.group(1)), "none", None))

    def _on_replacing(self, match: re.Match[str]) -> None:
        delegated, total, raw_name, partitions, subgraph = match.groups()
        per_subgraph = self.replacing.setdefault(_delegate_name(raw_name), {})
        per_subgraph[_to_int(subgraph)] = _Counts(
            _to_int(delegated), _to_int(total), _to_int(partitions)
        )

    def _on_nodes_delegated(self, match: re.Match[str]) -> None:
        raw_name, delegated, total, partitions = match.groups()
        self.node_reports[_delegate_name(raw_name)] = _Counts(
            _to_int(delegated), _to_int(total), _to_int(partitions)
        )

    def _on_gpu_list(self, _: re.Match[str]) -> None:
        self.gpu_list_open = True
        self.unsupported.setdefault("GPU", [])

    def _on_gpu_split(self, match: re.Match[str]) -> None:
        on_gpu, on_cpu = _to_int(match.group(1)), _to_int(match.group(2))
        total = on_gpu + on_cpu if on_gpu is not None and on_cpu is not None else None
        self.node_reports.setdefault("GPU", _Counts(on_gpu, total))

    def _on_gpu_kernels(self, match: re.Match[str]) -> None:
        self.gpu_kernels = _to_int(match.group(1))

    def _on_created(self, match: re.Match[str]) -> None:
        self.created.append(_delegate_name(match.group(1) or match.group(2)))

    def _on_created_short(self, match: re.Match[str]) -> None:
        self.created.append(_delegate_name(match.group(1)))

    def _on_flag_delegate(self, match: re.Match[str]) -> None:
        self.flagged.append(_delegate_name(match.group(1)))

    def _on_section(self, section: str) -> None:
        self.section = section

    def _on_other(self, _: re.Match[str]) -> None:
        """Benchmark vocabulary with no field of its own: evidence that this is tool output."""

    # -- result --------------------------------------------------------------------------------

    def result(self) -> ParsedRun:
        self._apply_stats()
        status: Status = "failed" if self.failed else "ok" if self.summary else "incomplete"
        values = {name: value for name, (_, value) in self.values.items()}
        for name in ("inference_count", "num_threads"):
            if name in values:
                values[name] = int(values[name])
        return ParsedRun(
            status=status,
            delegate=self._delegate(),
            error=None if status == "ok" else self._error(),
            ops=tuple(self.run_order or self.top),
            **values,  # type: ignore[arg-type]
        )

    def _apply_stats(self) -> None:
        labels = self._stat_labels()
        measured = next((i for i in reversed(range(len(labels))) if labels[i] == "M"), None)
        warmups = [i for i, label in enumerate(labels) if label == "W"]
        if measured is not None:
            warmups = [i for i in warmups if i < measured]
            m = self.stats[measured].values
            self._set("inference_count", _count(m.get("count")), _PRECISE)
            for key in ("avg", "std", "min", "max", "median"):
                self._set(f"inference_{key}_ms", _to_ms(m.get(key), "us"), _PRECISE)
        if warmups:
            w = self.stats[warmups[-1]].values
            self._set("first_inference_ms", _to_ms(w.get("first"), "us"), _PRECISE)
            self._set("warmup_avg_ms", _to_ms(w.get("avg"), "us"), _PRECISE)

    def _stat_labels(self) -> list[str | None]:
        """W(armup) / M(easured) / None for each statistics line (see the module docstring)."""
        orphans = [i for i, s in enumerate(self.stats) if s.headers_before == 0]
        headed = len(orphans) < len(self.stats)
        shift = 1 if orphans and headed else 0
        labels: list[str | None] = []
        for stats in self.stats:
            if stats.headers_before:
                labels.append("W" if (stats.headers_before + shift) % 2 else "M")
            else:
                labels.append(None)
        if orphans and headed:
            labels[orphans[-1]] = "W"
        elif len(orphans) >= 2:
            labels[orphans[-2]], labels[orphans[-1]] = "W", "M"
        averages = [_to_ms(s.values.get("avg"), "us") for s in self.stats]
        if self.summary_inference_ms is not None:
            matches = [i for i, avg in enumerate(averages) if _close(avg, self.summary_inference_ms)]
            if matches:
                chosen = matches[-1]
                labels = [None if label == "M" else label for label in labels]
                labels[chosen] = "M"
                if self.summary_warmup_ms is None and chosen > 0 and labels[chosen - 1] is None:
                    labels[chosen - 1] = "W"
        if self.summary_warmup_ms is not None:
            matches = [
                i
                for i, avg in enumerate(averages)
                if _close(avg, self.summary_warmup_ms) and labels[i] != "M"
            ]
            if matches:
                labels = [None if label == "W" else label for label in labels]
                labels[matches[-1]] = "W"
        return labels

    def _error(self) -> RunError | None:
        lines = _dedupe(self.error_lines)
        specific = [line for line in lines if not _GENERIC_FAILURE.match(line)]
        lines = specific or lines
        if not lines:
            return None
        kind = next(
            (k for k, pattern in _KINDS if any(pattern.search(line) for line in lines)), "unknown"
        )
        return RunError(kind, "\n".join(lines))

    def _delegate(self) -> DelegateInfo | None:
        name = self._delegate_choice()
        if name is None:
            return None
        verdict = next((v for v in reversed(self.verdicts) if v[0] == name), None)
        coverage: str | None = verdict[1] if verdict else None
        kernels = verdict[2] if verdict else None
        counts = self._counts(name)
        if coverage == "none" and counts.delegated:
            counts = _Counts(total=counts.total)
        if coverage is None:
            coverage = _coverage(counts.delegated, counts.total)
        if kernels is None and name == "GPU":
            kernels = self.gpu_kernels
        profile_nodes = [op for op in self.run_order if _delegate_of(op) == name]
        if profile_nodes:
            if kernels is None:
                kernels = len(profile_nodes)
            if counts.partitions is None:
                counts.partitions = len(profile_nodes)
            if coverage is None:
                ops = [op for op in self.run_order if not _PROFILE_NON_OPS.match(op.node_type)]
                coverage = "full" if len(ops) == len(profile_nodes) else "partial"
        return DelegateInfo(
            name=name,
            coverage=coverage,  # type: ignore[arg-type]
            kernels=kernels,
            nodes_delegated=counts.delegated,
            nodes_total=counts.total,
            partitions=counts.partitions,
            unsupported_ops=tuple(_dedupe(self.unsupported.get(name, []))),
        )

    def _delegate_choice(self) -> str | None:
        if self.verdicts:
            ranked = sorted(self.verdicts, key=lambda v: _COVERAGE_ORDER[v[1]])
            return ranked[0][0]
        for names in (
            [*self.replacing, *self.node_reports],
            self.created,
            self.flagged,
            [name for op in self.run_order if (name := _delegate_of(op))],
        ):
            if names:
                accelerators = [name for name in names if name != "XNNPACK"]
                return (accelerators or names)[-1]
        return None

    def _counts(self, name: str) -> _Counts:
        per_subgraph = self.replacing.get(name)
        if per_subgraph:
            parts = list(per_subgraph.values())
            return _Counts(
                _sum(p.delegated for p in parts),
                _sum(p.total for p in parts),
                _sum(p.partitions for p in parts),
            )
        report = self.node_reports.get(name)
        return _Counts(report.delegated, report.total, report.partitions) if report else _Counts()


def _sum(values: Iterable[int | None]) -> int | None:
    items = list(values)
    if any(v is None for v in items):
        return None
    return sum(v for v in items if v is not None)


def _delegate_of(op: OpRow) -> str | None:
    node = _DELEGATE_NODE.fullmatch(op.node_type)
    return _delegate_name(op.node_type) if node else None


_Handler = Callable[[_Invocation, re.Match[str]], None]
_RULES: tuple[tuple[re.Pattern[str], _Handler], ...] = (
    (_RUNNING, _Invocation._on_running),
    (_STATS, _Invocation._on_stats),
    (_SUMMARY, _Invocation._on_summary),
    (_INIT_SESSION, _Invocation._on_init_session),
    (_MODEL_SIZE, _Invocation._on_model_size),
    (_THREADS_USED, lambda run, m: run._on_threads(m, _PRECISE)),
    (_NUM_THREADS, lambda run, m: run._on_threads(m, _COARSE)),
    (_MEMORY, _Invocation._on_memory),
    (_PEAK, _Invocation._on_peak),
    (_RESULTS_TITLE, _Invocation._on_results_title),
    (_LITERT_TIME, _Invocation._on_litert_time),
    (_LITERT_MEMORY, _Invocation._on_litert_memory),
    (_VERDICT, _Invocation._on_verdict),
    (_VERDICT_NONE, _Invocation._on_verdict_none),
    (_REPLACING, _Invocation._on_replacing),
    (_GPU_LIST, _Invocation._on_gpu_list),
    (_GPU_SPLIT, _Invocation._on_gpu_split),
    (_GPU_KERNELS, _Invocation._on_gpu_kernels),
    (_NODES_DELEGATED, _Invocation._on_nodes_delegated),
    (_CREATED, _Invocation._on_created),
    (_CREATED_SHORT, _Invocation._on_created_short),
    (_FLAG_DELEGATE, _Invocation._on_flag_delegate),
    (_SECTION_INIT, lambda run, _: run._on_section("init")),
    (_SECTION_REGULAR, lambda run, _: run._on_section("regular")),
    (_OTHER_EVIDENCE, _Invocation._on_other),
)


# ---------------------------------------------------------------------------------------------
# public API


def _fold(lines: list[_Line]) -> _Invocation:
    invocation = _Invocation()
    for line in lines:
        invocation.feed(line)
    return invocation


def parse_one(text: str) -> ParsedRun:
    """The whole text as one benchmark invocation."""
    return _fold([_normalise(raw) for raw in text.splitlines()]).result()


@dataclass(frozen=True)
class Invocation:
    """One invocation's own lines (as printed) and what they say."""

    text: str
    run: ParsedRun


def parse_invocations(text: str) -> list[Invocation]:
    """One ``Invocation`` per benchmark invocation in ``text`` (split on ``STARTING!``), each with
    its raw text, for storing beside the parsed values; never empty."""
    chunks: list[list[tuple[str, _Line]]] = [[]]
    for raw in text.splitlines():
        line = _normalise(raw)
        if _STARTING.search(line.text):
            chunks.append([])
        chunks[-1].append((raw, line))
    folded = [(chunk, _fold([line for _, line in chunk])) for chunk in chunks]
    preamble, invocations = folded[0], folded[1:]
    if preamble[1].evidence or not invocations:
        invocations.insert(0, preamble)
    return [Invocation("\n".join(raw for raw, _ in chunk), invocation.result())
            for chunk, invocation in invocations]


def parse_output(text: str) -> list[ParsedRun]:
    """One ``ParsedRun`` per invocation in ``text`` (split on ``STARTING!``); never empty."""
    return [invocation.run for invocation in parse_invocations(text)]
