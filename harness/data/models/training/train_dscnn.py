"""Train the reference DS-CNN keyword spotter (dscnn-kws12) and write its four artifacts, entries and datasheet.

    python models/training/train_dscnn.py --out models            # what `make models` runs
    python models/training/train_dscnn.py --out /tmp/x --tiny     # the CI smoke run: tiny corpus, 2 epochs

Steps: synthesise the "clean studio" KWS12 corpus (cached), split it by speaker, compute the harness's MLPerf
MFCCs, train with PyTorch (seeded, one CPU thread), fold batch norm, export float ONNX, quantize it to int8
QDQ ONNX with ONNX Runtime (calibrated on training clips), write float32 and int8 TFLite from those graphs with
harness.modelgen, score all four on every split through the harness's runtimes, then write the registry
entries (models/*.yaml), the datasheet (dscnn-kws12.md) and the data card (dscnn-kws12.data.json).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import data
import export
import numpy as np
import torch
from dscnn import fold
from report import write_documents
from train import HyperParameters, accuracy, train

from harness.core.paths import cache_dir
from harness.corpus.vocabulary import KWS12_LABELS
from harness.evaluation.scoring import dequantize
from harness.frontends.base import quantize
from harness.runtimes import RuntimeOptions, get_runtime

NAME = "dscnn-kws12"
ARTIFACTS = {  # entry name -> (file, format, input shape, input dtype)
    NAME: (f"{NAME}.tflite", "tflite", [1, 49, 10, 1], "float32"),
    f"{NAME}-int8": (f"{NAME}-int8.tflite", "tflite", [1, 49, 10, 1], "int8"),
    f"{NAME}-onnx": (f"{NAME}.onnx", "onnx", [1, 1, 49, 10], "float32"),
    f"{NAME}-int8-onnx": (f"{NAME}-int8.onnx", "onnx", [1, 1, 49, 10], "float32"),
}
RUNTIME_OF = {"tflite": "litert", "onnx": "onnxruntime"}
CALIBRATION_CLIPS = 300
AUGMENT = 1


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def runtime_accuracy(path: Path, fmt: str, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of an artifact through the harness's runtime for its format (inputs quantized as the
    harness's scorer does)."""
    if len(x) == 0:
        return float("nan")
    session = get_runtime(RUNTIME_OF[fmt]).load(path, RuntimeOptions())
    try:
        info, out = session.inputs[0], session.outputs[0]
        hits = 0
        for features, label in zip(x, y, strict=True):
            tensor = quantize(features.reshape(info.shape), info.scale, info.zero_point, info.dtype)
            scores = dequantize(session.run([tensor])[0].reshape(-1), out)
            hits += int(np.argmax(scores) == label)
        return hits / len(x)
    finally:
        session.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for artifacts, entries and datasheet")
    parser.add_argument("--work", type=Path, default=None, help="corpus cache (default: the harness cache)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--workers", type=int, default=None, help="corpus synthesis processes")
    parser.add_argument("--tiny", action="store_true", help="smoke run: tiny corpus, 2 epochs (accuracy is noise)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # one thread is fastest for this small network, and keeps runs repeatable
    started = time.time()
    size = "tiny" if args.tiny else data.SIZE
    ranks = ("train", "test") if args.tiny else data.SPLIT_OF_RANK
    hp = HyperParameters(epochs=args.epochs or (2 if args.tiny else HyperParameters.epochs), seed=args.seed)
    work = args.work or cache_dir("corpus")
    corpus_dir = data.build_corpus(work / f"synthetic-kws12-{size}-seed{args.seed}", args.seed, args.workers, size)
    _log(f"corpus {corpus_dir}")
    splits = data.load_splits(corpus_dir, args.seed, 0 if args.tiny else AUGMENT, ranks)
    val = splits["val"] if len(splits["val"].y) else splits["test"]
    _log("features: " + ", ".join(f"{k} {len(v.y)}" for k, v in splits.items()))
    model, history = train(splits["train"].x, splits["train"].y, val.x, val.y, hp, log=_log)
    deploy = fold(model)

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / spec[0] for name, spec in ARTIFACTS.items()}
    doc = (f"{NAME}: MLPerf Tiny KWS DS-CNN trained by edge-harness models/training on synthetic clean-studio "
           f"speech (seed {args.seed})")
    float_model = export.float_onnx(deploy, doc)
    paths[f"{NAME}-onnx"].write_bytes(float_model.SerializeToString(deterministic=True))
    rng = np.random.default_rng([args.seed, 0xca1])
    train_x = splits["train"].x[: len(splits["train"].y) // (1 + (0 if args.tiny else AUGMENT))]
    calibration = train_x[rng.permutation(len(train_x))[:CALIBRATION_CLIPS]]
    export.qdq_onnx(paths[f"{NAME}-onnx"], paths[f"{NAME}-int8-onnx"], calibration)
    float_tflite, int8_tflite = export.tflite_pair(paths[f"{NAME}-onnx"], paths[f"{NAME}-int8-onnx"], doc)
    paths[NAME].write_bytes(float_tflite)
    paths[f"{NAME}-int8"].write_bytes(int8_tflite)

    scores: dict[str, dict[str, float]] = {"pytorch": {}}
    subsets = {k: (v.x, v.y) for k, v in splits.items()}
    test = splits["test"]
    if len(test.y):
        clean = (test.clips["noise"] == "clean").to_numpy()
        subsets["test (clean)"] = (test.x[clean], test.y[clean])
        subsets["test (mild noise)"] = (test.x[~clean], test.y[~clean])
    for subset, (x, y) in subsets.items():
        scores["pytorch"][subset] = accuracy(deploy, x, y)
    for name, (_, fmt, _, _) in ARTIFACTS.items():
        scores[name] = {subset: runtime_accuracy(paths[name], fmt, x, y) for subset, (x, y) in subsets.items()}
        _log(f"{name}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores[name].items()))
    card = {
        "corpus": json.loads((corpus_dir / "corpus.json").read_text()),
        "splits": {k: {"clips": int(len(v.clips.drop_duplicates("clip_id"))), "examples": int(len(v.y)),
                       "speakers": sorted(v.clips["speaker"].unique().tolist()) if len(v.y) else [],
                       "per_class": {KWS12_LABELS[c]: int((v.y == c).sum()) for c in range(len(KWS12_LABELS))}}
                   for k, v in splits.items()},
        "split_rule": f"accent by accent, speakers in a seeded shuffle take the next of {list(ranks)}, cycling",
        "augmentation": f"{0 if args.tiny else AUGMENT} extra copy of each training clip shifted by up to "
                        f"±{data.SHIFT_S:g} s (zero-filled)",
        "calibration": f"{len(calibration)} training clips (seeded draw, unaugmented)",
        "hyper_parameters": asdict(hp),
        "subset_clips": {subset: int(len(y)) for subset, (_, y) in subsets.items()},
        "history": history,
        "accuracy": scores,
        "sha256": {name: sha256(paths[name]) for name in ARTIFACTS},
        "torch_version": torch.__version__,
        "train_seconds": round(time.time() - started),
        "tiny": args.tiny,
    }
    write_documents(out, NAME, ARTIFACTS, card)
    _log(f"wrote {', '.join(str(p) for p in paths.values())} in {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
