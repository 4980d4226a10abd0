"""The documents a training run writes next to its artifacts: registry entries, datasheet, data card."""

from __future__ import annotations

import json
import math
from pathlib import Path

import yaml

from harness.corpus.vocabulary import KWS12_LABELS

LICENSE = "Apache-2.0"
DESCRIPTIONS = {
    "": "float32 TFLite",
    "-int8": "full-int8 TFLite (int8 in and out; the int8 QDQ ONNX model's quantization)",
    "-onnx": "float32 ONNX",
    "-int8-onnx": "int8 QDQ ONNX (ONNX Runtime static quantization, MinMax calibration)",
}


def _entry(name: str, base: str, spec: tuple, card: dict) -> dict:
    file, fmt, shape, dtype = spec
    quantized_out = fmt == "tflite" and dtype == "int8"
    return {
        "name": name,
        "task": "kws",
        "family": "mlperf_tiny",
        "format": fmt,
        "description": f"MLPerf Tiny KWS DS-CNN trained on synthetic clean-studio speech of the 12-class vocabulary "
                       f"(native-English espeak-ng voices, clean and mild noise); {DESCRIPTIONS[name[len(base):]]}. "
                       f"Datasheet: {base}.md.",
        "artifact": {"file": file, "sha256": card["sha256"][name]},
        "frontend": "mlperf_mfcc",
        "input": {"shape": shape, "dtype": dtype},
        "output": {"shape": [1, len(KWS12_LABELS)], "dtype": "int8" if quantized_out else "float32"},
        "labels": list(KWS12_LABELS),
        "trained_languages": ["en"],
        "source": f"edge-harness models/training/train_dscnn.py (seed {card['hyper_parameters']['seed']}); "
                  f"datasheet {base}.md",
        "license": LICENSE,
        "evaluate": True,
    }


_SMOKE = "\n**Smoke run (`--tiny`): 2 epochs on the tiny corpus; the accuracies below are noise.**\n"


def _pct(value: float) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f} %"


def datasheet(base: str, artifacts: dict, card: dict) -> str:
    corpus = card["corpus"]
    hp = card["hyper_parameters"]
    subsets = list(next(iter(card["accuracy"].values())))
    acc_rows = ["| model | " + " | ".join(subsets) + " |", "|---" * (len(subsets) + 1) + "|",
                "| examples | " + " | ".join(str(card["subset_clips"][s]) for s in subsets) + " |"]
    for model, values in card["accuracy"].items():
        acc_rows.append(f"| {model} | " + " | ".join(_pct(values[s]) for s in subsets) + " |")
    split_rows = ["| split | clips | examples | speakers |", "|---|---|---|---|"]
    for split, info in card["splits"].items():
        split_rows.append(f"| {split} | {info['clips']} | {info['examples']} | {len(info['speakers'])} |")
    files = "\n".join(f"- `{spec[0]}` (entry `{name}`): {DESCRIPTIONS[name[len(base):]]}, sha256 "
                      f"`{card['sha256'][name]}`" for name, spec in artifacts.items())
    return f"""# Datasheet: {base}

The MLPerf Tiny keyword-spotting DS-CNN, trained by this project on synthetic speech: the harness's
reference model for "trained on clean studio audio, deployed to everyone". It is meant to show how a
model's accuracy differs between the accents and noise it was trained on and those it was not, and
what int8 quantization changes per group. It is not a production keyword spotter.
{_SMOKE if card["tiny"] else ""}
## Artifacts

{files}

All four share one network: the int8 TFLite model carries the int8 weights, per-channel scales, int32
biases and activation scales of the QDQ ONNX model (read from it by `harness.modelgen.trained_dscnn`).
Where TFLite fixes a parameter itself, it wins: the softmax output is 1/256 with zero point -128 (the QDQ
model's is 1/255).

## Architecture

Input 49 x 10 MFCCs of 1 s at 16 kHz (the harness's `mlperf_mfcc` front end); conv 10x4, 64 filters,
stride 2, TensorFlow SAME padding; 4 depthwise-separable blocks (depthwise 3x3, pointwise 1x1, 64
channels), each convolution followed by batch norm and ReLU; average pool 25x5; dropout
{hp["dropout"]:g}; fully connected 12; softmax. Batch norm is folded into the convolutions at export.
Labels: {", ".join(KWS12_LABELS)}.

## Training data (the data card: `{base}.data.json`)

- corpus `{corpus["name"]}`: `harness corpus synth --size {corpus["size"]} --phrases kws12 --seed {corpus["seed"]}`,
  {corpus["n_clips"]} clips, content sha256 `{corpus["content_sha256"]}`, espeak-ng {corpus["espeak_ng_version"]}
- "clean studio": the native-English accents only; clean audio plus white, pink and babble noise at 20
  and 15 dB SNR. The non-native accents and the harsh environments (tv, reverb, SNR 10 dB and below) are
  never seen in training.
- splits by speaker ({card["split_rule"]}); no speaker is in two splits:

{chr(10).join(split_rows)}

- augmentation: {card["augmentation"]}
- int8 calibration: {card["calibration"]}

## Hyper-parameters

AdamW (weight decay {hp["weight_decay"]:g}), one-cycle learning rate peaking at {hp["learning_rate"]:g},
{hp["epochs"]} epochs, batch {hp["batch_size"]}, cross-entropy, seed {hp["seed"]}; the epoch with the best
validation accuracy is kept. PyTorch {card["torch_version"]} on one CPU thread, {card["train_seconds"]} s in all.

## Accuracy per split (top-1, measured on this machine when the artifacts were written)

{chr(10).join(acc_rows)}

`pytorch` is the folded network in PyTorch; the others are the artifacts run by LiteRT and ONNX Runtime
through the harness's runtimes, with the inputs quantized as the harness's scorer does. The test speakers
are held out; their voices are the training accents' espeak-ng voices with other variants, rates and pitches.
Accuracy per accent and noise group, with intervals: `harness eval --model {base} --corpus builtin:kws12-demo`.

## Reproducing

`make models` (needs the `[train]` extra) rebuilds everything here from a clean checkout. The corpus is
bit-exact; training is seeded and single-threaded, so the same machine and library versions give the same
weights, but another CPU, BLAS or PyTorch version can change float rounding in training and so the weights,
the hashes and the accuracies by a fraction of a point.

## Known limits

- Synthetic speech: espeak-ng voices stand in for speakers; a gap between groups shows sensitivity to that
  kind of variation, not how the model treats real people.
- Few voices: held-out test speakers share their accent's espeak-ng voice with training speakers.
- One-second clips with the word inside; no streaming evaluation.
"""


def write_documents(out: Path, base: str, artifacts: dict, card: dict) -> None:
    """models/<entry>.yaml for each artifact, <base>.md and <base>.data.json."""
    for name, spec in artifacts.items():
        header = f"# {name}: written by models/training/train_dscnn.py; rebuild with `make models`.\n"
        body = yaml.safe_dump(_entry(name, base, spec, card), sort_keys=False, default_flow_style=None, width=120)
        (out / f"{name}.yaml").write_text(header + body)
    (out / f"{base}.md").write_text(datasheet(base, artifacts, card))
    (out / f"{base}.data.json").write_text(json.dumps(card, indent=1, default=str) + "\n")
