"""Build one replica and convert it to TFLite. Runs INSIDE the converter environment only.

Protocol (see ``models/converter/__init__.py``): one JSON request on stdin, one JSON response on
stdout, logs on stderr, exit status 0 on success. This file imports TensorFlow and must never be
imported by the farm itself. (If TensorFlow itself fails to import, the farm reports the dead
converter with the tail of its stderr.)
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

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from heads import ARCHITECTURES  # noqa: E402
from tensorflow.python.framework.convert_to_constants import (  # noqa: E402
    convert_variables_to_constants_v2,
)

PROTOCOL = 1
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

    if request.get("protocol") != PROTOCOL:
        raise ValueError(f"protocol {request.get('protocol')!r}, this builder speaks {PROTOCOL}")
    quantization = request["quantization"]
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"unknown quantization {quantization!r}")
    seed = int(request.get("seed", 0))
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


def main() -> int:
    try:
        response = build(json.load(sys.stdin))
    except Exception as exc:  # every failure must reach the farm as JSON, never as a hang
        traceback.print_exc(file=sys.stderr)
        response = {"protocol": PROTOCOL, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
    json.dump(response, sys.stdout)
    sys.stdout.write("\n")
    return 0 if response["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
