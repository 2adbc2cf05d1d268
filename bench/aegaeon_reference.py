"""Produce the artifact's own ServerlessLLM numbers on the vendored traces (reference data).

Runs the Aegaeon artifact's SimPy simulator (``aegaeon/sim`` of its public repository, which
is *not* part of Glassbox: pass where a copy lives) with its ``SeLLMPolicy`` (the
ServerlessLLM the paper plots) on each trace vendored in ``core/pool/data/aegaeon/traces``,
16 simulated H100s, seed 0, no extra swap overhead: exactly ``simulate.py``'s defaults. For
each trace it records the artifact's attainment (its ``compute_slo`` metric, TTFT 10 s,
TPOT 0.1 s; a failed request scores 0), mean time between tokens, requests, failures and
swaps, and writes them to ``core/pool/data/aegaeon/reference.json``, which
``bench/validate_aegaeon.py`` and ``tests/pool/test_pool_artifact.py`` compare against.

    PYTHONPATH=/path/to/simpy-and-aenum python -m bench.aegaeon_reference \
        --artifact /path/to/artifact/aegaeon [--out core/pool/data/aegaeon/reference.json]

Needs ``simpy``, ``aenum`` and ``scikit-learn`` (the artifact's dependencies); matplotlib,
which the artifact imports but does not use here, is stubbed. The artifact's estimator cache
never hits (it stores under one key and looks up another); this script makes it hit, which
changes speed only (the fitted coefficients are deterministic), and it evaluates the fitted
line with the same matrix product ``LinearRegression.predict`` uses, minus its input checks
(checked: identical numbers on ``synth-10-0.1`` and ``synth-20-0.5``). Nothing here is imported by
the product.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRACES = ROOT / "core" / "pool" / "data" / "aegaeon" / "traces"
TTFT_MS, TPOT_MS = 10_000, 100
COMMAND = (
    "PYTHONPATH=<simpy 4.1.2 + aenum 3.1.17> python -m bench.aegaeon_reference "
    "--artifact <artifact checkout>/aegaeon"
)
SOURCE = (
    "The Aegaeon artifact's simulator (aegaeon/sim of its public repository, SOSP'25, "
    "Apache-2.0): SeLLMPolicy (its ServerlessLLM: V02Policy, R = 1, QS = 4), 16 simulated "
    "H100s, seed 0, simulate.py's defaults, one process per trace. attainment: its "
    "compute_slo metric (TTFT 10 s, TPOT 0.1 s; a failed request scores 0); tbt_mean_s: mean "
    "gap between consecutive tokens over every request that got a first token; tpot_mean_s: "
    "its own per-request (last - first) / (output - 1), averaged; wall_s: seconds on a shared "
    "2-core machine."
)


def attainment(per_token_ms: list[int]) -> float:
    """The artifact's time-fraction metric on one request's token gaps (first = TTFT)."""
    qos, start, accum, target, total = 0.0, 0, 0, TTFT_MS, 0
    for gap in per_token_ms:
        total += gap
        if total - start <= target:
            accum = target
        else:
            qos += accum
            start, accum = total, 0
        target += TPOT_MS
    qos += min(target, total - start)
    return qos / total if total else 0.0


def run_trace(sim, name: str) -> dict:
    import simpy  # noqa: F401  (the artifact's dependency; fail early if absent)

    swaps = [0]
    worker_mod = sys.modules["aegaeon.sim.worker"]
    original = worker_mod.Worker.do_swap

    def counting_swap(self, model):
        swaps[0] += 1
        return (yield from original(self, model))

    worker_mod.Worker.do_swap = counting_swap
    try:
        args = sim.parse_args([])
        args.workload = name
        started = time.perf_counter()
        reqs = sim.main(args, sim.SeLLMPolicy(), silent=True)
        wall = time.perf_counter() - started
    finally:
        worker_mod.Worker.do_swap = original
    scores, gaps, tpots, failed, finished = [], [], [], 0, 0
    for req in reqs:
        tokens = req.time_each_token_ms
        if req.is_failed or not tokens:
            failed += int(req.is_failed)
            scores.append(0.0)
            continue
        finished += int(req.is_finished)
        per_token = [tokens[0] - req.time_arrival_ms] + [
            b - a for a, b in zip(tokens, tokens[1:], strict=False)
        ]
        scores.append(attainment(per_token))
        gaps.extend(per_token[1:])
        if req.output_len > 1:
            tpots.append(int((tokens[-1] - tokens[0]) / (req.output_len - 1)))
    return {
        "requests": len(reqs),
        "finished": finished,
        "failed": failed,
        "swaps": swaps[0],
        "attainment": sum(scores) / len(scores),
        "tbt_mean_s": sum(gaps) / len(gaps) / 1000 if gaps else None,
        "tpot_mean_s": sum(tpots) / len(tpots) / 1000 if tpots else None,
        "wall_s": round(wall, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.aegaeon_reference", description=__doc__)
    parser.add_argument("--artifact", type=Path, required=True, help="folder holding sim/")
    parser.add_argument("--out", type=Path, default=TRACES.parent / "reference.json")
    parser.add_argument("--only", default="", help="comma-separated trace names (default: all)")
    args = parser.parse_args()
    stub = types.ModuleType("matplotlib")
    stub.pyplot = types.ModuleType("matplotlib.pyplot")
    sys.modules.setdefault("matplotlib", stub)
    sys.modules.setdefault("matplotlib.pyplot", stub.pyplot)
    sys.path.insert(0, str(args.artifact.resolve().parent))
    from aegaeon.sim import estimator, simulate  # type: ignore[import-not-found]

    def cached(cls, model, device, _cache={}):  # noqa: B006  (deliberate memo)
        key = (model, device, cls)
        if key not in _cache:
            _cache[key] = cls(model, device)
        return _cache[key]

    for mod in ("aegaeon.sim.estimator", "aegaeon.sim.worker", "aegaeon.sim.scheduler"):
        sys.modules[mod].make_estimator = cached
    import numpy as np

    def fast_predict(self, a, b):  # LinearRegression.predict's arithmetic, minus its checks
        return (np.array([[a, b]], dtype=np.float64) @ self.model.coef_ + self.model.intercept_)[0]

    estimator.PrefillEstimator._predict = fast_predict
    estimator.DecodeEstimator._predict = fast_predict
    names = sorted(p.name for p in TRACES.glob("synth-*.csv"))
    if args.only:
        names = [n for n in names if n.removesuffix(".csv") in args.only.split(",")]
    if len(names) > 1:
        # One process per trace, as the artifact's own driver does: its ModelType enum keeps
        # the model aliases a trace created, so a second trace in the same process would
        # inherit the first one's model mapping.
        for name in names:
            cmd = [sys.executable, "-m", "bench.aegaeon_reference", "--artifact", str(args.artifact),
                   "--out", str(args.out), "--only", name.removesuffix(".csv")]  # fmt: skip
            subprocess.run(cmd, check=True, cwd=ROOT)
        return
    out = json.loads(args.out.read_text()) if args.out.exists() else {}
    out.setdefault("traces", {})
    out["command"] = COMMAND
    out["source"] = SOURCE
    for name in names:
        res = run_trace(simulate, name)
        out["traces"][name.removesuffix(".csv")] = res
        print(name, res, flush=True)
        args.out.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
