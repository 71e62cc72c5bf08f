"""Two small built-in models, generated here so ``farm submit --models all`` works on a fresh machine.

They are written straight into the TFLite flatbuffer format with the schema bindings that ship in
ai-edge-litert (no TensorFlow), from a fixed random seed, so every machine builds byte-identical files.
They are *shaped like* the reference project's models, not trained and not the real architectures:

- ``builtin-segmenter``: DeepLabV3-shaped. 1x257x257x3 float32 image -> strided conv, depthwise conv,
  pointwise convs -> 21 PASCAL VOC class logits, bilinearly resized back to 1x257x257x21.
- ``builtin-stylizer``: Magenta-transfer-shaped. A 1x384x384x3 content image and a 1x1x1x100 style
  bottleneck -> strided conv features modulated by the projected bottleneck, upsampled, 3x3 conv and a
  sigmoid -> 1x384x384x3 stylized image.

The real (replica or official) models come from the model zoo (``farm models build`` / ``pull``).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.registry import register_model
from models.tflite_file import sha256_file
from orchestrator.config import Settings
from orchestrator.schema import Model

__all__ = ["BUILTIN_NAMES", "build_builtin_models", "register_builtin_models", "write_model"]

BUILTIN_NAMES = ("builtin-segmenter", "builtin-stylizer")
_GRAPHS = Path(__file__).with_name("builtin_graphs.py")
#: what the folder's files were built from: the graphs' source and each file's sha256
_STAMP = ".built-from.json"


def write_model(data: bytes, path: Path) -> Path:
    """Write atomically: a unique temporary file, then a rename, so processes building the same
    models at once (two workers on one FARM_HOME) never read or replace a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name, suffix=".tmp",
                                     delete=False) as handle:
        handle.write(data)
    Path(handle.name).replace(path)
    return path


def build_builtin_models(folder: Path) -> dict[str, Path]:
    """Write every built-in model into ``folder`` (skipping files already identical)."""
    # Lazy: numpy and the flatbuffer schema take about 0.2 s to import, which every `farm submit`
    # paid to rebuild files it already had (see ``register_builtin_models``).
    from models.builtin_graphs import BUILTIN_MODELS

    paths = {}
    for name, build in BUILTIN_MODELS.items():
        path = folder / f"{name}.tflite"
        data = build()
        if not path.is_file() or path.read_bytes() != data:
            write_model(data, path)
        paths[name] = path
    return paths


def _source_digest() -> str:
    return hashlib.sha256(_GRAPHS.read_bytes()).hexdigest()


def _registered(db: Session, folder: Path) -> list[Model] | None:
    """The registered built-ins, if the folder's files are still what the current graphs build
    (its stamp says which source built them, and their hashes) and the rows name those files."""
    try:
        stamp = json.loads((folder / _STAMP).read_text())
    except (OSError, ValueError):
        return None
    if stamp.get("source") != _source_digest():
        return None
    rows = {m.name: m for m in db.scalars(select(Model).where(Model.name.in_(BUILTIN_NAMES)))}
    for name in BUILTIN_NAMES:
        path, row, sha = folder / f"{name}.tflite", rows.get(name), stamp.get("models", {}).get(name)
        if (sha is None or row is None or row.sha256 != sha or row.path != str(path.resolve())
                or not path.is_file() or sha256_file(path) != sha):
            return None
    return [rows[name] for name in BUILTIN_NAMES]


def register_builtin_models(db: Session, settings: Settings) -> list[Model]:
    """Generate the built-in models under FARM_HOME/models/builtin and register them; files and
    rows already up to date (the common case, every `farm submit`) are only checked."""
    folder = settings.home_path / "models" / "builtin"
    current = _registered(db, folder)
    if current is not None:
        return current
    models = [register_model(db, path, name=name, provenance="builtin")
              for name, path in build_builtin_models(folder).items()]
    write_model(json.dumps({"source": _source_digest(),
                            "models": {m.name: m.sha256 for m in models}}).encode(),
                folder / _STAMP)
    return models
