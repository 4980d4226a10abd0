"""LiteRT's benchmark_model for the test board: real invokes of the real LiteRT, printed as the tool prints them.

The board in tests/ssh_board.py is this machine, so the user's "binary for the board" is a shell script
that runs this file. It takes the tool's flags, loads ``--graph`` with ai-edge-litert (XNNPACK only with
``--use_xnnpack=true``), times ``--warmup_runs`` then ``--num_runs`` invokes and prints the log of the
build with percentiles (tests/adb_server.py formats it), with the memory lines when asked.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: E402

from tests.adb_server import cpp, stat_line  # noqa: E402


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str]) -> int:
    flags = dict(a[2:].split("=", 1) for a in argv if a.startswith("--") and "=" in a)
    graph = flags.get("graph", "")
    print("STARTING!")
    print(f"Num threads: [{flags.get('num_threads', '1')}]")
    print(f"Graph: [{graph}]")
    if not Path(graph).is_file():
        print(f"ERROR: Could not open '{graph}'.", file=sys.stderr)
        print("ERROR: Failed to load model", file=sys.stderr)
        return 1
    print(f"The input model file size (MB): {cpp(Path(graph).stat().st_size / 1e6)}")
    start, init_mb = time.perf_counter_ns(), rss_mb()
    resolver = OpResolverType.AUTO if flags.get("use_xnnpack") == "true" else \
        OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = Interpreter(model_path=graph, num_threads=int(flags.get("num_threads", "1")),
                              experimental_op_resolver_type=resolver)
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], dtype=detail["dtype"]))
    init_us = (time.perf_counter_ns() - start) // 1000
    init_mb = rss_mb() - init_mb
    print(f"Initialized session in {cpp(init_us / 1e3)}ms.")

    def timed(n: int) -> list[int]:
        samples = []
        for _ in range(n):
            t0 = time.perf_counter_ns()
            interpreter.invoke()
            samples.append(max(1, (time.perf_counter_ns() - t0) // 1000))
        return samples

    warm, runs = timed(int(flags["warmup_runs"])), timed(int(flags["num_runs"]))
    for phase in (warm, runs):
        print("Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding "
              "150 seconds.")
        print(stat_line(phase, percentiles=True))
        print()
    first = warm[0] if warm else runs[0]
    print(f"Inference timings in us: Init: {init_us}, First inference: {first}, Warmup (avg): "
          f"{cpp(sum(warm) / len(warm)) if warm else '0'}, Inference (avg): {cpp(sum(runs) / len(runs))}")
    if flags.get("report_peak_memory_footprint") == "true":
        print(f"Peak memory footprint (MB): init={cpp(init_mb)} overall={cpp(rss_mb())}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
