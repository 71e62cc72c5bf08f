"""One Celery worker process on one queue: ``python -m farm.distributed.consumer QUEUE NODE_NAME``.

The supervisor (``farm worker``) starts one per phone: a single solo-pool slot, so the phone's
queue is consumed one task at a time, in this process, with no pool children to lose.
"""

from __future__ import annotations

import argparse
import logging
import sys

from farm.distributed import tasks  # noqa: F401 (importing it registers the shared tasks)
from farm.distributed.celery_app import celery_app
from orchestrator.config import load_settings

__all__ = ["consume"]


def consume(queue: str, node_name: str) -> None:
    app = celery_app(load_settings())
    app.finalize(auto=True)
    worker = app.Worker(queues=[queue], concurrency=1, pool="solo", hostname=node_name,
                        loglevel="INFO", without_gossip=True, without_mingle=True,
                        without_heartbeat=True, optimization="fair")
    worker.start()
    sys.exit(worker.exitcode or 0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m farm.distributed.consumer")
    parser.add_argument("queue")
    parser.add_argument("node_name")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    consume(args.queue, args.node_name)


if __name__ == "__main__":
    main()
