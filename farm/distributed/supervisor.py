"""``farm worker``: the phone host's supervisor.

Every heartbeat (``FARM_HEARTBEAT`` seconds) it asks the adb server which phones are online, keeps
those it owns (all of them, or the ``--devices`` it was given; ``local`` only when named) and:

- registers them in the ``devices`` table under its name (``host``, ``info.worker``) with a fresh
  ``last_seen``: the submitter plans only on phones whose heartbeat is recent; its phones that went
  away become ``disconnected``;
- runs one consumer process per online phone (``python -m farm.distributed.consumer
  device.<serial>``: one solo-pool slot) plus one for the control queue, starts and stops them as
  phones come and go, and restarts a consumer that died (with a growing delay);
- on ``stop`` (SIGTERM, Ctrl-C) stops every consumer with SIGTERM: Celery's warm shutdown lets the
  running session finish and puts unstarted messages back on their queue.

A phone is inspected once per transport (``device_record``); later heartbeats only list transports,
so the supervisor does not compete with a running benchmark for the phone.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from farm.distributed.celery_app import CONTROL_QUEUE, device_node, device_queue
from orchestrator.config import Settings
from orchestrator.errors import DeviceError
from orchestrator.repository import upsert_device
from orchestrator.schema import Device
from orchestrator.storage import session_scope
from workers.device.adb import AdbPhone, adb_client, list_transports
from workers.device.inspect import device_record
from workers.device.local import describe_local

__all__ = ["Supervisor", "worker_name"]

log = logging.getLogger(__name__)

_STOP_GRACE_S = 60.0
_MAX_RESTART_DELAY_S = 30.0


def worker_name(settings: Settings) -> str:
    return str(settings.worker_name or socket.gethostname())


@dataclass
class _Consumer:
    queue: str
    node: str
    process: subprocess.Popen[bytes]
    restarts: int = 0
    not_before: float = 0.0


@dataclass
class Supervisor:
    settings: Settings
    name: str
    devices: Sequence[str] | None = None  # None: every phone this host's adb server sees
    control: bool = True
    consumers: dict[str, _Consumer] = field(default_factory=dict)  # key: serial or CONTROL_QUEUE
    _records: dict[str, dict[str, Any]] = field(default_factory=dict)  # transport -> record
    _stopping: list[_Consumer] = field(default_factory=list)

    # -- discovery and registration -------------------------------------------------------------

    def _wanted(self, record: dict[str, Any], transport: str) -> bool:
        return self.devices is None or record["serial"] in self.devices or transport in self.devices

    def scan(self) -> dict[str, dict[str, Any]]:
        """serial -> device record of the phones this worker owns that are online now."""
        try:
            transports = dict(list_transports(adb_client()))
        except DeviceError as exc:
            log.warning("cannot list phones: %s", exc)
            return {}
        for gone in set(self._records) - set(transports):
            del self._records[gone]  # a phone that comes back is inspected again
        online: dict[str, dict[str, Any]] = {}
        for transport, state in transports.items():
            if state != "device":
                self._records.pop(transport, None)
                continue
            if transport not in self._records:
                try:
                    self._records[transport] = device_record(AdbPhone(adb_client(), transport))
                except DeviceError as exc:
                    log.warning("cannot inspect %s: %s", transport, exc)
                    continue
            record = self._records[transport]
            if self._wanted(record, transport):
                online[record["serial"]] = record
        return online

    def register(self, online: dict[str, dict[str, Any]]) -> set[str]:
        """Record this worker's online devices (and heartbeat); their serials."""
        with session_scope(self.settings) as db:
            if self.devices is not None and "local" in self.devices:
                online = online | {"local": describe_local()}
            for serial, record in online.items():
                known = db.scalars(select(Device).where(Device.serial == serial)).one_or_none()
                info = (known.info if known else {}) | record.get("info", {}) | {"worker": self.name}
                upsert_device(db, record | {"host": self.name, "state": "device", "info": info})
            mine = db.scalars(select(Device).where(Device.host == self.name,
                                                   Device.state == "device"))
            for device in mine:
                if device.serial not in online and device.info.get("worker") == self.name:
                    device.state = "disconnected"
        return set(online)

    # -- consumer processes ---------------------------------------------------------------------

    def _spawn(self, queue: str, node: str) -> subprocess.Popen[bytes]:
        log.info("starting the consumer of %s (%s)", queue, node)
        return subprocess.Popen([sys.executable, "-m", "farm.distributed.consumer", queue, node])

    def _stop_consumer(self, key: str) -> None:
        consumer = self.consumers.pop(key)
        log.info("stopping the consumer of %s", consumer.queue)
        if consumer.process.poll() is None:
            consumer.process.send_signal(signal.SIGTERM)
        self._stopping.append(consumer)

    def reconcile(self, online: set[str]) -> None:
        wanted = {serial: (device_queue(serial), device_node(serial, self.name)) for serial in online}
        if self.control:
            wanted[CONTROL_QUEUE] = (CONTROL_QUEUE, f"control@{self.name}")
        self._stopping = [c for c in self._stopping if c.process.poll() is None]
        for key in [k for k in self.consumers if k not in wanted]:
            self._stop_consumer(key)
        now = time.monotonic()
        for key, (queue, node) in wanted.items():
            consumer = self.consumers.get(key)
            if consumer is None:
                # A consumer of this queue still finishing its warm shutdown keeps the slot.
                if not any(c.queue == queue for c in self._stopping):
                    self.consumers[key] = _Consumer(queue, node, self._spawn(queue, node))
            elif consumer.process.poll() is not None:
                if consumer.not_before == 0.0:
                    delay = min(_MAX_RESTART_DELAY_S, 2.0 ** consumer.restarts)
                    log.warning("the consumer of %s exited with %s; restarting in %.0f s",
                                queue, consumer.process.returncode, delay)
                    consumer.not_before = now + delay
                elif now >= consumer.not_before:
                    consumer.process = self._spawn(queue, node)
                    consumer.restarts += 1
                    consumer.not_before = 0.0

    # -- the loop -------------------------------------------------------------------------------

    def step(self) -> None:
        self.reconcile(self.register(self.scan()))

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    self.step()
                except Exception:  # a database or adb hiccup must not take the phones down
                    log.exception("heartbeat failed; retrying")
                stop.wait(float(self.settings.heartbeat_s))
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        for key in list(self.consumers):
            self._stop_consumer(key)
        deadline = time.monotonic() + _STOP_GRACE_S
        for consumer in self._stopping:
            try:
                consumer.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("the consumer of %s did not stop in time; killing it", consumer.queue)
                consumer.process.kill()
                consumer.process.wait()
        self._stopping.clear()
