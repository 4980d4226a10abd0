"""The card body in the sections of Mitchell et al. (2019), every number read from the run's tables."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from harness.evaluation.groups import JOIN, error_of
from harness.reports import numbers
from harness.reports.carbon import MD_COLUMNS as CARBON_HEADERS
from harness.reports.cards import formatting as fmt
from harness.reports.cards.context import CardContext, demote, file_name, published_file
from harness.reports.cards.facts import ModelFacts
from harness.reports.run_tables import carbon_view
from harness.reports.tables import format_cell, to_markdown

NOT_DOCUMENTED = "not documented"

EFFICIENCY_COLUMNS = {
    "target": "target", "target_class": "class", "backend": "backend", "provenance": "provenance",
    "latency_ms_p50": "p50 ms",
    "latency_ms_p90": "p90 ms", "latency_ms_p99": "p99 ms", "latency_budget_ms": "budget ms",
    "energy_mj_per_inference": "mJ/inference", "avg_power_mw": "window mW", "deployed_power_mw": "deployed mW",
    "power_budget_mw": "budget mW", "arena_bytes": "arena", "arena_source": "arena from",
    "not_deployable_reason": "not deployable because", "fits_latency": "fits latency",
    "fits_power": "fits power", "fits_memory": "fits memory",
}


def _registry_file(facts: ModelFacts) -> str:
    """The registry entry by file name and sha256: a public card names no folder of the machine that wrote it."""
    if not (facts.entry and facts.entry.source_file):
        return "no registry entry"
    return published_file(facts.entry.source_file)


def _details(facts: ModelFacts, ctx: CardContext) -> list[str]:
    entry, record = facts.entry, facts.record
    lines = ["## Model details", ""]
    lines.append(f"- Name: `{facts.name}`; registry entry: {_registry_file(facts)}")
    lines.append(f"- Description: {entry.description.strip() if entry and entry.description else NOT_DOCUMENTED}")
    lines.append(f"- Task: {facts.task or NOT_DOCUMENTED}; family: {entry.family if entry else NOT_DOCUMENTED}; "
                 f"format: {record.get('format', NOT_DOCUMENTED)}")
    lines.append(f"- Source: {entry.source if entry else record.get('source', NOT_DOCUMENTED)}")
    lines.append(f"- License: {entry.license if entry else NOT_DOCUMENTED}")
    lines.append(f"- Developers, version history, citation, contact: {NOT_DOCUMENTED}")
    if record.get("sha256"):
        lines.append(f"- Artifact: `{file_name(record.get('path'))}`, sha256 `{record['sha256']}` (manifest.json)")
    for stage in record.get("stages", []):
        lines.append(f"- Stage `{stage.get('name')}`: sha256 `{stage.get('sha256')}`")
    if entry is not None:
        if entry.input is not None:
            lines.append(f"- Input tensor: {entry.input.dtype} {entry.input.shape}; output: "
                         f"{entry.output.dtype + ' ' + str(entry.output.shape) if entry.output else NOT_DOCUMENTED}")
        lines.append(f"- Front end: {entry.frontend}; streaming: {'yes' if entry.streaming else 'no'}"
                     + (f", one inference per {entry.step_ms:g} ms of audio" if entry.step_ms else ""))
        if entry.decision is not None:
            lines.append(f"- Decision rule: sliding mean of {entry.decision.window} probabilities above "
                         f"{entry.decision.cutoff:g}, then {entry.decision.refractory_s:g} s refractory")
    if not facts.efficiency.empty:
        first = facts.efficiency.iloc[0]
        sizes = [f"{c.replace('_', ' ')} {format_cell(first[c], c)}" for c in ("model_bytes", "params", "macs")
                 if c in first and pd.notna(first[c])]
        if sizes:
            lines.append(f"- Size (efficiency.csv): {', '.join(sizes)}")
    lines.append(f"- Card written by edge-harness {ctx.harness_version} from run `{ctx.run_id}` "
                 f"({ctx.created_utc}, commit {ctx.git_commit})")
    return lines


def _intended_use(facts: ModelFacts) -> list[str]:
    entry = facts.entry
    lines = ["## Intended use", "", f"- Primary intended uses and users: {NOT_DOCUMENTED} in the registry entry "
             "(it has no intended-use field)."]
    if entry and entry.wake_phrase:
        lines.append(f'- The entry registers it as a wake-word model for the phrase "{entry.wake_phrase}".')
    if entry and entry.labels:
        lines.append(f"- The entry lists its output classes: {', '.join(entry.labels)}.")
    lines += ["", "### Out-of-scope uses", ""]
    out = []
    if entry and not entry.evaluate:
        out.append("Recognising speech: the registry marks this model's predictions as not meaningful "
                   "(`evaluate: false`); it is a workload for efficiency only.")
    if entry and entry.trained_languages:
        out.append(f"Languages other than those the entry lists as trained ({', '.join(entry.trained_languages)}).")
    unfit = facts.efficiency[~(facts.efficiency[["fits_latency", "fits_power", "fits_memory"]].astype(bool)
                               .all(axis=1))] if not facts.efficiency.empty else facts.efficiency
    for _, row in unfit.iterrows():
        failed = [c.removeprefix("fits_") for c in ("fits_latency", "fits_power", "fits_memory") if not bool(row[c])]
        how = "as measured" if str(row.get("provenance", "")).startswith("measured") else \
            f"as {row['provenance']}" if pd.notna(row.get("provenance")) else "as measured"
        out.append(f"Deployment on `{row['target']}` {how}: it does not fit the {', '.join(failed)} budget "
                   "(efficiency.csv).")
    lines += [f"- {o}" for o in out] or [f"- {NOT_DOCUMENTED} in the registry entry."]
    return lines


def _factors(facts: ModelFacts, ctx: CardContext) -> list[str]:
    lines = ["## Factors", ""]
    if facts.evaluated:
        counts = pd.concat([facts.groups, facts.suppressed]).groupby("attribute")["group"].nunique()
        listed = ", ".join(f"{a} ({counts[a]} groups)" for a in facts.attributes())
        lines.append(f"- Groups evaluated (corpus `{ctx.corpus_name}`): {listed or 'overall only'}.")
    else:
        lines.append("- No groups evaluated: this run has no accuracy results for this model.")
    lines.append(f"- Instrumentation: {', '.join(ctx.backends) or 'not recorded'} backend(s); per target in the "
                 "efficiency table below (`sim:<target>` is a simulated device: the real model on the host with "
                 "a calibrated cost model for device time and power).")
    return lines


def _metrics(facts: ModelFacts, ctx: CardContext) -> list[str]:
    lines = ["## Metrics", ""]
    for metric in facts.overall["metric"].unique():
        lines.append(f"- **{metric}**: {fmt.DEFINITIONS.get(metric, NOT_DOCUMENTED)}.")
    lines.append(f"- Uncertainty: {ctx.confidence:.0%} intervals (Wilson for rates, exact Poisson for FA/h); "
                 f"a group with fewer than {ctx.min_clips} clips or {ctx.min_speakers} speakers is marked "
                 "insufficient and cannot pass a gate. Worst/best ratios and differences have speaker-bootstrap "
                 "intervals (disparity.json).")
    lines.append("- In the front matter, \"x ± y\" gives the estimate and the larger distance to a bound of its "
                 "interval (the intervals are asymmetric); the exact bounds are in each metric's name and in "
                 "[fairness.csv](../fairness.csv).")
    lines.append("- Efficiency: device latency p50/p90/p99, energy per inference integrated from the power trace "
                 "between timestamp events, deployed power against the target's budgets "
                 "([efficiency.csv](../efficiency.csv)).")
    return lines


def _evaluation_data(ctx: CardContext) -> list[str]:
    lines = ["## Evaluation data", ""]
    if ctx.corpus:
        c = ctx.corpus
        lines.append(f"- Corpus `{c.get('name')}`: {c.get('n_clips', '?')} clips; manifest sha256 "
                     f"`{c.get('manifest_sha256', 'not recorded')}`; content sha256 "
                     f"`{c.get('content_sha256') or 'not recorded'}` (manifest.json).")
    lines.append(f"- Datasheet: {ctx.datasheet_note}.")
    if ctx.datasheet:
        lines += ["", demote(ctx.datasheet.strip(), 2)]
    return lines


def _training_data(facts: ModelFacts) -> list[str]:
    entry = facts.entry
    lines = ["## Training data", "", f"- Training data, its size and its speaker demographics: {NOT_DOCUMENTED} in "
             f"the registry entry ({_registry_file(facts)})."]
    if entry and entry.trained_languages:
        lines.append(f"- Trained languages (registry field `trained_languages`): {', '.join(entry.trained_languages)}.")
    if entry:
        lines.append(f"- Provenance named by the entry: {entry.source}.")
    return lines


def _efficiency(facts: ModelFacts, ctx: CardContext) -> list[str]:
    lines = ["### Efficiency per target", ""]
    if facts.efficiency.empty:
        return lines + ["This run measured no target for this model (efficiency.csv has no row for it).", ""]
    columns = {c: h for c, h in EFFICIENCY_COLUMNS.items() if c in facts.efficiency.columns}
    if "not_deployable_reason" in columns and facts.efficiency["not_deployable_reason"].isna().all():
        del columns["not_deployable_reason"]
    lines += [to_markdown(facts.efficiency, columns), "Source: [efficiency.csv](../efficiency.csv). Every figure is "
              "as its row's provenance says: measured:device (on the board), measured:host (the real runtime on this "
              "machine) or predicted:* (the calibrated cost model, written \"value [low, high]\" with its interval; "
              "docs/calibration.md); confirm predicted figures on the board.", ""]
    lines.append("#### Carbon and cost")
    lines.append("")
    if facts.carbon is not None and not facts.carbon.empty:
        shown = carbon_view(facts.carbon).drop(columns=["model"], errors="ignore")
        if "provenance" in facts.efficiency.columns and "target" in shown.columns:
            source = dict(zip(facts.efficiency["target"], facts.efficiency["provenance"], strict=True))
            shown.insert(1, "provenance", [source.get(t, "not in efficiency.csv") for t in shown["target"]])
        shown = shown[[c for c in shown.columns if shown[c].notna().any()]]  # no price in the plan: no cost columns
        headers = {c: CARBON_HEADERS.get(c, c.replace("_", " ")) for c in shown.columns}
        lines += [to_markdown(shown, headers), "Source: [carbon.csv](../carbon.csv); its inputs (fleet, rate, grid "
                  "intensity, price) are listed in [carbon.md](../carbon.md).", ""]
    elif ctx.has_carbon:
        lines += ["carbon.csv has no row for this model.", ""]
    else:
        lines += ["Not in this run: carbon.csv is absent.", ""]
    return lines


def _cell(row: pd.Series | None, metric: str) -> tuple[str, str]:
    if row is None:
        return "", "suppressed"
    text = fmt.bracket(metric, float(row["value"]), float(row["ci_low"]), float(row["ci_high"]))
    if not bool(row.get("sufficient", True)):
        text += " (insufficient)"
    return str(int(row["n"])), text


def _group_table(facts: ModelFacts, attribute: str, ci: str) -> list[str]:
    metrics = facts.metrics
    rows = facts.groups[facts.groups["attribute"] == attribute]
    by_metric = {m: rows[rows["metric"] == m].set_index("group") for m in metrics}
    first = by_metric[metrics[0]]
    # a row needs its first metric: a group whose first metric is suppressed is named in the note below
    ranked = sorted(first.index, key=lambda g: (math.isnan(first.loc[g, "value"]),
                                                -error_of(metrics[0], first.loc[g, "value"]), g))
    head = f"| {attribute} |" + "".join(f" n | {fmt.label(m)} [{ci}] |" for m in metrics) + " speakers |"
    lines = [head, "|---|" + "---:|---|" * len(metrics) + "---:|"]
    for group in ranked:
        cells, speakers = [], ""
        for m in metrics:
            row = by_metric[m].loc[group] if group in by_metric[m].index else None
            cells += list(_cell(row, m))
            speakers = speakers or ("" if row is None else str(int(row["n_speakers"])))
        lines.append(f"| {group} | " + " | ".join(cells) + f" | {speakers} |")
    small = facts.suppressed[(facts.suppressed["attribute"] == attribute) & facts.suppressed["metric"].isin(metrics)]
    if not small.empty:
        which = small.groupby("group", sort=True)["metric"].apply(lambda m: " and ".join(sorted(m)))
        names = "; ".join(f"{g} ({m})" for g, m in which.items())
        lines += ["", f"Suppressed (fewer than {facts.min_group_size} clips): {names}."]
    return lines


def _disparity(facts: ModelFacts) -> list[str]:
    rows = [d for d in facts.disparity if JOIN not in str(d.get("attribute")) and d.get("metric") in facts.metrics]
    if not rows:
        return []
    small = set(zip(facts.suppressed["attribute"], facts.suppressed["group"], facts.suppressed["metric"], strict=True))

    def name(d: dict[str, Any], key: str) -> str:
        group = d.get(key)
        return "a suppressed group" if (d.get("attribute"), group, d.get("metric")) in small else str(group)

    lines = ["#### Worst against best group (disparity.json)", "",
             "| attribute | metric | worst | best | ratio [CI] | difference [CI] | verdict |",
             "|---|---|---|---|---|---|---|"]
    for d in rows:
        lines.append(f"| {d['attribute']} | {d['metric']} | {name(d, 'worst_group')} | {name(d, 'best_group')} | "
                     f"{_num(d.get('ratio'))} {_pair(d.get('ratio_ci'))} | {_num(d.get('difference'))} "
                     f"{_pair(d.get('difference_ci'))} | {d.get('verdict', '')} |")
    return lines + [""]


def _num(value: Any) -> str:
    if value is None:
        return "n/a"
    return "inf" if isinstance(value, float) and math.isinf(value) else fmt.number(float(value))


def _pair(ci: Any) -> str:
    return f"[{_num(ci[0])}, {_num(ci[1])}]" if ci and ci[0] is not None else ""


def _speakers(facts: ModelFacts) -> list[str]:
    if facts.speakers is None:
        return []
    metric = facts.metrics[0]
    lines = ["#### Per speaker (pseudonymised)", "",
             f"{facts.speakers_total} speakers; {facts.speakers_suppressed} with fewer than {facts.min_group_size} "
             f"clips are suppressed. Computed from raw/predictions.parquet with the metric code of fairness.csv; "
             "each identifier is a keyed hash of the corpus's speaker id, stable within this results folder."]
    if facts.speakers.empty:
        return lines + [""]
    worst = facts.speakers.assign(err=error_of(metric, facts.speakers["value"])).sort_values(
        ["err", "group"], ascending=[False, True]).head(10)
    lines += ["", f"| speaker | n | {fmt.label(metric)} [CI] |", "|---|---:|---|"]
    lines += [f"| {r['group']} | {int(r['n'])} | {_cell(r, metric)[1]} |" for _, r in worst.iterrows()]
    return lines + [""]


def _quantitative(facts: ModelFacts, ctx: CardContext) -> list[str]:
    lines = ["## Quantitative analyses", "", *_efficiency(facts, ctx), "### Sign-off", ""]
    if facts.gates:
        lines += [f"Run verdict: **{ctx.verdict}**. Gates for this model and run-wide gates (signoff.json):", "",
                  "| gate | target | metric | value [CI] | threshold | status | reason |",
                  "|---|---|---|---|---|---|---|"]
        for g in facts.gates:
            value = " ".join(numbers.value_and_interval(g.get("value"), g.get("ci_low"), g.get("ci_high"),
                                                        str(g.get("unit") or ""))).strip()
            lines.append(f"| {g.get('id')} | {g.get('target') or ''} | {g.get('metric')} | "
                         f"{'withheld' if g.get('withheld') else value} | {_num(g.get('threshold'))} | "
                         f"{g.get('status')} | {numbers.in_text(str(g.get('reason') or ''))} |")
        lines.append("")
    elif ctx.verdict is None:
        lines += ["Not in this run: signoff.json is absent (`harness signoff RUN_DIR` writes it).", ""]
    else:
        lines += [f"Run verdict **{ctx.verdict}**; signoff.json has no gate for this model.", ""]
    if not facts.evaluated:
        return lines + ["### Disaggregated results", "", "No accuracy results for this model in this run "
                        "(fairness.csv has no row for it).", ""]
    lines += ["### Overall", "", f"| metric | n | speakers | value [{ctx.confidence:.0%} CI] | evidence |",
              "|---|---:|---:|---|---|"]
    for _, r in facts.overall.iterrows():
        lines.append(f"| {fmt.label(r['metric'])} | {int(r['n'])} | {int(r['n_speakers'])} | "
                     f"{fmt.bracket(r['metric'], r['value'], r['ci_low'], r['ci_high'])} | "
                     f"{'sufficient' if bool(r.get('sufficient', True)) else 'insufficient'} |")
    lines += ["", "### Disaggregated results, worst group first", "",
              f"Source: [fairness.csv](../fairness.csv). n counts each metric's own clips (positives for detection, "
              f"clips without the phrase for false accepts). Groups measured on fewer than {facts.min_group_size} "
              "clips are suppressed from this public card and kept in the internal report (report.html).", ""]
    for attribute in facts.attributes():
        if (facts.groups["attribute"] == attribute).any() or (facts.suppressed["attribute"] == attribute).any():
            lines += [*_group_table(facts, attribute, f"{ctx.confidence:.0%} CI"), ""]
    return lines + _disparity(facts) + _speakers(facts)


def _ethics(facts: ModelFacts, ctx: CardContext) -> list[str]:
    lines = ["## Ethical considerations", ""]
    if facts.task == "wake_word":
        lines.append("- A wake-word model gates an always-listening microphone: a false accept sends audio the "
                     "user did not mean to share; a false rejection denies the device to the people it misses.")
    failing = [d for d in facts.disparity if d.get("verdict") == "FAIL"]
    if failing:
        lines.append("- Significant disparities in this run: " + "; ".join(
            f"{d['metric']} by {d['attribute']}" for d in failing) + " (disparity.json).")
    lines.append("- Speaker identifiers are pseudonymised and small groups suppressed in this card; the internal "
                 "report keeps them for reviewers.")
    lines.append("- Commercial speech systems have shown unequal error rates across speaker groups (Koenecke et "
                 "al. 2020, word error 0.35 for Black and 0.19 for white speakers): results per accent matter.")
    return lines


def _caveats(facts: ModelFacts, ctx: CardContext) -> list[str]:
    lines = ["## Caveats and recommendations", ""]
    if any(b == "sim" for b in ctx.backends):
        lines.append("- Efficiency numbers from `sim:` backends are simulated devices (calibrated cost model); "
                     "confirm on the board before sign-off.")
    if ctx.corpus and str(ctx.corpus.get("name", "")).startswith("synthetic"):
        lines.append("- The corpus is synthetic speech (espeak-ng): a reproducible stand-in for accents, not a "
                     "measurement of how the model treats real people. Evaluate on recordings of the users.")
    shown = facts.groups[facts.groups["metric"].isin(facts.metrics)]
    insufficient = int((~shown["sufficient"].astype(bool)).sum()) if "sufficient" in shown.columns else 0
    suppressed = int(facts.suppressed["metric"].isin(facts.metrics).sum())
    if insufficient or suppressed:
        lines.append(f"- {insufficient} group result(s) in the tables above rest on too little evidence and "
                     f"{suppressed} were suppressed: collect at least {ctx.min_clips} clips from "
                     f"{ctx.min_speakers} speakers per group before relying on them.")
    lines.append(f"- Every number here is read from run `{ctx.run_id}`; re-check it there (manifest.json holds the "
                 "hashes of every input).")
    return lines


def body(facts: ModelFacts, ctx: CardContext, quantization: list[str] | None = None) -> str:
    """The card; ``quantization`` is its "Quantization effect by group" section (reports/quantization.py)."""
    sections = [
        [f"# Model card: {facts.name}", ""],
        _details(facts, ctx), _intended_use(facts), _factors(facts, ctx), _metrics(facts, ctx),
        _evaluation_data(ctx), _training_data(facts), _quantitative(facts, ctx), quantization or [],
        _ethics(facts, ctx),
        _caveats(facts, ctx),
    ]
    return "\n".join("\n".join(s).rstrip("\n") + "\n" for s in sections if s)
