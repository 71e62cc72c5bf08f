"""Pool scheduling: how long a job should take, and which job a free phone of a pool takes next.

A pool submission runs each job once, on whichever phone of the pool is free. The order is longest
first (LPT): with the long jobs placed early, the short ones fill the gaps at the end, and the pool
finishes close to max(longest job, total work / phones) (``benchmarks/scheduling.py``).

- ``expected_seconds``: a job's duration from the recorded session times of the same model and
  config on the same kind of phone (their median, times the job's sessions); with no history, from
  the model's size and the protocol (``size_estimate``).
- ``PoolQueue``: the pool's jobs in that order, shared by its phones. A phone takes the next job;
  a job whose phone was lost goes back to the front, and until the last job is over no phone leaves
  the pool for want of work (one may yet come back). The embedded executor's phone threads pull from
  it; the distributed executor sends its jobs to the pool's Celery queue in the same order
  (``farm.distributed.dispatch``), so both dispatch alike.
- A phone above the thermal gate's limit does not take pool work (``HandOff``): it leaves the jobs
  to cooler phones and takes work again once cool, or once it has waited as long as the gate would
  (then the gate itself waits before the session, as on any phone).
"""

from __future__ import annotations

import hashlib
import statistics
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from orchestrator.jobspec import JobSpec

__all__ = ["HandOff", "PoolQueue", "expected_seconds", "longest_first", "pool_id", "size_estimate"]

T = TypeVar("T")

#: seconds a session spends outside the timed runs (process start, model load, adb), a guess that
#: only orders jobs that have no history yet
_SESSION_OVERHEAD_S = 1.0
#: seconds per inference per MB of model on a phone CPU, same purpose (DeepLabV3's 2.6 MB int8
#: build takes about 40 ms on a Pixel 7 big core)
_S_PER_MB_RUN = 0.015


def pool_id(serials: Iterable[str]) -> str:
    """One id per set of phones: submissions to the same phones share a pool and its queue."""
    key = "\n".join(sorted(set(serials)))
    return hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:12]


def size_estimate(size_bytes: int, spec: JobSpec) -> float:
    """Seconds per session from the model's size and the protocol: the timed and warm-up runs at a
    rate proportional to the size, but at least ``min_secs`` / ``warmup_min_secs``."""
    per_run = _S_PER_MB_RUN * size_bytes / 1e6
    timed = min(max(spec.num_runs * per_run, spec.min_secs), max(spec.max_secs, spec.min_secs))
    warmup = max(spec.warmup_runs * per_run, spec.warmup_min_secs)
    return _SESSION_OVERHEAD_S + warmup + timed


def expected_seconds(history_s: Sequence[float], size_bytes: int, spec: JobSpec) -> float:
    """A job's expected duration: its sessions times the median recorded session of the same model
    and config on this kind of phone, or the size estimate without history."""
    per_session = statistics.median(history_s) if history_s else size_estimate(size_bytes, spec)
    return spec.repeats * per_session


def longest_first(items: Iterable[T], seconds: Callable[[T], float | None]) -> list[T]:
    """Longest expected duration first; ties (and unknown durations, last) keep their order."""
    return sorted(items, key=lambda item: -(seconds(item) or 0.0))


class PoolQueue(Generic[T]):
    """A pool's jobs, longest first, taken by its phones one at a time (thread-safe).

    A taken job is in flight until its taker says it ``finish``-ed or ``put_back`` it. An empty
    queue with jobs in flight is not the end of the pool: a job whose phone is lost comes back, so
    a free phone ``wait``-s until there is work again or the pool is ``drained``."""

    def __init__(self, items: Iterable[T], seconds: Callable[[T], float | None]) -> None:
        self._items = deque(longest_first(items, seconds))
        self._in_flight = 0
        self._changed = threading.Condition()

    def take(self) -> T | None:
        """The next job (in flight from now on), or None when there is none right now."""
        with self._changed:
            if not self._items:
                return None
            self._in_flight += 1
            return self._items.popleft()

    def finish(self) -> None:
        """The taken job is over (done, failed, or claimed by another phone)."""
        with self._changed:
            self._in_flight -= 1
            self._changed.notify_all()

    def put_back(self, item: T) -> None:
        """Instead of the taken job, ``item`` (the job itself, left by a hot phone, or the job of a
        phone that was lost, or its successor): first in line again, it was the longest left."""
        with self._changed:
            self._in_flight -= 1
            self._items.appendleft(item)
            self._changed.notify_all()

    @property
    def drained(self) -> bool:
        """No job waits and none is in flight: the pool is done."""
        with self._changed:
            return not self._items and self._in_flight == 0

    def wait(self, timeout: float) -> None:
        """Until a job is put back or finished, or ``timeout`` seconds."""
        with self._changed:
            if not self._items and self._in_flight:
                self._changed.wait(timeout)

    def __len__(self) -> int:
        with self._changed:
            return len(self._items)


@dataclass
class HandOff:
    """Whether a phone above the gate's limit leaves the pool's work to others.

    ``hot`` is a reason or None, read before each job; a phone hot for ``max_wait_s`` takes the
    work anyway: every phone of the pool may be hot, and the session's own gate still waits."""

    max_wait_s: float
    hot_since: float | None = None

    def leaves_work(self, hot: str | None, now: float) -> bool:
        if hot is None:
            self.hot_since = None
            return False
        if self.hot_since is None:
            self.hot_since = now
        return now - self.hot_since < self.max_wait_s
