"""This consumer process: the phone it serves and its Celery worker (set by ``consumer.consume``).

A pool task needs both: which phone took the job (the serial in ``device.<serial>``), and the
worker, to stop consuming the pool's queue while the phone is hot (``cancel_task_queue`` runs in
the task's own thread: the solo pool runs tasks in the worker's event loop, so the next fetch
already leaves the queue out).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Node", "current", "set_current"]


@dataclass
class Node:
    serial: str | None  # None: the control consumer
    name: str
    worker: Any = None  # celery.apps.worker.Worker

    def cancel_queue(self, queue: str) -> None:
        consumer = getattr(self.worker, "consumer", None)
        if consumer is not None:
            consumer.cancel_task_queue(queue)


_current: Node | None = None


def set_current(node: Node) -> None:
    global _current
    _current = node


def current() -> Node | None:
    return _current
