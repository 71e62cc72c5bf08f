"""The one exception tree of tflite-farm.

Every error a user can cause or meet is a ``FarmError``; the CLI catches it in one place, prints its
message (and its hint: how to fix it) and exits with its ``exit_code``. Programmer misuse raises the
built-in errors (``RuntimeError``, ``TypeError``, ``ValueError``) instead and is never caught.

    FarmError
    ├── ConfigError          bad configuration value, unwritable FARM_HOME, bad farm.toml
    ├── PlanError            a submission that cannot be planned: unknown model / device, bad list
    │   └── PreflightError       what a run needs is missing: a tool for an ABI, a loadable model,
    │                            a writable FARM_HOME / database, a broker that answers
    ├── ModelError           a file that is not a usable TFLite model
    ├── CatalogError         the model zoo: unknown entry, build or download failure
    ├── DeviceError          anything between us and a phone (only the adb layer raises these)
    │   ├── DeviceNotFound       no such serial
    │   ├── DeviceUnavailable    offline / unauthorized
    │   ├── DeviceLost           the connection dropped mid-command
    │   ├── DeviceStorageFull    the phone ran out of space during a push
    │   └── LeaseLost            another worker holds (or took over) the phone's lease
    ├── ToolError            a benchmark tool that is missing, unsupported or not runnable
    ├── ParseError           text that is not benchmark output at all
    │   └── LogFileError         a benchmark log file that cannot be read (missing, a folder, ...)
    ├── NotFound             no run / job with that id
    ├── StorageError         the database: unreachable, wrong schema, migration failure
    └── BrokerError          the message broker (distributed mode): unreachable, refused

Foreign exceptions (sqlalchemy, adbutils, socket, ...) are translated into this tree at one boundary
per layer, always with ``raise ... from``.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "BrokerError",
    "CatalogError",
    "ConfigError",
    "DeviceError",
    "DeviceLost",
    "DeviceNotFound",
    "DeviceStorageFull",
    "DeviceUnavailable",
    "ExitCode",
    "FarmError",
    "LeaseLost",
    "LogFileError",
    "ModelError",
    "NotFound",
    "ParseError",
    "PlanError",
    "PreflightError",
    "StorageError",
    "ToolError",
]


class ExitCode(IntEnum):
    """What ``farm`` exits with: a contract for scripts, CI and nightly wrappers (README)."""

    OK = 0  # every job done, or skipped for a reason the user asked for
    FAILED = 1  # a job failed or was cancelled, or an operational error (device, broker, ...)
    USAGE = 2  # bad input or a pre-flight problem: nothing was written
    REGRESSION = 3  # the nightly confirmed a regression
    INTERRUPTED = 130  # Ctrl-C, after a clean stop


class FarmError(Exception):
    """Base of every user-facing error. ``hint`` says how to fix it."""

    exit_code: int = ExitCode.FAILED
    #: short machine-readable kind, stored with failed jobs
    kind = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(FarmError):
    exit_code = ExitCode.USAGE
    kind = "config"


class PlanError(FarmError):
    exit_code = ExitCode.USAGE
    kind = "plan"


class PreflightError(PlanError):
    kind = "preflight"


class ModelError(FarmError):
    exit_code = ExitCode.USAGE
    kind = "model_load"


class CatalogError(FarmError):
    exit_code = ExitCode.USAGE
    kind = "catalog"


class DeviceError(FarmError):
    kind = "device"


class DeviceNotFound(DeviceError):
    exit_code = ExitCode.USAGE
    kind = "device_not_found"


class DeviceUnavailable(DeviceError):
    kind = "device_unavailable"


class DeviceLost(DeviceError):
    kind = "device_lost"


class DeviceStorageFull(DeviceError):
    kind = "storage_full"


class LeaseLost(DeviceError):
    kind = "lease_lost"


class ToolError(FarmError):
    kind = "tool"


class ParseError(FarmError):
    exit_code = ExitCode.USAGE
    kind = "parse"


class NotFound(FarmError):
    exit_code = ExitCode.USAGE
    kind = "not_found"


class LogFileError(ParseError):
    exit_code = ExitCode.USAGE
    kind = "log_file"


class StorageError(FarmError):
    kind = "storage"


class BrokerError(FarmError):
    kind = "broker"
