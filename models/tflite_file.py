"""Read what a .tflite file is without running it: sha256, size, input and output tensors.

The flatbuffer is read with the TFLite schema bindings that ship inside ai-edge-litert, so no
TensorFlow is needed. A file that is not a TFLite flatbuffer raises ``ModelError`` with a hint.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from orchestrator.errors import ModelError

__all__ = ["ModelFileInfo", "TensorSpec", "inspect_model", "sha256_file"]

_TFLITE_IDENTIFIER = b"TFL3"


@cache
def _schema() -> ModuleType:
    # Lazy: the flatbuffer bindings pull in numpy (about 0.2 s), which the paths that only hash a
    # model file (every `farm submit`'s pre-flight and built-in check) do not need.
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


@cache
def _dtypes() -> dict[int, str]:
    """TensorType enum value -> numpy-style dtype name."""
    return {value: name.lower() for name, value in vars(_schema().TensorType).items()
            if not name.startswith("_") and isinstance(value, int)}


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


@dataclass(frozen=True)
class ModelFileInfo:
    path: Path
    sha256: str
    size_bytes: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    operator_count: int
    has_metadata: bool

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        data["inputs"] = [t.to_json() for t in self.inputs]
        data["outputs"] = [t.to_json() for t in self.outputs]
        return data


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _tensor(subgraph: Any, index: int) -> TensorSpec:
    tensor = subgraph.Tensors(index)
    name = tensor.Name()
    return TensorSpec(
        name=name.decode("utf-8", "replace") if name else f"tensor_{index}",
        shape=tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else (),
        dtype=_dtypes().get(tensor.Type(), f"type_{tensor.Type()}"),
    )


def inspect_model(path: Path | str) -> ModelFileInfo:
    """Describe a .tflite file; raise ``ModelError`` if it is missing or not a TFLite model."""
    path = Path(path)
    hint = "pass the path of a .tflite model file (a TFLite flatbuffer)"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"model file {path} does not exist", hint=hint) from None
    except IsADirectoryError:
        raise ModelError(f"{path} is a directory, not a model file", hint=hint) from None
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc.strerror}", hint=hint) from exc
    if len(data) < 8 or data[4:8] != _TFLITE_IDENTIFIER:
        raise ModelError(f"{path} is not a TFLite model (no TFL3 flatbuffer identifier)", hint=hint)
    try:
        model = _schema().Model.GetRootAs(data, 0)
        if model.SubgraphsLength() < 1:
            raise ModelError(f"{path} is a TFLite file without a subgraph", hint=hint)
        graph = model.Subgraphs(0)
        inputs = tuple(_tensor(graph, int(i)) for i in graph.InputsAsNumpy())
        outputs = tuple(_tensor(graph, int(i)) for i in graph.OutputsAsNumpy())
        operators = sum(model.Subgraphs(g).OperatorsLength() for g in range(model.SubgraphsLength()))
        has_metadata = any(
            (model.Metadata(i).Name() or b"") == b"TFLITE_METADATA"
            for i in range(model.MetadataLength())
        )
    except ModelError:
        raise
    except Exception as exc:  # a corrupt flatbuffer fails anywhere inside the generated reader
        raise ModelError(f"{path} is a corrupt TFLite model: {exc}", hint=hint) from exc
    return ModelFileInfo(
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),  # the bytes just parsed, not a second read
        size_bytes=len(data),
        inputs=inputs,
        outputs=outputs,
        operator_count=operators,
        has_metadata=has_metadata,
    )
