"""Validate the simulator against the Aegaeon artifact's data (REFERENCE §6).

1. Fit the latency model of Qwen2.5-7B, Yi-9B and Llama-2-13B to the artifact's H100
   profiles and compare with the coefficients the product ships (core/pool/data/latency.json).
2. Replay each of the artifact's synthetic traces — the first 120 s, market models mapped
   6:2:2 in a cycle of 10 in order of first appearance as the artifact does, rows taken as
   they are (the artifact redraws lengths at random instead) — on 16 simulated H100s, with the artifact simulator's switch cost
   (weight bytes / 16 GB/s, no prefetch) for the request-level baselines (our late-binding
   FCFS/SRTF and the artifact-style ServerlessLLM that binds on arrival) and Aegaeon's
   default (plus prefetch) for token-level, and print our attainment next to the artifact's.

3. Replay each trace in artifact-faithful mode (``core.pool.artifact.artifact_faithful``:
   the artifact's very requests, latency fit, whole-ms steps, timeouts checked at arrivals)
   with ``serverlessllm`` and compare with the artifact simulator's own numbers recorded in
   ``reference.json`` (produced by bench/aegaeon_reference.py): the goal is within 0.02
   attainment and 5% mean time between tokens on every trace.

    python -m bench.validate_aegaeon [--data core/pool/data/aegaeon] [--processes 2]

The data is vendored in core/pool/data/aegaeon/ (Apache-2.0, with its NOTICE); the
simulator itself never reads it, only this script and tests/pool/test_pool_artifact.py do.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.helpformat import HelpFormatter  # noqa: E402
from core.pool import PolicyName, PoolConfig, SimConfig, SwitchConfig  # noqa: E402
from core.pool.artifact import ARTIFACT_DIR, artifact_faithful, read_artifact_trace  # noqa: E402
from core.pool.latency import fit_latency, latency_model, read_profiles  # noqa: E402
from core.pool.runner import run_many  # noqa: E402

MODELS = ("qwen2.5-7b", "yi-9b", "llama2-13b")
# The artifact's token-level prototype on two traces (REFERENCE §6); its ServerlessLLM's
# numbers on every trace are in reference.json (bench/aegaeon_reference.py).
TOKEN_LEVEL = {"synth-20-0.5-1.0-1.0": 1.0, "synth-80-0.1-1.0-1.0": 0.85}
ARTIFACT_SWITCH = SwitchConfig(bandwidth_gb_s=16.0, overhead_s=0.0, overhead_s_per_gb=0.0,
                               prefetch=False)  # fmt: skip


def fits_table(data: Path) -> None:
    print(
        "| model | source | prefill a (ms) | b (µs/token) | c | decode a (ms) | b (ns/token) | c (µs/request) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for model in MODELS:
        prefill, decode = read_profiles(data / "profiles" / model)
        for source, lat in (
            ("fit here", fit_latency(prefill, decode)),
            ("shipped", latency_model(model, "H100")),
        ):
            (pa, pb, pc), (da, db, dc) = lat.prefill, lat.decode
            print(f"| {model} | {source} | {pa * 1e3:.2f} | {pb * 1e6:.2f} | {pc:.2e} | {da * 1e3:.2f} | "
                  f"{db * 1e9:.0f} | {dc * 1e6:.1f} |")  # fmt: skip
    print("| qwen2.5-7b | artifact (REFERENCE) | | | | 8.6 | 260 | 76 |")


def replay_table(data: Path, processes: int) -> None:
    reference = json.loads((data / "reference.json").read_text(encoding="utf-8"))["traces"]
    traces = sorted(
        (data / "traces").glob("synth-*.csv"),
        key=lambda p: (int(p.stem.split("-")[1]), float(p.stem.split("-")[2])),
    )
    base = SimConfig(pool=PoolConfig(gpu="H100", num_gpus=16), record_events=False)
    variants = (
        ("request_fcfs", base.replace(policy=PolicyName.REQUEST_FCFS, switch=ARTIFACT_SWITCH)),
        ("request_srtf", base.replace(policy=PolicyName.REQUEST_SRTF, switch=ARTIFACT_SWITCH)),
        ("serverlessllm", base.replace(policy=PolicyName.SERVERLESSLLM, switch=ARTIFACT_SWITCH)),
        ("aegaeon", base.replace(policy=PolicyName.AEGAEON)),
        ("aegaeon_noprefetch", base.replace(policy=PolicyName.AEGAEON, switch=ARTIFACT_SWITCH)),
    )
    print(
        "\n| trace | requests | request-level (ours) | ServerlessLLM (ours) | artifact SLLM (its lengths) | "
        "swaps ours / SLLM / artifact | SLLM timeouts | SRTF (ours) | Aegaeon (ours) | "
        "no prefetch | artifact token-level |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for path in traces:
        trace = read_artifact_trace(path.stem)
        res = {name: run_many([cfg], processes=1, trace=trace)[0].result for name, cfg in variants}
        ref = reference.get(path.stem, {})
        art = (ref.get("attainment"), TOKEN_LEVEL.get(path.stem), ref.get("swaps"))
        fmt = lambda v: "" if v is None else f"{v:.2f}"  # noqa: E731
        req, sllm = res["request_fcfs"], res["serverlessllm"]
        print(f"| {path.stem} | {len(trace)} | {req.attainment:.2f} | {sllm.attainment:.2f} | {fmt(art[0])} | "
              f"{req.switches} / {sllm.switches} / {art[2] if art[2] is not None else ''} | {sllm.failed} | "
              f"{res['request_srtf'].attainment:.2f} | {res['aegaeon'].attainment:.2f} | "
              f"{res['aegaeon_noprefetch'].attainment:.2f} | {fmt(art[1])} |")  # fmt: skip


def faithful_table(data: Path) -> int:
    """Artifact-faithful ServerlessLLM next to the artifact's simulator; returns how many
    traces miss the goal (0.02 attainment, 5% mean TBT)."""
    ref = json.loads((data / "reference.json").read_text(encoding="utf-8"))["traces"]
    cfg = artifact_faithful(SimConfig(policy=PolicyName.SERVERLESSLLM, record_events=False))
    print(
        "\n| trace | requests | attainment ours / artifact (Δ) | mean TBT ms ours / artifact (Δ) "
        "| failed ours / artifact | swaps ours / artifact |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    misses = 0
    for name in sorted(ref, key=lambda n: (int(n.split("-")[1]), float(n.split("-")[2]))):
        a = ref[name]
        r = run_many([cfg], processes=1, trace=read_artifact_trace(name, redraw=True))[0].result
        d_att, d_tbt = r.attainment - a["attainment"], r.tbt_mean_s / a["tbt_mean_s"] - 1
        misses += abs(d_att) > 0.02 or abs(d_tbt) > 0.05
        print(f"| {name} | {a['requests']} | {r.attainment:.3f} / {a['attainment']:.3f} ({d_att:+.3f}) | "
              f"{r.tbt_mean_s * 1e3:.2f} / {a['tbt_mean_s'] * 1e3:.2f} ({d_tbt:+.1%}) | "
              f"{r.failed} / {a['failed']} | {r.switches} / {a['swaps']} |")  # fmt: skip
    print(f"\n{misses} of {len(ref)} traces outside 0.02 attainment / 5% mean TBT")
    return misses


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.validate_aegaeon", description=__doc__, formatter_class=HelpFormatter
    )
    parser.add_argument("--data", type=Path, default=ARTIFACT_DIR, help="artifact data folder")
    parser.add_argument(
        "--processes", type=int, default=os.cpu_count() or 1, help="replay worker processes"
    )
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"artifact data not found at {args.data}")
    fits_table(args.data)
    replay_table(args.data, args.processes)
    faithful_table(args.data)


if __name__ == "__main__":
    main()
