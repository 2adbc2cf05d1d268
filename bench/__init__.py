"""Benchmarks: each module runs with ``python -m bench.<name>`` and prints a table.

Results are recorded in docs/benchmarks.md together with the machine they ran on.
"""
