"""A keyword-spotting corpus as device inputs, and a device's scores as the host evaluation's prediction rows.

Each clip becomes the bytes of the one tensor the host evaluation feeds the model (same front end,
same quantization), so a device run and ``harness eval`` on the same corpus count clip for clip alike
and write the same fairness, disparity and confusion tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.core.errors import ConfigError, MeasurementError
from harness.core.progress import Progress
from harness.corpus.directory import Corpus
from harness.evaluation.engine import clip_records, read_clip, with_clip_columns
from harness.evaluation.scoring import ClassifierScorer, KwsClasses
from harness.registry.models import ModelEntry, Task
from harness.runtimes import RuntimeOptions
from harness.runtimes.inputs import ModelInput

NO_CLASS = -1  # the expected class is one the model lacks (e.g. no _unknown_ output): never correct
STEPS_COLUMNS = ["model", "clip_id", "scores"]


def require_kws(model: ModelEntry) -> None:
    """ConfigError unless ``model`` is a multi-class keyword spotter (one tensor in, class scores out)."""
    if model.task == Task.wake_word:
        raise ConfigError(
            f"model '{model.name}' is a wake-word model: a DUT cannot be evaluated on a corpus with it",
            hint="the MLPerf Tiny serial protocol loads one tensor per inference and has no streaming audio path, "
                 f"so wake-word models are evaluated on the host: harness eval --model {model.name} --corpus ...")
    if model.task != Task.kws:
        raise ConfigError(f"model '{model.name}' has task '{model.task.value}'; --corpus needs a kws model",
                          hint="valid: a model with task: kws, labels and a front end (see docs/models.md)")


def corpus_inputs(model: ModelEntry, corpus: Corpus, progress: Progress | None = None) -> list[ModelInput]:
    """One input per clip in manifest order: id = clip_id, bytes = the model's input tensor, label = expected class.

    Tensors are little-endian (int8/uint8 raw, float32 IEEE), as the DUT's ``db`` buffer takes them.
    """
    require_kws(model)
    scorer = ClassifierScorer(model, RuntimeOptions())
    try:
        inputs = []
        clips = _records(corpus)
        for i, clip in enumerate(clips):
            if progress and i % 64 == 0:
                progress("corpus inputs", i, len(clips))
            x = scorer.model_input(scorer.features(read_clip(corpus.path, clip)))
            expected = scorer.expected(str(clip["label"]))
            label = scorer.labels.index(expected) if expected in scorer.labels else NO_CLASS
            inputs.append(ModelInput(str(clip["clip_id"]), x.astype(x.dtype.newbyteorder("<")).tobytes(), label))
        return inputs
    finally:
        scorer.close()


def device_predictions(model: ModelEntry, corpus: Corpus, rows: list[dict[str, Any]],
                       log_path: Path | None) -> pd.DataFrame:
    """raw/predictions.parquet rows from the accuracy rows (``index`` = manifest position, ``scores`` as printed)."""
    classes = KwsClasses.of(model)
    clips = _records(corpus)
    scored = []
    for row in sorted(rows, key=lambda r: r["index"]):
        clip = clips[row["index"]]
        if len(row["scores"]) != len(classes.labels):
            raise MeasurementError(
                f"the DUT printed {len(row['scores'])} scores for clip '{clip['clip_id']}', but model "
                f"'{model.name}' has {len(classes.labels)} labels",
                hint="the firmware runs another model than --model names", log_path=log_path)
        fields = classes.prediction(np.asarray(row["scores"], dtype=np.float64), str(clip["label"]))
        scored.append({"model": model.name, "clip_id": clip["clip_id"], **fields})
    return with_clip_columns(pd.DataFrame(scored), corpus.manifest.reset_index(drop=True), corpus.group_columns)


def _records(corpus: Corpus) -> list[dict[str, Any]]:
    return clip_records(corpus.manifest.reset_index(drop=True))
