"""Pre-flight: what a run needs, checked before it is planned.

A problem that would fail many jobs the same way (no benchmark tool for an ABI, a model file that
does not load, a database or FARM_HOME this process cannot write) is one ``PreflightError``
naming the fix, raised before anything is written: exit code 2, not one identical failure per
job (FARM_HOME's own check is storage's ``prepare_home``, whose ``ConfigError`` exits 2 too). The
checks also learn what each device can run, the ``DeviceDefaults`` that fill the
thread counts and delegates a submission leaves out.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.orm import Session as DbSession

from models.tflite_file import sha256_file
from orchestrator import repository
from orchestrator.config import Settings
from orchestrator.errors import PreflightError
from orchestrator.planning import DeviceDefaults, device_defaults
from orchestrator.schema import Device, Model
from orchestrator.storage import database_url, prepare_home
from workers.runners import HOST_RUNNER_NAME

__all__ = ["check_models", "check_storage", "check_tools", "preflight"]


def check_storage(settings: Settings) -> None:
    """FARM_HOME (tools, reports, replicas) and an SQLite database must be writable."""
    prepare_home(settings)
    url = database_url(settings.effective_database_url)
    if url.get_backend_name() == "sqlite" and url.database:
        database = Path(url.database)
        # SQLite writes a journal beside the file, so its folder must be writable too.
        for path in (database, database.parent):
            if path.exists() and not os.access(path, os.W_OK):
                raise PreflightError(f"the database {database} is not writable ({path})",
                                     hint="fix its permissions, or point FARM_DATABASE_URL "
                                          "at a database you can write")


def check_models(models: Sequence[Model]) -> None:
    """Every model file is there and is still the registered file: the same bytes as the file that
    parsed as TFLite when it was registered, so it loads (hashing it is enough: parsing needs the
    flatbuffer bindings, and numpy, on every `farm submit`)."""
    problems = []
    for model in models:
        try:
            digest = sha256_file(Path(model.path))
        except OSError as exc:
            problems.append(f"{model.name}: cannot read {model.path} ({exc.strerror})")
            continue
        if digest != model.sha256:
            problems.append(f"{model.name}: {model.path} changed since it was registered")
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise PreflightError(f"{len(problems)} model(s) cannot be loaded: "
                             + "; ".join(problems[:3]) + more,
                             hint="restore the files, or register them again with "
                                  "`farm models add PATH` (zoo models: `farm models build`)")


def check_tools(db: DbSession, devices: Sequence[Device], *, local_paths: bool
                ) -> dict[str, repository.ToolRef]:
    """The tool each phone will run, by serial (the runner's own choice: ``repository``);
    ``local_paths``: the tools' files must exist here too (embedded mode: this host pushes)."""
    chosen: dict[str, repository.ToolRef] = {}
    missing: dict[str, list[str]] = {}  # ABI -> serials
    gone: dict[str, repository.ToolRef] = {}
    for device in devices:
        if device.kind == "local":
            continue
        abis = repository.device_abis(device.abi, device.info)
        tools = repository.tools_for_abis(db, abis)
        if not tools:
            missing.setdefault(abis[0], []).append(device.serial)
        elif local_paths and not (tools[0].path and Path(tools[0].path).is_file()):
            gone[device.serial] = tools[0]
        else:
            chosen[device.serial] = tools[0]
    if missing:
        abi, serials = next(iter(missing.items()))
        others = "".join(f"; {a}: {', '.join(s)}" for a, s in list(missing.items())[1:])
        raise PreflightError(
            f"no benchmark tool is registered for ABI {abi} ({', '.join(serials)}){others}",
            hint=f"register one: `farm tools add PATH/benchmark_model --abi {abi}` (virtual "
                 f"phones: `farm tools add --host-runner --abi {abi}`)")
    if gone:
        serial, tool = next(iter(gone.items()))
        raise PreflightError(f"the registered tool {tool.name} {tool.version} is missing at "
                             f"{tool.path} (needed by {', '.join(gone)})",
                             hint=f"register it again with `farm tools add PATH --abi {tool.abi}`")
    return chosen


def preflight(settings: Settings, db: DbSession, models: Sequence[Model],
              devices: Sequence[Device]) -> dict[str, DeviceDefaults]:
    """Check the models and the devices' tools (``check_storage`` comes first, before the
    database is opened); what each device runs by default, by serial."""
    check_models(models)
    tools = check_tools(db, devices, local_paths=settings.is_embedded)
    # The host runner (this machine, and the tool of virtual phones) drives LiteRT's CPU paths;
    # GPU and NNAPI belong to a phone's own benchmark_model.
    return {device.serial: device_defaults(
        device, accelerators=device.serial in tools and tools[device.serial].name != HOST_RUNNER_NAME)
        for device in devices}
