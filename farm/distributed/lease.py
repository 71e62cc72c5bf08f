"""A device lease: the Redis lock that keeps a phone to one benchmark at a time across workers.

The per-device queue already gives a phone a single consumer; the lease covers what a queue cannot:
a message delivered twice (redelivery after the visibility timeout, a restarted worker, a second
worker configured with the same phone). The lock ``farm:lease:<serial>`` holds the task id as its
token and a TTL that a background thread renews every third of it, so a worker that dies frees its
phone within one TTL.

``check()`` runs before every result is written. It renews the lock, which also proves this worker
still owns it. While Redis is unreachable (restarting), the lease is trusted until the moment its
last renewal would have expired: nobody else can have taken it before then. Past that moment it is
lost, and nothing more may be written under it; once Redis answers again, ``take_again()`` tries
to take the phone afresh, as a new execution would (another holder may have it by then).
"""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType

import redis
from redis.exceptions import LockError, LockNotOwnedError

from farm.distributed.celery_app import BROKER_TIMEOUT_S
from orchestrator.errors import LeaseLost

__all__ = ["DeviceLease", "lease_client", "lease_key"]

log = logging.getLogger(__name__)

# A renewal that left less than this share of the TTL is treated as lost: the clock of this host and
# Redis' expiry are not the same clock, and a write must not race the expiry.
_SAFETY = 0.2


def lease_key(serial: str) -> str:
    return f"farm:lease:{serial}"


def lease_client(broker_url: str) -> redis.Redis:
    """A Redis client for leases on the broker, with the broker's timeouts: a broker that accepts
    connections but never answers fails the call instead of blocking it."""
    return redis.Redis.from_url(broker_url, socket_timeout=BROKER_TIMEOUT_S,
                                socket_connect_timeout=BROKER_TIMEOUT_S)


class DeviceLease:
    """``with DeviceLease(client, serial, token, ttl_s) as lease: ... lease.check()``.

    ``acquire()`` returns False when another token holds the phone; entering the context manager
    requires a successful ``acquire()`` first.
    """

    def __init__(self, client: redis.Redis, serial: str, token: str, ttl_s: float) -> None:
        self.serial, self.token, self.ttl_s = serial, token, float(ttl_s)
        self._lock = client.lock(lease_key(serial), timeout=self.ttl_s, blocking=False,
                                 thread_local=False)
        self._valid_until = 0.0
        self._lost: str | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._guard = threading.Lock()

    def acquire(self) -> bool:
        if not self._lock.acquire(token=self.token):
            return False
        self._valid_until = time.monotonic() + self.ttl_s * (1 - _SAFETY)
        return True

    def take_again(self, token: str) -> bool:
        """After a loss, inside the ``with``: take the phone again under a new ``token`` (the old
        one may be another's by now), renewed again; False while another token holds it.
        Redis errors propagate: the caller decides how long to wait for the broker."""
        if not self._lost:
            raise RuntimeError("take_again() is for a lost lease")
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        with self._guard:
            if not self._lock.acquire(token=token):
                return False
            self.token, self._lost = token, None
            self._valid_until = time.monotonic() + self.ttl_s * (1 - _SAFETY)
        self._start_renewing()
        return True

    @property
    def acquired(self) -> bool:
        """Whether ``acquire()`` took the lease (it may have been lost since: see ``lost``)."""
        return self._valid_until != 0.0

    def holder(self) -> str | None:
        value = self._lock.redis.get(self._lock.name)
        return value.decode() if isinstance(value, bytes) else value

    def _renew(self) -> None:
        with self._guard:
            if self._lost:
                raise LeaseLost(self._lost, hint="another worker now runs this phone's jobs")
            started = time.monotonic()
            try:
                self._lock.reacquire()
            except LockNotOwnedError:
                self._lost = (f"the lease on {self.serial} expired or was taken over "
                              f"(task {self.token})")
                raise LeaseLost(self._lost, hint="another worker now runs this phone's jobs"
                                ) from None
            except redis.RedisError as exc:
                if time.monotonic() < self._valid_until:
                    log.warning("lease %s: Redis unreachable (%s); the lease is still valid",
                                self.serial, exc)
                    return
                self._lost = f"the lease on {self.serial} could not be renewed in time: {exc}"
                raise LeaseLost(self._lost, hint="check the broker (FARM_BROKER_URL)") from exc
            self._valid_until = started + self.ttl_s * (1 - _SAFETY)

    def check(self) -> None:
        """Raise ``LeaseLost`` unless this worker still owns the phone (and extend the lease)."""
        self._renew()

    @property
    def lost(self) -> bool:
        return self._lost is not None

    def _keep_alive(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                self._renew()
            except LeaseLost:
                log.error("lease %s lost: %s", self.serial, self._lost)
                return

    def _start_renewing(self) -> None:
        self._stop = threading.Event()
        self._renewer = threading.Thread(target=self._keep_alive, name=f"lease-{self.serial}",
                                         daemon=True)
        self._renewer.start()

    def __enter__(self) -> DeviceLease:
        if not self.acquired:
            raise RuntimeError("acquire() the lease before entering it")
        self._start_renewing()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        if self._lost:
            return
        try:
            self._lock.release()
        except (LockError, redis.RedisError) as error:
            # Unreleased, it simply expires after its TTL.
            log.warning("lease %s not released: %s", self.serial, error)
