"""Compare two runs: deltas in latency, energy and per-group detection with intervals, flagging regressions."""
