"""One Celery worker process on one phone's queues: ``python -m farm.distributed.consumer QUEUE
NODE_NAME``.

The supervisor (``farm worker``) starts one per phone: a single solo-pool slot, so the phone's
queue is consumed one task at a time, in this process, with no pool children to lose. The slot also
consumes the queue of every pool the phone is in: those with work waiting when it starts, and the
ones a submission adds later (``dispatch`` tells the node, a ``control.add_consumer``; a broadcast
that reached the node before it listened is made up for by ``follow_pools``, every heartbeat).
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading

from sqlalchemy import select

from farm.distributed.celery_app import CONTROL_QUEUE, celery_app, pool_queue, queue_serial
from farm.distributed.node import Node, set_current
from orchestrator.config import Settings, load_settings
from orchestrator.schema import Job, Pool
from orchestrator.secrets import mask_logging
from orchestrator.storage import session_scope

__all__ = ["consume", "follow_pools", "task_modules", "waiting_pools"]

log = logging.getLogger(__name__)


def waiting_pools(settings: Settings, serial: str) -> list[str]:
    """The pools with jobs no phone has claimed yet that this phone is a member of."""
    with session_scope(settings) as db:
        pools = db.scalars(select(Pool).where(Pool.id.in_(
            select(Job.pool_id).where(Job.device_id.is_(None),
                                      Job.status.in_(("pending", "running"))))))
        return sorted(pool.id for pool in pools if serial in pool.members)


def follow_pools(settings: Settings, serial: str, node_name: str, known: set[str],
                 stop: threading.Event) -> None:
    """Every heartbeat, consume the queue of any new pool this phone is in (an ``add_consumer``
    to this node: the worker's own thread does it). A pool once followed is left to the thermal
    hand-off (``tasks``), which stops and resumes its queue."""
    app = celery_app(settings)
    while not stop.wait(float(settings.heartbeat_s)):
        try:
            new = [p for p in waiting_pools(settings, serial) if p not in known]
            for pool in new:
                app.control.add_consumer(pool_queue(pool), destination=[node_name], reply=False)
                known.add(pool)
        except Exception:  # a database or broker hiccup: the next heartbeat tries again
            log.exception("cannot follow the pools of %s", serial)


def task_modules(queue: str) -> list[str]:
    """The task modules a consumer of ``queue`` imports (their shared tasks register on the app):
    a phone's consumer leaves out the control queue's nightly, which imports scipy."""
    modules = ["farm.distributed.tasks"]
    return modules + ["farm.distributed.control_tasks"] if queue == CONTROL_QUEUE else modules


def consume(queue: str, node_name: str) -> None:
    settings = load_settings()
    app = celery_app(settings)
    # The worker imports these when it starts (Celery's ``include``).
    app.conf.include = task_modules(queue)
    app.finalize(auto=True)
    serial = queue_serial(queue)
    queues = [queue] + ([pool_queue(p) for p in waiting_pools(settings, serial)] if serial else [])
    worker = app.Worker(queues=queues, concurrency=1, pool="solo", hostname=node_name,
                        loglevel="INFO", without_gossip=True, without_mingle=True,
                        without_heartbeat=True, optimization="fair")
    set_current(Node(serial, node_name, worker))
    stop = threading.Event()
    if serial:
        known = {q.removeprefix("pool.") for q in queues[1:]}
        threading.Thread(target=follow_pools, args=(settings, serial, node_name, known, stop),
                         name="pools", daemon=True).start()
    worker.start()
    stop.set()
    sys.exit(worker.exitcode or 0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m farm.distributed.consumer")
    parser.add_argument("queue")
    parser.add_argument("node_name")
    args = parser.parse_args(argv)
    mask_logging(load_settings().credentials)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    consume(args.queue, args.node_name)


if __name__ == "__main__":
    main()
