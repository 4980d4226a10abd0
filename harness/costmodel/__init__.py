"""The cost model: device latency from a model's work and a core, calibrated on published MLPerf Tiny results."""
