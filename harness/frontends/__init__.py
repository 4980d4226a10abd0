"""Audio front ends: a whole 16 kHz int16 clip -> the input sequence a model is invoked with.

Select one by name with ``get_frontend("micro_frontend" | "oww_melspec" | "mlperf_mfcc" | "mlperf_lfbe", **options)``.
"""

from harness.frontends.base import (
    SAMPLE_RATE,
    FrontEnd,
    frontend_class,
    frontend_names,
    get_frontend,
    quantize,
    register_frontend,
)

__all__ = [
    "SAMPLE_RATE",
    "FrontEnd",
    "frontend_class",
    "frontend_names",
    "get_frontend",
    "quantize",
    "register_frontend",
]
