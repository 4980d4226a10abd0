"""The static profile of a model: what the cost model and the memory checks consume."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class OpCost:
    """One operator of the graph and the work it does."""

    index: int
    op_type: str  # upper-case TFLite builtin name, e.g. CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED
    macs: int
    output_elements: int
    dtype: str = ""  # compute type of a MAC op: int8, int16 or float32 ("" when unknown or not a MAC op)
    fused: bool = False  # folded into a neighbour by the runtime (an ONNX QDQ pair): no work, no dispatch


@dataclass(frozen=True)
class ModelProfile:
    format: str
    model_bytes: int
    params: int
    ops: tuple[OpCost, ...]
    peak_activation_bytes: int  # largest sum of live activation tensors over the schedule (estimate)
    subgraphs: int = 1
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def macs(self) -> int:
        return sum(op.macs for op in self.ops)

    @property
    def dtypes(self) -> list[str]:
        """Compute types of the MAC ops, e.g. ["int8"] for a fully quantized model."""
        return sorted({op.dtype for op in self.ops if op.macs and op.dtype})

    @property
    def op_histogram(self) -> dict[str, int]:
        return dict(sorted(Counter(op.op_type for op in self.ops).items()))

    def macs_by_type(self) -> dict[str, int]:
        totals: Counter[str] = Counter()
        for op in self.ops:
            totals[op.op_type] += op.macs
        return dict(sorted(totals.items()))

    @staticmethod
    def combine(profiles: list[ModelProfile]) -> ModelProfile:
        """One profile for models that run in sequence each step (e.g. front end + embedding + head)."""
        ops: list[OpCost] = []
        for p in profiles:
            ops += [OpCost(len(ops) + i, o.op_type, o.macs, o.output_elements, o.dtype, o.fused)
                    for i, o in enumerate(p.ops)]
        return ModelProfile(
            format="+".join(sorted({p.format for p in profiles})),
            model_bytes=sum(p.model_bytes for p in profiles),
            params=sum(p.params for p in profiles),
            ops=tuple(ops),
            peak_activation_bytes=max(p.peak_activation_bytes for p in profiles),
            subgraphs=sum(p.subgraphs for p in profiles),
            notes=tuple(n for p in profiles for n in p.notes),
        )
