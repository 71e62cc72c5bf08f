from __future__ import annotations

from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from models.builtin import build_builtin_models, register_builtin_models
from models.builtin_graphs import BUILTIN_MODELS
from models.tflite_file import inspect_model, sha256_file
from orchestrator.config import load_settings
from orchestrator.storage import session_scope


def test_builtins_are_deterministic(tmp_path: Path) -> None:
    first = build_builtin_models(tmp_path / "a")
    second = build_builtin_models(tmp_path / "b")
    for name in BUILTIN_MODELS:
        assert first[name].read_bytes() == second[name].read_bytes()


def test_builtins_have_reference_shapes_and_run(tmp_path: Path) -> None:
    paths = build_builtin_models(tmp_path)
    seg = inspect_model(paths["builtin-segmenter"])
    assert [t.shape for t in seg.inputs] == [(1, 257, 257, 3)]
    assert [t.shape for t in seg.outputs] == [(1, 257, 257, 21)]
    sty = inspect_model(paths["builtin-stylizer"])
    assert [t.shape for t in sty.inputs] == [(1, 384, 384, 3), (1, 1, 1, 100)]
    assert [t.shape for t in sty.outputs] == [(1, 384, 384, 3)]
    for path in paths.values():
        interpreter = Interpreter(model_path=str(path))
        interpreter.allocate_tensors()
        for detail in interpreter.get_input_details():
            interpreter.set_tensor(detail["index"], np.ones(detail["shape"], np.float32))
        interpreter.invoke()
        out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        assert np.isfinite(out).all() and out.std() > 0  # random weights, not a constant graph


def test_registering_the_builtins_again_only_checks_them(db_env: dict[str, str]) -> None:
    settings = load_settings()
    with session_scope(settings) as db:
        first = {m.name: (m.sha256, Path(m.path)) for m in register_builtin_models(db, settings)}
    stamps = {name: path.stat().st_mtime_ns for name, (_sha, path) in first.items()}
    with session_scope(settings) as db:
        again = {m.name: (m.sha256, Path(m.path)) for m in register_builtin_models(db, settings)}
    # Up to date: not rebuilt (every `farm submit` does this), the same rows.
    assert again == first
    assert {name: path.stat().st_mtime_ns for name, (_s, path) in again.items()} == stamps
    # A damaged file is noticed by its hash and built again, byte for byte the same.
    sha, path = first["builtin-stylizer"]
    path.write_bytes(b"damaged")
    with session_scope(settings) as db:
        register_builtin_models(db, settings)
    assert sha256_file(path) == sha
