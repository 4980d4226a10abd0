"""LiteRT's ``benchmark_model`` on a device: its flags, its output parsed, its failures named (phones and boards)."""
