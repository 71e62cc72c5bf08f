"""``--models all``: official over replica per catalog entry, else a line saying how to get it;
and the ``farm models list`` / ``show`` commands over the same registry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from farm.cli.models import app as models_app
from models.builtin import build_builtin_models
from models.catalog import load_catalog
from models.metadata import write_replica_metadata
from models.registry import register_model
from models.selection import select_all
from orchestrator.config import load_settings
from orchestrator.storage import session_scope


@pytest.fixture
def zoo(farm_env: dict[str, str], tmp_path: Path) -> dict[str, Path]:
    """Stand-ins: official + replica of deeplabv3-official, a replica of the fp16 transfer
    model, a built-in model and a user model whose file is then deleted."""
    built = build_builtin_models(tmp_path / "builtin")
    files = {}
    for label, source in (("official", "builtin-segmenter"), ("replica", "builtin-segmenter"),
                          ("transfer", "builtin-stylizer"), ("gone", "builtin-segmenter")):
        files[label] = tmp_path / f"{label}.tflite"
        shutil.copy(built[source], files[label])
    catalog = load_catalog()
    write_replica_metadata(files["replica"], catalog.get("deeplabv3-official"))
    with session_scope(load_settings()) as db:
        register_model(db, built["builtin-segmenter"], provenance="builtin")
        register_model(db, files["official"], name="deeplabv3-official", provenance="official",
                       catalog_name="deeplabv3-official")
        register_model(db, files["replica"], name="deeplabv3-official-replica",
                       provenance="replica", catalog_name="deeplabv3-official")
        register_model(db, files["transfer"], name="magenta-mnv2-transfer-fp16-replica",
                       provenance="replica", catalog_name="magenta-mnv2-transfer-fp16")
        register_model(db, files["gone"], name="my-model")
    files["gone"].unlink()
    return files


def _select() -> tuple[list[tuple[str, str]], list[str]]:
    with session_scope(load_settings()) as db:
        selection = select_all(db)
        return [(m.name, m.provenance) for m in selection.models], selection.missing


def test_official_wins_then_replica_then_how_to_get_it(zoo: dict[str, Path]) -> None:
    chosen, missing = _select()
    assert chosen == [("deeplabv3-official", "official"),
                      ("magenta-mnv2-transfer-fp16-replica", "replica"),
                      ("builtin-segmenter", "builtin")]
    assert len(missing) == 22 - 2 + 1
    assert ("deeplabv3-xception65-ade20k-dr: neither the official file nor a replica is here; "
            "build the replica offline with `farm models build deeplabv3-xception65-ade20k-dr` "
            "or download the official file with `farm models pull deeplabv3-xception65-ade20k-dr`"
            ) in missing
    assert any(line.startswith("my-model: its file") for line in missing)

    zoo["official"].unlink()
    chosen, _ = _select()
    assert chosen[0] == ("deeplabv3-official-replica", "replica")


def test_list_shows_provenance_size_and_how_to_get(zoo: dict[str, Path]) -> None:
    result = CliRunner().invoke(models_app, ["list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert rows["deeplabv3-official"]["provenance"] == "official"
    assert rows["deeplabv3-official"]["size_bytes"] == zoo["official"].stat().st_size
    assert rows["deeplabv3-official-replica"]["provenance"] == "replica"
    assert rows["magenta-mnv2-transfer-int8"]["available"] is False
    assert "farm models build magenta-mnv2-transfer-int8" in rows[
        "magenta-mnv2-transfer-int8"]["how_to_get"]
    assert rows["my-model"]["provenance"] == "user" and rows["my-model"]["available"] is False


def test_show_reads_metadata_back(zoo: dict[str, Path]) -> None:
    result = CliRunner().invoke(models_app, ["show", "deeplabv3-official-replica"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "provenance: replica" in out
    assert "metadata name: deeplabv3-official (random-weight replica)" in out
    assert "pascal_voc_21.txt: 21 labels (background, aeroplane" in out
    assert "normalization mean [127.5] std [127.5]" in out
    assert "1x257x257x21" in out and "segmentation" in out

    plain = CliRunner().invoke(models_app, ["show", "deeplabv3-official"])
    assert plain.exit_code == 0, plain.output
    assert "provenance: official" in plain.output and "metadata: none" in plain.output
