"""The isolated TFLite converter: builds replicas in its own TensorFlow environment.

TensorFlow is never a dependency of the farm (it cannot share an environment with tflite-support:
TensorFlow 2.21 needs protobuf>=6.31, tflite-support pins protobuf<4), so ``venv.ensure_env``
creates and caches a separate environment from ``requirements.txt`` and a ``Converter`` runs
``inside/build.py`` in it as a long-lived subprocess: importing TensorFlow takes seconds, about as
long as building a small replica, so one process serves many requests.

Interface (protocol 2): JSON lines. Each request is one JSON object on one line of the
subprocess's stdin::

    {"protocol": 2,
     "arch": "deeplab_v3",                      # key of inside/heads.py ARCHITECTURES
     "params": {"backbone": "mobilenet_v2", "num_classes": 21, "depth_multiplier": 0.5},
     "inputs": [{"name": "sub_7", "shape": [1, 257, 257, 3], "range": [-1.0, 1.0]}],
     "quantization": "float32" | "dynamic_range" | "float16" | "int8",
     "calibration_samples": 4,                  # int8 only: representative batches drawn
     "seed": 0,                                 #   uniformly from each input's range
     "output": "/abs/path/model.tflite"}

For each request, in order, the subprocess writes one JSON object on one line of stdout (logs go
to stderr)::

    {"protocol": 2, "ok": true, "output": "...", "size_bytes": 832600, "params": 717765,
     "output_shapes": [[1, 257, 257, 21]], "build_seconds": 4.5, "convert_seconds": 2.6,
     "tensorflow": "2.21.0", "keras": "3.15.1"}

or ``{"protocol": 2, "ok": false, "error": "ValueError: ...", "traceback": "..."}``; a failed
request does not stop the process. Each build starts from a fresh Keras state, so a replica's bytes
do not depend on what the process built before. The subprocess exits with status 0 when its stdin
closes.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from orchestrator.errors import CatalogError

__all__ = ["BUILD_SCRIPT", "PROTOCOL", "Converter"]

PROTOCOL = 2
BUILD_SCRIPT = Path(__file__).resolve().parent / "inside" / "build.py"


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


class Converter:
    """One converter subprocess, started at once (it imports TensorFlow while the caller plans).

    ``build`` sends one request and waits for its response; calls must not overlap (one thread
    drives one converter). A converter that died or timed out raises on every later call.
    """

    def __init__(self, python: Path, *, timeout_s: float = 3600.0) -> None:
        self.timeout_s = timeout_s
        # stderr goes to a file, not a pipe: TensorFlow logs a lot and nobody drains a pipe while
        # the farm waits for a response; the file is read only once the process is dead.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        try:
            # -E -s: the farm's PYTHONPATH and user site-packages must not leak into TensorFlow's
            self._process = subprocess.Popen(
                [str(python), "-E", "-s", str(BUILD_SCRIPT)], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=self._log, text=True, encoding="utf-8")
        except OSError as exc:
            self._log.close()
            raise CatalogError(f"cannot start the converter {python}: {exc.strerror}",
                               hint="delete the converter cache folder so it is rebuilt") from exc

    def build(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run one build request; raise ``CatalogError`` naming its output on failure."""
        request = {"protocol": PROTOCOL, **request}
        what = f"building {Path(request['output']).name}"
        process = self._process
        assert process.stdin is not None and process.stdout is not None
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            process.kill()

        timer = threading.Timer(self.timeout_s, expire)
        timer.start()
        try:
            process.stdin.write(json.dumps(request) + "\n")
            process.stdin.flush()
            line = process.stdout.readline()
        except OSError:  # the converter is gone (BrokenPipeError): reported below
            line = ""
        finally:
            timer.cancel()
        try:
            response = json.loads(line) if line else None
        except json.JSONDecodeError:
            response = None
        if not isinstance(response, dict):
            code = process.wait()
            if expired.is_set():
                raise CatalogError(f"{what} took more than {self.timeout_s:.0f} s and was stopped",
                                   hint="big replicas need minutes on 2 cores; retry on a quieter "
                                        "machine")
            raise CatalogError(f"{what}: the converter died (exit {code}) without a "
                               f"response:\n{self._stderr_tail()}",
                               hint="see the converter's log above")
        if not response.get("ok"):
            raise CatalogError(f"{what} failed: {response.get('error')}\n"
                               f"{response.get('traceback', '')}".rstrip(),
                               hint="this is a bug in the replica recipe; report it with this "
                                    "output")
        return response

    def _stderr_tail(self) -> str:
        self._log.seek(0)
        return _tail(self._log.read().decode("utf-8", errors="replace"))

    def close(self) -> None:
        """Let the converter finish (stdin closed: it exits); kill it if it does not."""
        process = self._process
        try:
            if process.stdin is not None:
                process.stdin.close()
        except OSError:
            pass  # already dead: nothing to tell it
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
        self._log.close()

    def __enter__(self) -> Converter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is not None:  # interrupted: do not wait for a build nobody will use
            self._process.kill()
        self.close()
