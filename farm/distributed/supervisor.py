"""``farm worker``: the phone host's supervisor.

Every heartbeat (``FARM_HEARTBEAT`` seconds) it asks the adb server which phones are online, keeps
those it owns (all of them, or the ``--devices`` it was given; ``local`` only when named) and:

- registers them in the ``devices`` table under its name (``host``, ``info.worker``) with a fresh
  ``last_seen``: the submitter plans only on phones whose heartbeat is recent; its phones that went
  away become ``disconnected``;
- runs one consumer process per online phone (``python -m farm.distributed.consumer
  device.<serial>``: one solo-pool slot) plus one for the control queue, starts and stops them as
  phones come and go, and restarts a consumer that died (with a growing delay);
- says so when the broker does not answer (within its timeout), and again when it is back: the
  consumers wait for it, retrying, and their phones get no work meanwhile;
- takes back the work of a task that died on one of its phones (``retake``): jobs ``running``
  while nobody holds the phone's lease, for longer than one lease TTL, are sent again (their
  unacknowledged message would otherwise wait for the visibility timeout, 12 h by default);
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

import redis
from sqlalchemy import select

from farm.distributed import dispatch
from farm.distributed.celery_app import CONTROL_QUEUE, device_node, device_queue
from farm.distributed.lease import lease_client, lease_key
from orchestrator.config import Settings
from orchestrator.errors import BrokerError, DeviceError
from orchestrator.repository import FINAL_RUN_STATES, release_jobs, upsert_device
from orchestrator.schema import Device, Job, Run
from orchestrator.secrets import mask_url
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
    _unleased: dict[str, float] = field(default_factory=dict)  # serial -> seen running, unleased
    _leases: redis.Redis | None = None
    _broker_down: bool = False

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

    # -- work whose task died -------------------------------------------------------------------

    def _running(self, online: set[str]) -> dict[str, list[Job]]:
        """serial -> the jobs of distributed runs (they have a task) running on these phones."""
        with session_scope(self.settings) as db:
            jobs = db.scalars(
                select(Job).join(Device, Job.device_id == Device.id).join(Run)
                .where(Job.status == "running", Job.task_id.is_not(None),
                       Device.serial.in_(sorted(online)), Run.status.not_in(FINAL_RUN_STATES))
                .order_by(Job.seq))
            running: dict[str, list[Job]] = {}
            for job in jobs:
                assert job.device is not None
                running.setdefault(job.device.serial, []).append(job)
            return running

    def _redis(self) -> redis.Redis:
        self._leases = self._leases or lease_client(self.settings.broker_url)
        return self._leases

    def broker_answers(self) -> bool:
        """Whether the broker answers a ping; a change is logged (a silent broker must not look
        like an idle farm)."""
        url = mask_url(self.settings.broker_url)
        try:
            self._redis().ping()
        except redis.RedisError as exc:
            if not self._broker_down:
                log.warning("the broker %s does not answer (%s): this worker's phones get no "
                            "work until it does; retrying every heartbeat (check FARM_BROKER_URL "
                            "and that Redis is up)", url, exc)
            self._broker_down = True
            return False
        if self._broker_down:
            log.warning("the broker %s answers again", url)
        self._broker_down = False
        return True

    def retake(self, online: set[str]) -> None:
        """Send again the running jobs of a phone whose lease nobody has held for one lease TTL.

        A job is ``running`` only under its phone's lease; one that stays so with the lease free
        lost its task (a consumer killed, or stopped while it waited for the broker). The grace
        of one TTL leaves a task that lost its lease to a broker outage the time to take it
        again. The jobs are sent to their queue as a submission would send them, then go back
        to ``pending`` (unless a task took the phone meanwhile: its rows are its own), so they
        are sent once; the dead task's message, if it ever comes back, finds them final."""
        running = self._running(online)
        self._unleased = {s: t for s, t in self._unleased.items() if s in running}
        if not running:
            return
        now = time.monotonic()
        try:
            for serial, jobs in running.items():
                if self._redis().exists(lease_key(serial)):
                    self._unleased.pop(serial, None)
                elif now - self._unleased.setdefault(serial, now) >= self.settings.lease_ttl:
                    self._send_again(serial, jobs)
                    del self._unleased[serial]
        except (redis.RedisError, BrokerError) as exc:
            log.warning("cannot take back the work of a dead task: the broker %s does not "
                        "answer (%s); trying again at the next heartbeat",
                        mask_url(self.settings.broker_url), exc)

    def _send_again(self, serial: str, jobs: list[Job]) -> None:
        log.warning("%s: %d job(s) running with nobody holding the phone's lease; sending them "
                    "again", serial, len(jobs))
        for job in jobs:
            if job.pool_id is not None:
                dispatch.enqueue_pool_job(self.settings, job.run_id, job.id, job.pool_id)
        for run_id in dict.fromkeys(job.run_id for job in jobs if job.pool_id is None):
            dispatch.enqueue_device_jobs(self.settings, run_id, serial, [
                job.id for job in jobs if job.run_id == run_id and job.pool_id is None])
        if not self._redis().exists(lease_key(serial)):
            with session_scope(self.settings) as db:
                release_jobs(db, [job.id for job in jobs])

    # -- the loop -------------------------------------------------------------------------------

    def step(self) -> None:
        online = self.register(self.scan())
        self.reconcile(online)
        if self.broker_answers():
            self.retake(online)

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
