"""Benchmark logs from elsewhere: read a saved log, and bring hand-run history into the farm
(``farm import-log``).

Every invocation found in the files becomes an *imported* session (with its own raw text and the
file it came from) of a run whose trigger is ``import``; invocations are grouped into jobs by config
(delegate x threads), so imported history appears in results and reports like any run. A device
name the farm does not know is recorded as an ``imported`` device (never scheduled); the model is a
registered name or a ``.tflite`` path (registered on the way). Thread count 0 means "the log did not
say". One transaction: a file without benchmark output imports nothing at all.

``read_log`` is the one rule for what a log file is, for ``farm parse-log`` and ``import-log``
alike: at most ``LOG_LIMIT`` (32 MiB) of text; a longer file, or bytes that are not text, is a
``LogFileError`` (exit 2).
"""

from __future__ import annotations

import codecs
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from models.registry import register_model
from orchestrator import repository
from orchestrator.config import Settings
from orchestrator.errors import LogFileError, ParseError, PlanError
from orchestrator.planning import job_key, new_run_id
from orchestrator.results import ParsedRun, Provenance, SessionRecord
from orchestrator.schema import Device, Job, Model, Run, utcnow
from orchestrator.storage import session_scope
from workers.tools.benchmark_output import Invocation, parse_invocations

__all__ = ["IMPORTED_TOOL", "LOG_LIMIT", "ImportResult", "import_logs", "read_log"]

IMPORTED_TOOL = "benchmark_model (imported)"
_DELEGATES = {"XNNPACK": "xnnpack", "GPU": "gpu", "NNAPI": "nnapi"}


#: the largest benchmark log read: real ones are under 1 MiB (``../shared/benchmark-logs/``: 1 to
#: 7 KiB each), a logcat dump of a long session a few MiB; a path that never ends (``/dev/zero``)
#: or a disk image is refused after this much, not read until memory runs out
LOG_LIMIT = 32 * 1024 * 1024

_TEXT_HINT = ("a benchmark log is the text benchmark_model printed (its stdout, or `adb logcat -d`), "
              "UTF-8 or UTF-16")


def _size(limit: int) -> str:
    return f"{limit / 2**20:g} MiB" if limit >= 2**20 else f"{limit} bytes"


def _decode(data: bytes) -> str:
    # PowerShell's `>` saves UTF-16 with a byte order mark
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    return data.decode("utf-8", errors="replace")


def read_log(path: Path, *, limit: int = LOG_LIMIT) -> str:
    """The text of a saved benchmark log, for ``farm parse-log`` and ``farm import-log`` alike.

    At most ``limit`` bytes are read; a longer file, or one that is not text (NUL bytes, or more
    than a quarter of it undecodable: random bytes, a binary), is a ``LogFileError``. A few
    undecodable bytes in a text log become U+FFFD rather than failing."""
    try:
        with path.open("rb") as file:
            # read(), not stat(): /dev/zero and pipes have no size
            data = file.read(limit + 1)
    except FileNotFoundError as exc:
        raise LogFileError(
            f"no such log file: {path}", hint="check the path (save the output with `> run.log`)"
        ) from exc
    except IsADirectoryError as exc:
        raise LogFileError(f"{path} is a folder", hint="pass the log file itself") from exc
    except OSError as exc:
        raise LogFileError(
            f"cannot read {path}: {exc.strerror}", hint="check the file's permissions"
        ) from exc
    if len(data) > limit:
        raise LogFileError(f"{path} is larger than {_size(limit)}; a benchmark log is under 1 MiB",
                           hint=f"{_TEXT_HINT}; cut a long logcat dump to the benchmark's lines")
    text = _decode(data)
    if "\x00" in text:
        raise LogFileError(f"{path} is not a text log: it holds NUL bytes", hint=_TEXT_HINT)
    undecodable = text.count("\ufffd")
    if undecodable > len(text) / 4:
        raise LogFileError(f"{path} is not a text log: {undecodable} of its {len(text)} "
                           "characters are not UTF-8", hint=_TEXT_HINT)
    return text


@dataclass(frozen=True)
class ImportResult:
    run_id: str
    sessions: int
    jobs: int
    failed_sessions: int


def _device(db: DbSession, name: str) -> Device:
    device = db.scalars(select(Device).where(Device.serial == name)).one_or_none()
    if device is None:
        device = Device(serial=name, kind="imported", state="imported",
                        info={"source": "farm import-log"})
        db.add(device)
        db.flush()
    return device


def _model(db: DbSession, name_or_path: str) -> Model:
    model = db.scalars(select(Model).where(Model.name == name_or_path)).one_or_none()
    if model is not None:
        return model
    if Path(name_or_path).is_file():
        return register_model(db, name_or_path, provenance="user")
    raise PlanError(f"unknown model {name_or_path!r}",
                    hint="give a registered model name (`farm runs show`) or the .tflite file's path")


def _has_evidence(parsed: ParsedRun) -> bool:
    return bool(parsed.ops) or parsed.delegate is not None or parsed.error is not None or any(
        value is not None for value in parsed.measures().values())


def _config(parsed: ParsedRun) -> tuple[str, int]:
    delegate = parsed.delegate.name if parsed.delegate else ""
    return _DELEGATES.get(delegate.upper(), delegate.lower() or "cpu"), parsed.num_threads or 0


def _job_error(records: list[SessionRecord]) -> tuple[str, str] | None:
    """An imported job failed unless one of its sessions measured something."""
    if any(r.status == "ok" and r.parsed.inference_avg_ms is not None for r in records):
        return None
    failure = next((r for r in records if r.status != "ok"), None)
    return ((failure.error_kind if failure else None) or "unknown",
            (failure.error_message if failure else None) or "the imported run did not finish")


def import_logs(settings: Settings, files: list[Path], *, device: str, model: str) -> ImportResult:
    """Store every invocation in ``files``; raise if a file holds none (then nothing is stored)."""
    logs = [(str(path), read_log(path)) for path in files]
    found: list[tuple[str, Invocation]] = []
    for name, text in logs:
        usable = [inv for inv in parse_invocations(text) if _has_evidence(inv.run)]
        if not usable:
            raise ParseError(f"{name}: no benchmark_model output found",
                             hint="import the text benchmark_model printed (stdout or logcat)")
        found.extend((name, invocation) for invocation in usable)

    with session_scope(settings) as db:
        device_row, model_row = _device(db, device), _model(db, model)
        provenance = Provenance(model_sha256=model_row.sha256, tool_name=IMPORTED_TOOL,
                                device_fingerprint=device_row.fingerprint)
        run = Run(id=new_run_id(), status="done", trigger="import", finished_at=utcnow(),
                  spec={"files": [name for name, _ in logs], "device": device,
                        "model": model_row.name})
        db.add(run)
        by_config: dict[tuple[str, int], list[SessionRecord]] = defaultdict(list)
        for name, invocation in found:
            by_config[_config(invocation.run)].append(SessionRecord.from_parse(
                invocation.run, invocation.text, provenance, environment={"imported_from": [name]},
                imported=True))
        for seq, ((delegate, threads), records) in enumerate(sorted(by_config.items())):
            job = Job(id=job_key(run.id, device, model_row.sha256, delegate, threads),
                      run_id=run.id, seq=seq, device_id=device_row.id, model_id=model_row.id,
                      delegate=delegate, num_threads=threads, spec=None, attempts=0)
            db.add(job)
            db.flush()
            for index, record in enumerate(records):
                repository.save_session(db, job.id, index, record)
            repository.finish_job(db, job.id, _job_error(records))
        return ImportResult(run.id, len(found), len(by_config),
                            sum(record.status != "ok" for records in by_config.values()
                                for record in records))
