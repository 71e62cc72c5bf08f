"""A finished run's verdict: its jobs counted, the reasons grouped, and the exit code it earns.

Exit code 0 when every job is done or skipped for a reason the user asked for (a planned skip:
NNAPI named for a device without it); 1 when any job failed or was cancelled. Reasons are grouped
by error kind and first line, so 21 GPU jobs failing alike read as one line, not 21.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.errors import ExitCode
from orchestrator.queries import ResultRow

__all__ = ["Reason", "Verdict", "verdict"]


@dataclass(frozen=True)
class Reason:
    kind: str  # the jobs' error kind ("unsupported", "tool", "device_lost", ...)
    message: str  # the first line of their error message
    jobs: int
    example: str  # one of them: "device / model / config"


@dataclass(frozen=True)
class Verdict:
    done: int
    failed: int
    skipped: int
    cancelled: int
    failures: tuple[Reason, ...]  # most frequent first
    skips: tuple[Reason, ...]

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.FAILED if self.failed or self.cancelled else ExitCode.OK


def _group(rows: Sequence[ResultRow]) -> tuple[Reason, ...]:
    groups: dict[tuple[str, str], list[ResultRow]] = {}
    for row in rows:
        lines = (row.error_message or "").strip().splitlines()
        groups.setdefault((row.error_kind or "error", lines[0] if lines else ""), []).append(row)
    reasons = [Reason(kind, message, len(items),
                      f"{items[0].device} / {items[0].model} / {items[0].config}")
               for (kind, message), items in groups.items()]
    return tuple(sorted(reasons, key=lambda r: -r.jobs))


def verdict(results: Sequence[ResultRow]) -> Verdict:
    def having(status: str) -> list[ResultRow]:
        return [r for r in results if r.status == status]

    return Verdict(done=len(having("done")), failed=len(having("failed")),
                   skipped=len(having("skipped")), cancelled=len(having("cancelled")),
                   failures=_group(having("failed")), skips=_group(having("skipped")))
