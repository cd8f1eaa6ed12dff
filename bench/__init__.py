"""Benchmarks of the Baromètre, each measured side by side against a bare baseline.

`python -m bench [--quick]` (or `make bench` / `make bench-quick`) runs every row,
prints a table and writes bench/results/*.json.
"""
