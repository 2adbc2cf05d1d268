"""Command line of the GPU-pool simulator: ``python -m core.pool {run,sweep,goodput,presets}``.

Examples::

    python -m core.pool presets
    python -m core.pool run --preset paper-40x0.1 --policy request_fcfs
    python -m core.pool run --preset paper-80x0.1 --policy serverlessllm --json
    python -m core.pool run --trace my.csv --gpus 8 --save
    python -m core.pool run --preset paper-40x0.1 --switch unoptimized
    python -m core.pool run --preset paper-40x0.1 --switch-bandwidth 8 --switch-overhead 2 --no-prefetch
    python -m core.pool run --artifact-trace synth-20-0.5-1.0-1.0 --policy serverlessllm
    python -m core.pool run --artifact-trace synth-80-0.1-1.0-1.0 --policy serverlessllm --artifact-faithful
    python -m core.pool sweep --preset paper-40x0.1 --rates 0.05:0.7:12 \\
        --policies aegaeon,request_fcfs,serverlessllm,static_multiplex --save
    python -m core.pool goodput --preset paper-40x0.1 --policy aegaeon

Each command prints a table; ``--save`` stores the run (kind ``pool`` / ``pool_sweep``) in
the run store (``$GLASSBOX_DATABASE_URL`` or SQLite under ``$GLASSBOX_HOME``). Bad input
exits with status 2 and a one-line message.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.cluster import ClusterUnavailable, ray_address_from_env
from core.helpformat import HelpFormatter
from core.pool.artifact import (
    artifact_faithful,
    artifact_switch,
    artifact_trace_names,
    read_artifact_trace,
)
from core.pool.config import ConfigError, PolicyName, PoolError, SimConfig, SwitchConfig
from core.pool.presets import PRESETS, preset
from core.pool.results import SimResult
from core.pool.runner import SweepPoint, goodput, run, sweep
from core.pool.trace_io import read_trace_csv


def parse_rates(text: str) -> list[float]:
    """``"0.05:0.7:12"`` -> 12 evenly spaced rates; ``"0.1,0.2"`` -> [0.1, 0.2]."""
    try:
        if ":" in text:
            lo, hi, n = text.split(":")
            return [float(x) for x in np.linspace(float(lo), float(hi), int(n))]
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--rates {text!r}: use LO:HI:N or a comma-separated list") from None


def build_config(args: argparse.Namespace) -> SimConfig:
    """Start from --config/--preset (default: SimConfig()) and apply the overrides."""
    if args.config:
        try:
            cfg = SimConfig.from_json(Path(args.config).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"cannot read config {args.config}: {exc}") from None
    elif args.preset:
        cfg = preset(args.preset)
    else:
        cfg = SimConfig()
    wl, pool = cfg.workload, cfg.pool
    if args.models is not None:
        wl = dataclasses.replace(wl, num_models=args.models)
    if args.rate is not None:
        wl = dataclasses.replace(wl, rate_per_model=args.rate)
    if args.duration is not None:
        wl = dataclasses.replace(wl, duration_s=args.duration)
    if args.gpus is not None:
        pool = dataclasses.replace(pool, num_gpus=args.gpus)
    if args.gpu is not None:
        pool = dataclasses.replace(pool, gpu=args.gpu)
    changes = {"workload": wl, "pool": pool, "switch": build_switch(cfg.switch, args)}
    if getattr(args, "policy", None):
        changes["policy"] = PolicyName(args.policy)
    if args.seed is not None:
        changes["seed"] = args.seed
    return cfg.replace(record_events=False, **changes)


SWITCHES = {
    "aegaeon": SwitchConfig.aegaeon,
    "unoptimized": SwitchConfig.unoptimized,
    "artifact": artifact_switch,
}


def build_switch(base: SwitchConfig, args: argparse.Namespace) -> SwitchConfig:
    """The config's switch cost, or --switch's named one, with the --switch-* flags applied."""
    sw = SWITCHES[args.switch]() if args.switch else base
    changes = {
        field: value
        for field, value in (
            ("bandwidth_gb_s", args.switch_bandwidth),
            ("overhead_s", args.switch_overhead),
            ("overhead_s_per_gb", args.switch_overhead_per_gb),
            ("kv_bandwidth_gb_s", args.kv_bandwidth),
            ("prefetch", args.prefetch),
        )
        if value is not None
    }
    return dataclasses.replace(sw, **changes)


def parse_policies(text: str) -> list[PolicyName]:
    """``"aegaeon,serverlessllm"`` → policy names; an unknown one raises ConfigError."""
    out = []
    for part in text.split(","):
        try:
            out.append(PolicyName(part.strip()))
        except ValueError:
            known = ", ".join(p.value for p in PolicyName)
            raise ConfigError(f"unknown policy {part.strip()!r}; choose from: {known}") from None
    return out


def result_row(label: str, r: SimResult) -> str:
    return (
        f"{label:<18} {r.num_requests:>7} {r.attainment:>6.3f} {r.strict_attainment:>6.3f} "
        f"{r.ttft_p90_s:>8.2f} {r.tbt_p90_s * 1e3:>7.1f} {r.switches:>7} {r.busy_fraction:>5.2f} "
        f"{r.switching_fraction:>5.2f} {r.gpus_used:>5} {r.requests_per_wall_s:>9.0f}"
    )


HEADER = (
    f"{'policy / rate':<18} {'reqs':>7} {'att':>6} {'strict':>6} {'ttft90s':>8} {'tbt90ms':>7} "
    f"{'switch':>7} {'busy':>5} {'swtch':>5} {'gpus':>5} {'req/wall-s':>9}"
)
LEGEND = """\
  reqs        requests simulated
  att         SLO attainment: mean share of each request's service time on schedule (the paper's metric)
  strict      share of requests whose every token met its original deadline
  ttft90s     90th-percentile time to first token (s)
  tbt90ms     90th-percentile time between tokens (ms)
  switch      model switches (loads of a model onto a GPU)
  busy        share of GPU time prefilling, decoding or switching
  swtch       share of GPU time spent switching models
  gpus        GPUs used
  req/wall-s  requests simulated per wall-clock second (simulator speed)"""


def _save(fn, *a, **kw) -> int | None:
    from core.store import open_database

    try:
        Session = open_database()
        with Session.begin() as s:
            return fn(s, *a, **kw)
    except Exception as exc:  # the store is optional: report, keep the printed results
        print(f"could not save to the run store: {exc}", file=sys.stderr)
        return None


def cmd_run(args: argparse.Namespace) -> int:
    cfg = build_config(args)
    if args.trace and args.artifact_trace:
        raise ConfigError("give --trace or --artifact-trace, not both")
    trace = read_trace_csv(args.trace, until_s=args.until) if args.trace else None
    if args.artifact_faithful:
        cfg = artifact_faithful(cfg)
    if args.artifact_trace:
        trace = read_artifact_trace(args.artifact_trace, redraw=args.artifact_faithful)
    result = run(cfg, trace=trace)
    print(HEADER)
    print(result_row(cfg.policy.value, result))
    if not args.no_legend:
        print(LEGEND)
    print(f"E[m]: measured {result.mean_active_models:.1f} active models, Theorem 3.1 gives "
          f"{result.expected_active_models:.1f}; models per GPU {result.models_per_gpu:.1f}")  # fmt: skip
    if result.failed:
        print(f"{result.failed} requests got no first token in time and were dropped (score 0)")
    if args.json:
        print(json.dumps(result.summary(), indent=1))
    if args.save:
        from core.pool.persist import save_result

        run_id = _save(save_result, cfg, result, name=args.name, tags=["cli"])
        if run_id is not None:
            print(f"saved as run {run_id}")
    return 0


def _progress(done: int, total: int, p: SweepPoint) -> None:
    print(f"  [{done}/{total}] {p.policy.value} @ {p.rate_per_model:g} req/s/model: "
          f"attainment {p.result.attainment:.3f}", file=sys.stderr)  # fmt: skip


def cmd_sweep(args: argparse.Namespace) -> int:
    cfg = build_config(args)
    rates = parse_rates(args.rates)
    policies = parse_policies(args.policies) if args.policies else None
    try:
        points = sweep(cfg, rates, policies, args.processes, _progress, ray_address=args.ray)
    except ClusterUnavailable as exc:
        print(f"note: {exc}; sweeping here instead", file=sys.stderr)
        points = sweep(cfg, rates, policies, processes=args.processes, progress=_progress)
    print(HEADER)
    for p in points:
        print(result_row(f"{p.policy.value[:13]} {p.rate_per_model:.3g}", p.result))
    if not args.no_legend:
        print(LEGEND)
    from core.pool.persist import save_sweep, sweep_summary

    for key, value in sweep_summary(points).items():
        if key.endswith("_per_model_rps"):
            print(f"{key}: {value:.3f}")
    if args.save:
        run_id = _save(save_sweep, cfg, points, name=args.name, tags=["cli"])
        if run_id is not None:
            print(f"saved as run {run_id}")
    return 0


def cmd_goodput(args: argparse.Namespace) -> int:
    cfg = build_config(args)
    g = goodput(cfg, target=args.target, processes=args.processes, progress=_progress)
    print(f"{g.policy.value}: goodput {g.rate_per_model:.3f} req/s per model "
          f"({g.total_rate:.2f} req/s total) at attainment ≥ {g.target}")  # fmt: skip
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    for name, p in PRESETS.items():
        print(f"{name:<20} {p.description}")
    return 0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core.pool", description=__doc__, formatter_class=HelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, fn, text in (
        ("run", cmd_run, "simulate one configuration"),
        ("sweep", cmd_sweep, "attainment over a range of per-model rates"),
        ("goodput", cmd_goodput, "highest rate with attainment ≥ target"),
        ("presets", cmd_presets, "list the named scenarios"),
    ):
        p = sub.add_parser(
            name, help=text, description=text[0].upper() + text[1:] + ".",
            formatter_class=HelpFormatter,
        )  # fmt: skip
        p.set_defaults(fn=fn)
        if name == "presets":
            continue
        p.add_argument("--preset", choices=list(PRESETS), help="start from a named scenario")
        p.add_argument("--config", help="start from a SimConfig JSON file")
        p.add_argument("--models", type=int, help="number of market models")
        p.add_argument("--rate", type=float, help="requests/s per model")
        p.add_argument("--duration", type=float, help="seconds of arrivals")
        p.add_argument("--gpus", type=int, help="GPUs in the pool")
        p.add_argument("--gpu", help="GPU type (A100, H100, H800, H200, H20)")
        p.add_argument("--seed", type=int, help="random seed")
        p.add_argument("--name", help="run name in the store")
        p.add_argument("--processes", type=int, default=None, help="worker processes")
        p.add_argument(
            "--switch", choices=list(SWITCHES),
            help="switch cost: aegaeon (optimised, ≈ 1 s), unoptimized (stock restart, ≈ 50 s) "
            "or artifact (the artifact simulator's weights / 16 GB/s, no prefetch)",
        )  # fmt: skip
        p.add_argument("--switch-bandwidth", type=float, help="weight load bandwidth (GB/s)")
        p.add_argument("--switch-overhead", type=float, help="fixed seconds per switch")
        p.add_argument(
            "--switch-overhead-per-gb", type=float, help="extra seconds per GB of weights"
        )
        p.add_argument("--kv-bandwidth", type=float, help="KV-cache swap bandwidth (GB/s)")
        p.add_argument(
            "--prefetch", action=argparse.BooleanOptionalAction, default=None,
            help="load the next model while the current one runs (Aegaeon)",
        )  # fmt: skip
        if name in ("run", "goodput"):
            p.add_argument(
                "--policy", choices=[x.value for x in PolicyName], help="scheduling policy"
            )
        if name == "run":
            p.add_argument("--trace", help="replay a CSV trace (Glassbox or artifact format)")
            p.add_argument(
                "--artifact-trace", choices=artifact_trace_names(), metavar="NAME",
                help="replay a vendored artifact trace as its simulator does (first 120 s, "
                "models 6:2:2 in a cycle of 10): " + ", ".join(artifact_trace_names()),
            )  # fmt: skip
            p.add_argument("--until", type=float, help="only requests before this time (s)")
            p.add_argument(
                "--artifact-faithful", action="store_true",
                help="run as the artifact's simulator does: 16 H100s, its latency fit in whole "
                "ms, its swap cost, ServerlessLLM timeouts checked at arrivals; with "
                "--artifact-trace, its very requests (lengths redrawn as it does)",
            )  # fmt: skip
            p.add_argument("--json", action="store_true", help="also print the summary as JSON")
        if name == "sweep":
            p.add_argument("--rates", default="0.05:0.7:12", help="LO:HI:N or a,b,c")
            p.add_argument(
                "--policies",
                help="comma-separated, from: "
                + ", ".join(x.value for x in PolicyName)
                + " (default: the config's)",
            )
            p.add_argument(
                "--ray",
                default=ray_address_from_env(),
                metavar="HOST:PORT",
                help="run the points as tasks on this Ray cluster (default: "
                "$GLASSBOX_RAY_ADDRESS; here when unset or when it does not answer)",
            )
        if name == "goodput":
            p.add_argument("--target", type=float, default=0.9, help="attainment to keep")
        if name in ("run", "sweep"):
            p.add_argument("--save", action="store_true", help="store in the run store")
            p.add_argument("--no-legend", action="store_true", help="omit the column legend")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        return args.fn(args)
    except PoolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
