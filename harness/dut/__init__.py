"""The MLPerf Tiny device-under-test protocol: host driver, measurement modes and device/host parity."""
