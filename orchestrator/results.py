"""Immutable result types shared by the parser, the job runner, storage and reports.

``ParsedRun`` is what one ``benchmark_model`` invocation said, in one vocabulary: the field names
here are the column names of the ``sessions`` table and the keys of ``farm parse-log --json``.
Times are milliseconds, memory is MB, ``None`` means "the text did not say".

JSON form (``ParsedRun.to_json()``), version ``PARSED_RUN_SCHEMA_VERSION``::

    {"schema_version": 1,
     "status": "ok" | "failed" | "incomplete",
     "init_ms", "first_inference_ms", "warmup_avg_ms", "inference_avg_ms", "inference_std_ms",
     "inference_min_ms", "inference_max_ms", "inference_median_ms": float | null,
     "inference_count": int | null, "model_size_mb": float | null, "num_threads": int | null,
     "memory_init_mb", "memory_overall_mb", "memory_peak_mb": float | null,
     "delegate": null | {"name", "coverage", "kernels", "nodes_delegated", "nodes_total",
                         "partitions", "unsupported_ops": [str]},
     "error": null | {"kind", "message"},
     "ops": [{"node_type", "name", "avg_ms", "percent", "times_called"}]}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = [
    "ERROR_KINDS",
    "MEASURE_FIELDS",
    "PARSED_RUN_SCHEMA_VERSION",
    "DelegateInfo",
    "OpRow",
    "ParsedRun",
    "Provenance",
    "RunError",
    "SessionRecord",
]

PARSED_RUN_SCHEMA_VERSION = 1

Status = Literal["ok", "failed", "incomplete"]
Coverage = Literal["full", "partial", "none"]

ERROR_KINDS = (
    "model_load",
    "unsupported_op",
    "delegate_failed",
    "allocate_tensors",
    "invoke_failed",
    "bad_flags",
    "crash",
    "unknown",
)

#: The measured values of a session: parser fields, session columns and report vocabulary at once.
MEASURE_FIELDS = (
    "init_ms",
    "first_inference_ms",
    "warmup_avg_ms",
    "inference_avg_ms",
    "inference_std_ms",
    "inference_min_ms",
    "inference_max_ms",
    "inference_median_ms",
    "inference_count",
    "model_size_mb",
    "num_threads",
    "memory_init_mb",
    "memory_overall_mb",
    "memory_peak_mb",
)


@dataclass(frozen=True)
class DelegateInfo:
    name: str
    coverage: Coverage | None = None
    kernels: int | None = None
    nodes_delegated: int | None = None
    nodes_total: int | None = None
    partitions: int | None = None
    unsupported_ops: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunError:
    kind: str
    message: str

    def __post_init__(self) -> None:
        if self.kind not in ERROR_KINDS:
            raise ValueError(f"unknown error kind {self.kind!r}")


@dataclass(frozen=True)
class OpRow:
    node_type: str
    name: str
    avg_ms: float | None
    percent: float | None
    times_called: int | None


@dataclass(frozen=True)
class ParsedRun:
    status: Status
    init_ms: float | None = None
    first_inference_ms: float | None = None
    warmup_avg_ms: float | None = None
    inference_avg_ms: float | None = None
    inference_std_ms: float | None = None
    inference_min_ms: float | None = None
    inference_max_ms: float | None = None
    inference_median_ms: float | None = None
    inference_count: int | None = None
    model_size_mb: float | None = None
    num_threads: int | None = None
    memory_init_mb: float | None = None
    memory_overall_mb: float | None = None
    memory_peak_mb: float | None = None
    delegate: DelegateInfo | None = None
    error: RunError | None = None
    ops: tuple[OpRow, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.status not in ("ok", "failed", "incomplete"):
            raise ValueError(f"unknown status {self.status!r}")

    def to_json(self) -> dict[str, Any]:
        """The pinned JSON contract of ``farm parse-log --json`` (see the module docstring)."""
        data: dict[str, Any] = {"schema_version": PARSED_RUN_SCHEMA_VERSION, **asdict(self)}
        if self.delegate is not None:
            data["delegate"]["unsupported_ops"] = list(self.delegate.unsupported_ops)
        data["ops"] = [asdict(op) for op in self.ops]
        return data

    def measures(self) -> dict[str, float | int | None]:
        """The measured values, keyed like the ``sessions`` columns."""
        return {name: getattr(self, name) for name in MEASURE_FIELDS}


@dataclass(frozen=True)
class Provenance:
    """Where a session's numbers come from: the exact model file, tool build and device build."""

    model_sha256: str | None
    tool_name: str | None
    tool_version: str | None = None
    tool_sha256: str | None = None
    device_fingerprint: str | None = None


@dataclass(frozen=True)
class SessionRecord:
    """One benchmark session as it is stored: the parse, the verdict, and the evidence.

    ``status`` / ``error_kind`` / ``error_message`` are the session's verdict: the parse's, unless
    whoever ran the session knew better (it killed a hung tool, the phone dropped, the tool exited
    with an error status after its summary), so their kinds go beyond ``ERROR_KINDS``.
    """

    parsed: ParsedRun
    raw_output: str
    provenance: Provenance
    status: str
    error_kind: str | None = None
    error_message: str | None = None
    command: tuple[str, ...] = ()
    exit_code: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    environment: Mapping[str, Any] = field(default_factory=dict)
    imported: bool = False

    def __post_init__(self) -> None:
        if self.status not in ("ok", "failed", "incomplete"):
            raise ValueError(f"unknown status {self.status!r}")

    @classmethod
    def from_parse(cls, parsed: ParsedRun, raw_output: str, provenance: Provenance,
                   **evidence: Any) -> SessionRecord:
        """A record whose verdict is the parse's own."""
        return cls(parsed=parsed, raw_output=raw_output, provenance=provenance,
                   status=parsed.status, error_kind=parsed.error.kind if parsed.error else None,
                   error_message=parsed.error.message if parsed.error else None, **evidence)
