"""Figures drawn in worker processes are the figures this process draws, byte for byte, and land where asked."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.core.errors import DataError
from harness.evaluation.det import det_figure, group_rates_figure, save_png
from harness.reports import figure_pool
from harness.reports.figure_pool import Drawings, Pending, shared_workers, warm
from harness.reports.html.figures import data_uri


def curves() -> dict[str, pd.DataFrame]:
    thresholds = np.linspace(0.1, 0.9, 9)
    return {group: pd.DataFrame({"threshold": thresholds, "frr": np.linspace(0.0, 0.8, 9) * scale,
                                 "fa_per_hour": np.logspace(1, -1, 9) * scale, "exposure_h": 2.0})
            for group, scale in (("quiet", 1.0), ("cafe $5", 0.5))}


def rates() -> pd.DataFrame:
    return pd.DataFrame({"model": "m", "attribute": ["overall", "noise", "noise"], "group": ["all", "quiet", "cafe"],
                         "metric": "detection_rate", "value": [0.8, 0.9, 0.7], "ci_low": [0.7, 0.8, 0.5],
                         "ci_high": [0.9, 0.95, 0.85], "n": [60, 30, 30], "sufficient": [True, True, False]})


def test_workers_draw_the_same_bytes_in_the_order_added(tmp_path: Path) -> None:
    with Drawings(workers=2, min_parallel=1) as drawings:
        first = drawings.add(data_uri, det_figure, curves(), 0.5)
        second = drawings.add(save_png, group_rates_figure, rates(), "detection_rate", attribute="noise",
                              extra=(tmp_path / "pool" / "rates.png",))
        page = drawings.fill({"figures": [{"uri": first}, {"path": second}], "title": "t"})
    assert page["figures"][0]["uri"] == data_uri(det_figure(curves(), 0.5))
    assert page["figures"][1]["path"] == tmp_path / "pool" / "rates.png"
    here = save_png(group_rates_figure(rates(), "detection_rate", attribute="noise"), tmp_path / "here.png")
    assert (tmp_path / "pool" / "rates.png").read_bytes() == here.read_bytes()
    assert page["title"] == "t"


def test_a_small_batch_is_drawn_here_without_workers() -> None:
    with Drawings(workers=2, min_parallel=3) as drawings:
        pending = drawings.add(data_uri, det_figure, curves(), None)
        assert pending == Pending(0) and drawings._pool is None
        assert drawings.results() == [data_uri(det_figure(curves(), None))]


def test_a_shared_block_finishes_what_was_left_to_it(tmp_path: Path) -> None:
    with shared_workers():
        warm(2)
        assert figure_pool._shared[-1].pool is None  # too few figures announced to be worth workers
        warm(100)
        drawings = Drawings(workers=2, min_parallel=1)
        for i in range(3):
            drawings.add(save_png, det_figure, curves(), 0.5, extra=(tmp_path / f"det{i}.png",))
        drawings.finish_later()
        again = Drawings(workers=2, min_parallel=1)
        again.add(save_png, det_figure, curves(), 0.5, extra=(tmp_path / "last.png",))
        assert again._pool is drawings._pool  # one pool for the block
        again.finish_later()
    expected = save_png(det_figure(curves(), 0.5), tmp_path / "here.png").read_bytes()
    assert [(tmp_path / f"det{i}.png").read_bytes() for i in range(3)] == [expected] * 3
    assert (tmp_path / "last.png").read_bytes() == expected


def test_an_error_in_a_worker_reaches_the_caller() -> None:
    empty = rates().assign(value=np.nan)
    with Drawings(workers=2, min_parallel=1) as drawings:
        drawings.add(data_uri, group_rates_figure, empty, "detection_rate")
        with pytest.raises(DataError, match="no group values"):
            drawings.results()
    with pytest.raises(DataError, match="no group values"), shared_workers():
        drawings = Drawings(workers=2, min_parallel=1)
        drawings.add(data_uri, group_rates_figure, empty, "detection_rate")
        drawings.finish_later()
