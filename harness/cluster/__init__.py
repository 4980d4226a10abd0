"""Dask distributed as the harness's engine past one machine: connecting, local clusters, device resources."""
