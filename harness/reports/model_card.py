"""Model cards: ``model_cards/<model>.md`` (Hugging Face front matter + Mitchell et al. sections) and a Model Card
Toolkit JSON twin ``model_cards/<model>.json``, one per model of a run, every number read from the run's tables."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from harness.core.paths import models_dir
from harness.registry.models import ModelEntry, ModelRegistry
from harness.reports.cards import front_matter
from harness.reports.cards.context import card_context
from harness.reports.cards.facts import ModelFacts, gather
from harness.reports.cards.markdown import body
from harness.reports.cards.mct import mct_json
from harness.reports.cards.pseudonym import salt_for
from harness.reports.quantization import card_section
from harness.reports.run_tables import RunTables
from harness.rundir import contract
from harness.rundir.directory import RunDirectory

DEFAULT_MIN_GROUP_SIZE = 30  # as plans/policy-default.yaml publication.min_group_size
CARDS_DIR = contract.CARDS


def registry_entries(names: list[str]) -> dict[str, ModelEntry | None]:
    """The registry entry of each model, ``None`` for a model the registry does not hold (an ad-hoc file)."""
    directory = models_dir()
    registry = ModelRegistry(directory) if directory.is_dir() else None
    known = set(registry.names()) if registry else set()
    return {n: registry.get(n) if registry and n in known else None for n in names}


def model_facts(tables: RunTables, *, min_group_size: int = DEFAULT_MIN_GROUP_SIZE) -> list[ModelFacts]:
    """What each model's card states (public rows, suppressed groups, pseudonymised speakers)."""
    predictions_path = tables.path / contract.PREDICTIONS
    predictions = pd.read_parquet(predictions_path) if predictions_path.is_file() else None
    salt = salt_for(tables.path.parent)
    entries = registry_entries(tables.model_names)
    return [gather(tables, name, entries[name], min_group_size=min_group_size, salt=salt, predictions=predictions)
            for name in tables.model_names]


def write_model_cards(run_dir: Path, *, min_group_size: int = DEFAULT_MIN_GROUP_SIZE) -> list[Path]:
    """Write ``model_cards/<model>.md`` and ``.json`` for every model of the run; return the paths."""
    tables = RunTables.load(run_dir)
    ctx = card_context(tables)
    run = RunDirectory(tables.path)
    written = []
    for facts in model_facts(tables, min_group_size=min_group_size):
        meta = front_matter.front_matter(facts, corpus=ctx.corpus_name, run_id=ctx.run_id,
                                         confidence=ctx.confidence)
        md_name = f"{facts.name}.md"
        quantization = card_section(tables.path, facts.name, min_group_size)
        written.append(run.write_text(f"{CARDS_DIR}/{md_name}",
                                      front_matter.render(meta) + "\n" + body(facts, ctx, quantization)))
        twin = json.dumps(mct_json(facts, ctx, md_name), indent=2, ensure_ascii=False) + "\n"
        written.append(run.write_text(f"{CARDS_DIR}/{facts.name}.json", twin))
    return written
