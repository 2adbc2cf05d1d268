"""Glassbox core: the product's logic, free of any UI framework.

Packages by floor (docs/architecture.md; the contract in pyproject.toml checks it):
figures (``viz``) over topics (``sampling``, ``training``, ``pool``) over ``registry`` over
``model`` and ``tokenization`` over the ground (``store``, ``corpus``, ``device``).

Every command line (``python -m core.<package>``) imports this module before torch, so it
sets ``OMP_WAIT_POLICY=PASSIVE`` unless the caller chose a policy: OpenMP's default
busy-waiting makes every small matrix product spin for the other threads, and on a busy
2-core machine slowed a decode step from ~1 ms to ~70 ms (bench/bench_sampling.py).
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read once, when torch loads OpenMP
