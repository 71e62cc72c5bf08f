"""Which series the nightly interleaves with a suspect's re-run, as its reference."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from farm.nightly import _reference
from orchestrator.regression import DetectorParams, screen_series
from orchestrator.series import SeriesKey, build_series


def test_the_reference_is_the_steadiest_series_by_its_sessions_not_a_bimodal_one() -> None:
    """A bimodal model (a quarter of its sessions in a slow mode 10% up) has steady nightly medians,
    so MAD calls it the quietest; but five re-run sessions land in the slow mode often enough to
    move its median, and the suspect would then be divided by that jump."""
    rng = np.random.default_rng(3)
    rows = []
    for night in range(30):
        for _ in range(5):
            slow = 1.10 if rng.random() < 0.25 else 1.0
            rows.append(("bimodal", night, 10.0 * slow * (1 + 0.002 * rng.standard_normal())))
            rows.append(("steady", night, 20.0 * (1 + 0.015 * rng.standard_normal())))
            rows.append(("suspect", night, 30.0 * (1 + 0.01 * rng.standard_normal())))
    keys = {name: SeriesKey(name * 8, "phone-1", "xnnpack", 1, "2.16")
            for name in ("bimodal", "steady", "suspect")}
    history = build_series(rows, keys, {name: (name,) for name in keys})
    screens = {name: screen_series(series, 0, 29, DetectorParams())
               for name, series in history.items()}
    assert screens["bimodal"].noise < screens["steady"].noise  # what MAD of nightly medians sees
    assert _reference(keys["suspect"], screens, history, {"suspect"}) == "steady"
    # Another device's series is never a reference.
    history["steady"] = replace(history["steady"],
                                key=SeriesKey("s" * 8, "phone-2", "xnnpack", 1, "2.16"))
    assert _reference(keys["suspect"], screens, history, {"suspect"}) == "bimodal"
