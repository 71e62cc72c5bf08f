"""The Celery app of the distributed farm, built from the farm's settings.

Delivery rules (see ARCHITECTURE.md, "Device exclusivity and delivery"):

- JSON only, never pickle; no result backend (results go to SQL).
- ``acks_late`` + ``task_reject_on_worker_lost``: a task whose worker dies is delivered again.
  kombu's Redis transport emulates acks: a delivered message waits in the ``unacked`` hash until it
  is acknowledged; a consumer puts back every message older than the visibility timeout, when it
  starts and then every ``unacked_restore_interval`` seconds (kombu >= 5.7; the throttle is set to 1
  so that interval is the real cadence). A warm shutdown puts its unstarted messages back at once.
- ``worker_prefetch_multiplier=1`` with one solo-pool consumer per device queue: a phone's worker
  holds at most one message besides the running one.
- Timeouts on every broker connection (``BROKER_TIMEOUT_S``, to connect and for each answer): a
  broker that accepts connections but never answers fails a publish, a ping or a lease call with
  an error instead of blocking it forever. There is no result backend to time out.
- Queues: ``device.<serial>`` per phone, ``pool.<id>`` per pool (consumed by the consumer of every
  phone in it), ``farm.control`` for the nightly submission. A phone's consumer is the Celery node
  ``<serial>@<worker name>`` (``device_node``).
"""

from __future__ import annotations

from celery import Celery
from celery.schedules import ParseException, crontab

from orchestrator.config import Settings
from orchestrator.errors import ConfigError

__all__ = ["BROKER_TIMEOUT_S", "CONTROL_QUEUE", "MAX_RETRIES", "beat_schedule", "celery_app", "celery_config",
           "device_node", "device_queue", "nightly_crontab", "pool_queue", "queue_serial",
           "transport_options"]

CONTROL_QUEUE = "farm.control"
#: seconds any broker connection waits to connect, and for each answer
BROKER_TIMEOUT_S = 5.0
#: how often a task is retried on a named transient error (with backoff) before it fails
MAX_RETRIES = 5


def device_queue(serial: str) -> str:
    return f"device.{serial}"


def queue_serial(queue: str) -> str | None:
    """The phone a ``device.<serial>`` queue serves (None for any other queue)."""
    return queue.removeprefix("device.") if queue.startswith("device.") else None


def pool_queue(pool_id: str) -> str:
    return f"pool.{pool_id}"


def device_node(serial: str, worker: str) -> str:
    """The Celery node name of a phone's consumer (what ``control`` commands address)."""
    return f"{serial}@{worker}"


def transport_options(settings: Settings) -> dict[str, object]:
    """kombu's Redis transport options: delivery (see the module docstring) and timeouts."""
    visibility = int(settings.visibility_timeout)
    return {
        "visibility_timeout": visibility,
        "unacked_restore_interval": max(1, min(10, visibility // 10)),
        "unacked_restore_throttle": 1,
        "socket_timeout": BROKER_TIMEOUT_S,
        "socket_connect_timeout": BROKER_TIMEOUT_S,
    }


def celery_config(settings: Settings) -> dict[str, object]:
    return {
        "broker_url": settings.broker_url,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "task_ignore_result": True,
        "result_backend": None,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,  # a worker waits out a broker restart
        "broker_connection_timeout": BROKER_TIMEOUT_S,
        "broker_transport_options": transport_options(settings),
        # A publish to a broker that stopped answering: one more try, not three (each waits
        # for the socket timeout), so `farm submit` fails within seconds.
        "task_publish_retry_policy": {"max_retries": 1, "interval_start": 0,
                                      "interval_step": 0.2, "interval_max": 0.2},
        "task_default_queue": CONTROL_QUEUE,
        "task_create_missing_queues": True,
        "worker_hijack_root_logger": False,
        "enable_utc": True,
        "timezone": "UTC",
    }


_apps: dict[tuple[str, int], Celery] = {}


def celery_app(settings: Settings) -> Celery:
    """One app per broker configuration (tests switch brokers inside one process)."""
    key = (settings.broker_url, int(settings.visibility_timeout))
    if key not in _apps:
        # Senders address tasks by name; the consumer process imports the task modules,
        # whose shared tasks then register on every app.
        app = Celery("farm", set_as_current=False)
        app.conf.update(celery_config(settings))
        _apps[key] = app
    return _apps[key]


def nightly_crontab(expression: str) -> crontab:
    """``"m h dom mon dow"`` (the ``[nightly] cron`` setting) as a Celery crontab, in UTC."""
    fields = expression.split()
    if len(fields) != 5:
        raise ConfigError(f"nightly cron {expression!r} does not have 5 fields",
                          hint='write minute hour day-of-month month day-of-week, e.g. "0 2 * * *"')
    minute, hour, day_of_month, month, day_of_week = fields
    try:
        return crontab(minute=minute, hour=hour, day_of_month=day_of_month,
                       month_of_year=month, day_of_week=day_of_week)
    except (ValueError, ParseException) as exc:
        raise ConfigError(f"nightly cron {expression!r} is not valid: {exc}",
                          hint='e.g. "0 2 * * *" (02:00 UTC every day)') from exc


def beat_schedule(settings: Settings, schedule: str = "nightly") -> dict[str, dict[str, object]]:
    """Celery beat's schedule: the nightly submission, sent to the control queue."""
    return {schedule: {"task": "farm.nightly", "schedule": nightly_crontab(settings.nightly_cron),
                       "args": [schedule], "options": {"queue": CONTROL_QUEUE}}}
