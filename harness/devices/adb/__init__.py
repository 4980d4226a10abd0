"""Phones over adb: first the parser of LiteRT's ``benchmark_model`` output (the device path comes next)."""
