"""The run-directory contract: the name of every file a run writes, and which of them the ledger hashes.

Writers, readers, the ledger and ``harness verify`` take names from here and nowhere else, so the
contract the README documents is one list in the code too.
"""

from __future__ import annotations

from dataclasses import dataclass

MANIFEST = "manifest.json"
STATUS = "status.json"
DISPARITY = "disparity.json"
SIGNOFF = "signoff.json"
SIGNOFF_MD = "signoff.md"
REPORT = "report.html"
ACCURACY = "accuracy.json"
PARITY = "parity.json"
CARDS = "model_cards"
PLOTS = "plots"
RAW = "raw"

EFFICIENCY_ROWS = "raw/efficiency_rows.jsonl"  # one line per measured (model, target): what --resume keeps
PREDICTIONS = "raw/predictions.parquet"
SCORES = "raw/scores.parquet"
EVAL_CHUNKS = "raw/eval"
DEVICE_JOBS = "raw/device_jobs.jsonl"  # devices measured on a Dask cluster: one line per device, its worker
EVAL_SHARDS = "raw/eval/shards.jsonl"  # evaluated on a Dask cluster: one line per shard, the worker that scored it
ACCURACY_ROWS = "raw/accuracy.jsonl"
PARITY_ROWS = "raw/parity.jsonl"
TRANSCRIPT = "raw/transcript.log"
MONITOR_LOG = "raw/monitor.log"
SWW_STREAM_ROWS = "raw/sww_streams.jsonl"  # one line per played stream, written as it completes: what --resume keeps
SWW_DUT_TRANSCRIPT = "raw/sww_dut.log"  # the DUT's own port, when the session drives it directly (--dut)

LEDGER = "ledger.jsonl"  # in the results folder, beside the run directories
LOCK = ".lock"  # held (flock) by the one process measuring into the run directory; never hashed


@dataclass(frozen=True)
class Table:
    """A table written three ways: ``<stem>.csv`` (every column), ``.md`` (for people) and ``.json`` (records)."""

    stem: str

    @property
    def csv(self) -> str:
        return f"{self.stem}.csv"

    @property
    def md(self) -> str:
        return f"{self.stem}.md"

    @property
    def json(self) -> str:
        return f"{self.stem}.json"


EFFICIENCY = Table("efficiency")
FAIRNESS = Table("fairness")
CONFUSION = Table("confusion")
CARBON = Table("carbon")
MODEL_COMPARISON = Table("model_comparison")  # variants of one network against a baseline, clip by clip
SWW_STREAMS = Table("sww_streams")  # per stream and window rule: TP, FN, FP, F1, FA/h, power, parity
SWW_FAIRNESS = Table("sww_fairness")  # per group and window rule: FRR and FA/h with intervals, from the device


def mode_summary(mode: str) -> str:
    """A bench session's summary of its mode: ``performance.json``, ``energy.json`` or ``accuracy.json``."""
    return f"{mode}.json"


def latency_samples(model: str, target: str) -> str:
    return f"raw/latency__{model}__{target}.parquet"


def power_trace(model: str, target: str) -> str:
    return f"raw/power__{model}__{target}.parquet"


def eval_chunk(index: int) -> str:
    """A scored chunk of clips (a shard on a cluster): what a resumed evaluation keeps."""
    return f"{EVAL_CHUNKS}/chunk-{index:05d}.parquet"


def ssh_log(target: str) -> str:
    """A board's SSH session: every command sent and its output (what device errors cite)."""
    return f"raw/ssh__{target}.log"


def adb_log(target: str) -> str:
    """A phone's adb session: every command sent, its output and the files copied (what device errors cite)."""
    return f"raw/adb__{target}.log"


def device_transcript(target: str) -> str:
    """A DUT's transcript in a run that measures several attached devices at once: one file per device, so their
    lines do not interleave (a run with one device keeps ``TRANSCRIPT``)."""
    return f"raw/transcript__{target}.log"


def device_monitor_log(target: str) -> str:
    """A DUT's power monitor traffic in a run that measures several attached devices at once (else ``MONITOR_LOG``)."""
    return f"raw/monitor__{target}.log"


def windows(kind: str, model: str, target: str) -> str:
    """A DUT's measurement windows (``kind`` latency or energy) as they finished: what ``--resume`` keeps."""
    return f"raw/{kind}_windows__{model}__{target}.jsonl"


def hashed(relative: str) -> bool:
    """Whether the ledger hashes this file of a run directory: every file but hidden ones (the lock, temporary
    files of an atomic write)."""
    return not any(part.startswith(".") for part in relative.split("/"))


# Ledger lines written before every file was hashed recorded these, under the key ``<stem>_sha256``.
LEGACY_RECORDED = (MANIFEST, EFFICIENCY.csv, FAIRNESS.csv, DISPARITY, CARBON.csv, SIGNOFF, ACCURACY, PARITY)


def legacy_key(name: str) -> str:
    return f"{name.split('.')[0]}_sha256"
