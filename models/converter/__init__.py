"""The isolated TFLite converter: builds one replica per call in its own TensorFlow environment.

TensorFlow is never a dependency of the farm (it cannot share an environment with tflite-support:
TensorFlow 2.21 needs protobuf>=6.31, tflite-support pins protobuf<4), so ``venv.ensure_env``
creates and caches a separate environment from ``requirements.txt`` and ``run_converter`` calls
``inside/build.py`` in it as a subprocess.

Interface (protocol 1): the request is one JSON object on the subprocess's stdin::

    {"protocol": 1,
     "arch": "deeplab_v3",                      # key of inside/heads.py ARCHITECTURES
     "params": {"backbone": "mobilenet_v2", "num_classes": 21, "depth_multiplier": 0.5},
     "inputs": [{"name": "sub_7", "shape": [1, 257, 257, 3], "range": [-1.0, 1.0]}],
     "quantization": "float32" | "dynamic_range" | "float16" | "int8",
     "calibration_samples": 4,                  # int8 only: representative batches drawn
     "seed": 0,                                 #   uniformly from each input's range
     "output": "/abs/path/model.tflite"}

The response is one JSON object on stdout (logs go to stderr), exit status 0 on success::

    {"protocol": 1, "ok": true, "output": "...", "size_bytes": 832600, "params": 717765,
     "output_shapes": [[1, 257, 257, 21]], "build_seconds": 4.5, "convert_seconds": 2.6,
     "tensorflow": "2.21.0", "keras": "3.15.1"}

or ``{"protocol": 1, "ok": false, "error": "ValueError: ..."}`` with exit status 1.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from orchestrator.errors import CatalogError

__all__ = ["BUILD_SCRIPT", "PROTOCOL", "run_converter"]

PROTOCOL = 1
BUILD_SCRIPT = Path(__file__).resolve().parent / "inside" / "build.py"


def _stderr_tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run_converter(python: Path, request: dict[str, Any], *, timeout_s: float = 3600.0
                  ) -> dict[str, Any]:
    """Run one build request in the converter environment; raise ``CatalogError`` on failure."""
    request = {"protocol": PROTOCOL, **request}
    what = f"building {Path(request['output']).name}"
    try:
        # -E -s: the farm's PYTHONPATH and user site-packages must not leak into TensorFlow's env
        done = subprocess.run([str(python), "-E", "-s", str(BUILD_SCRIPT)],
                              input=json.dumps(request), capture_output=True, text=True,
                              timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise CatalogError(f"{what} took more than {timeout_s:.0f} s and was stopped",
                           hint="big replicas need minutes on 2 cores; retry on a quieter machine"
                           ) from exc
    except OSError as exc:
        raise CatalogError(f"cannot start the converter {python}: {exc.strerror}",
                           hint="delete the converter cache folder so it is rebuilt") from exc
    lines = done.stdout.strip().splitlines()
    try:
        response = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        response = None
    if not isinstance(response, dict):
        raise CatalogError(f"{what}: the converter died (exit {done.returncode}) without a "
                           f"response:\n{_stderr_tail(done.stderr)}",
                           hint="see the converter's log above")
    if not response.get("ok"):
        raise CatalogError(f"{what} failed: {response.get('error')}\n{_stderr_tail(done.stderr)}",
                           hint="this is a bug in the replica recipe; report it with this output")
    return response
