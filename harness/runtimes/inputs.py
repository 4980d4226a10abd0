"""Model inputs as the bytes a device receives: an MLPerf Tiny dataset folder, or seeded inputs shaped for the model.

An MLPerf Tiny dataset folder (as the mlcommons/tiny runner reads it) holds raw ``.bin`` tensors and
``y_labels.csv`` with rows ``file, n_classes, class`` and no header.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.core.errors import DataError
from harness.core.seeding import seeded_rng
from harness.runtimes.base import TensorInfo

LABELS_FILE = "y_labels.csv"


def random_input(info: TensorInfo, rng: np.random.Generator) -> np.ndarray:
    """A seeded input tensor spanning the tensor's representable range."""
    if np.issubdtype(info.dtype, np.integer):
        limits = np.iinfo(info.dtype)
        return rng.integers(limits.min, limits.max, size=info.shape, endpoint=True, dtype=info.dtype)
    return rng.standard_normal(info.shape).astype(info.dtype)


@dataclass(frozen=True)
class ModelInput:
    """One input tensor as a device receives it (raw little-endian bytes), with its ground-truth class when known."""

    id: str
    data: bytes
    label: int | None = None


def mlperf_dataset(directory: Path, n_bytes: int | None = None) -> list[ModelInput]:
    """The inputs listed in ``directory/y_labels.csv``; each file must hold ``n_bytes`` bytes when given."""
    labels = directory / LABELS_FILE
    if not labels.is_file():
        raise DataError(f"{directory}: no {LABELS_FILE}",
                        hint="an MLPerf Tiny dataset folder: .bin inputs and y_labels.csv (file, n_classes, class)")
    inputs = []
    with labels.open(newline="", encoding="utf-8") as f:
        for line_no, row in enumerate(csv.reader(f), start=1):
            if not row or not "".join(row).strip():
                continue
            try:
                name, _, label = (c.strip() for c in row[:3])
                path = directory / name
                data = path.read_bytes()
                inputs.append(ModelInput(name, data, int(label)))
            except (ValueError, OSError) as e:
                raise DataError(f"{labels}: line {line_no} {row!r}: {e}",
                                hint="each line is '<file>.bin, <n_classes>, <class index>'") from None
            if n_bytes is not None and len(data) != n_bytes:
                raise DataError(f"{path}: {len(data)} bytes, but the model's input tensor holds {n_bytes}",
                                hint="use the dataset built for this model")
    if not inputs:
        raise DataError(f"{labels}: lists no inputs")
    return inputs


def seeded_inputs(info: TensorInfo, count: int, seed: int, model: str) -> list[ModelInput]:
    """``count`` inputs spanning the tensor's range, reproducible from the seed (unlabelled)."""
    rng = seeded_rng(seed, model, "dut-inputs")
    return [ModelInput(f"seeded-{seed}-{i}", random_input(info, rng).tobytes()) for i in range(count)]
