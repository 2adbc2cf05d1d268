"""Benchmarks: each module runs with ``python -m bench.<name>`` and prints a table.

Results are recorded in docs/benchmarks.md together with the machine they ran on. Like
``core``, this package sets ``OMP_WAIT_POLICY=PASSIVE`` before any benchmark imports torch
(``OMP_WAIT_POLICY=ACTIVE python -m bench.<name>`` measures OpenMP's busy-waiting instead).
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read once, when torch loads OpenMP
