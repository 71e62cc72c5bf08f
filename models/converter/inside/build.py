"""Build replicas and convert them to TFLite. Runs INSIDE the converter environment only.

Protocol (see ``models/converter/__init__.py``): JSON lines, one request a line on stdin, one
response a line on stdout for each, in order, until stdin closes; logs on stderr. One process
serves many requests so TensorFlow's import (seconds) is paid once. This file imports TensorFlow and
must never be imported by the farm itself. (If TensorFlow itself fails to import, the farm reports
the dead converter with the tail of its stderr.)
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported
# The responses own stdout: anything TensorFlow prints there, from Python or C++, would corrupt
# them, so fd 1 becomes a copy of stderr before anything is imported.
RESPONSES = os.fdopen(os.dup(1), "w", encoding="utf-8")
os.dup2(2, 1)
sys.stdout = sys.stderr

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from heads import ARCHITECTURES  # noqa: E402
from tensorflow.python.framework.convert_to_constants import (  # noqa: E402
    convert_variables_to_constants_v2,
)

PROTOCOL = 2
QUANTIZATIONS = ("float32", "dynamic_range", "float16", "int8")


def _representative(shapes: list[tuple[int, ...]], ranges: list[tuple[float, float]],
                    samples: int, seed: int):
    rng = np.random.default_rng(seed)

    def generate():
        for _ in range(samples):
            yield [rng.uniform(lo, hi, size=(1, *shape)).astype(np.float32)
                   for shape, (lo, hi) in zip(shapes, ranges, strict=True)]

    return generate


def convert(model: Any, shapes: list[tuple[int, ...]], names: list[str], quantization: str,
            ranges: list[tuple[float, float]], samples: int, seed: int) -> bytes:
    specs = [tf.TensorSpec((1, *shape), tf.float32, name=name)
             for shape, name in zip(shapes, names, strict=True)]

    # A concrete function (rather than from_keras_model) keeps the catalog's input names and
    # order and works the same with Keras 3. Freezing first: otherwise TF 2.21 keeps the weights
    # as resource variables instead of constant buffers, and the file is nothing like the reference.
    @tf.function(input_signature=specs)
    def serve(*args):
        return model(list(args) if len(args) > 1 else args[0], training=False)

    frozen = convert_variables_to_constants_v2(serve.get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    if quantization != "float32":
        # the reference notebooks' recipes: default optimization = dynamic-range weights
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        # full integer kernels with float input and output, as the notebooks left them
        converter.representative_dataset = _representative(shapes, ranges, samples, seed)
    return bytes(converter.convert())


def build(request: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    if not isinstance(request, dict):
        raise ValueError(f"a request is a JSON object, not {type(request).__name__}")
    if request.get("protocol") != PROTOCOL:
        raise ValueError(f"protocol {request.get('protocol')!r}, this builder speaks {PROTOCOL}")
    quantization = request["quantization"]
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"unknown quantization {quantization!r}")
    seed = int(request.get("seed", 0))
    # a fresh Keras state per request: layer names and seeds, and so the bytes, must not depend on
    # what this process built before
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    tensors = request["inputs"]
    shapes = [tuple(int(d) for d in t["shape"][1:]) for t in tensors]
    inputs = [keras.Input(shape, batch_size=1, name=t["name"])
              for shape, t in zip(shapes, tensors, strict=True)]
    model = ARCHITECTURES[request["arch"]](inputs, **request.get("params", {}))
    built = time.perf_counter()
    data = convert(model, shapes, [t["name"] for t in tensors], quantization,
                   [tuple(t.get("range", (0.0, 1.0))) for t in tensors],
                   int(request.get("calibration_samples", 4)), seed)
    output = Path(request["output"])
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(data)
    done = time.perf_counter()
    return {
        "protocol": PROTOCOL,
        "ok": True,
        "output": str(output),
        "size_bytes": len(data),
        "params": int(model.count_params()),
        "output_shapes": [list(o.shape) for o in model.outputs],
        "build_seconds": round(built - started, 3),
        "convert_seconds": round(done - built, 3),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }


def respond(line: str) -> dict[str, Any]:
    try:
        return build(json.loads(line))
    except Exception as exc:  # every failure must reach the farm as JSON, never as a hang
        trace = traceback.format_exc()
        sys.stderr.write(trace)
        return {"protocol": PROTOCOL, "ok": False, "error": f"{type(exc).__name__}: {exc}",
                "traceback": "\n".join(trace.strip().splitlines()[-15:])}


def main() -> int:
    for line in sys.stdin:
        if line.strip():
            RESPONSES.write(json.dumps(respond(line)) + "\n")
            RESPONSES.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
