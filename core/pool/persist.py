"""Saving simulator runs and sweeps to the run store (kind ``pool`` / ``pool_sweep``).

The caller owns the database session (as everywhere in ``core``): open it with
``with Session.begin() as s:`` and pass ``s``. A run stores its whole ``SimConfig`` as the
config, ``SimResult.summary()`` as the summary (non-finite values dropped), and its series
as points: ``attainment_over_time``, ``active_models_over_time``, ``ttft_cdf``, ``tbt_cdf``.
A sweep stores one ``attainment_<policy>`` series per policy (x = per-model rate) and each
policy's goodput in the summary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from core.pool.config import SimConfig
from core.pool.results import SimResult
from core.pool.runner import SweepPoint, goodput_from_points
from core.store import RunKind, RunStatus, add_points, create_run, finish_run


def _finite(summary: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in summary.items() if isinstance(v, int | float) and math.isfinite(v)}


def save_result(
    session: Session,
    config: SimConfig,
    result: SimResult,
    name: str | None = None,
    tags: Sequence[str] = (),
    notes: str = "",
) -> int:
    """Store one simulation; returns the run id."""
    wl = config.workload
    name = name or (
        f"{config.policy.value}: {wl.num_models} models × {wl.rate_per_model:g} req/s, "
        f"{config.pool.num_gpus} {config.pool.gpu}"
    )
    run = create_run(session, kind=RunKind.POOL, name=name, config=config.to_dict(),
                     tags=list(tags), notes=notes)  # fmt: skip
    series: dict[str, list[tuple[float, float]]] = {
        "attainment_over_time": result.attainment_over_time,
        "active_models_over_time": result.active_models_over_time,
        "ttft_cdf": [(p, v) for v, p in result.ttft_cdf],
        "tbt_cdf": [(p, v) for v, p in result.tbt_cdf],
    }
    for key, pts in series.items():
        if pts:
            add_points(session, run.id, key, pts)
    finish_run(session, run.id, status=RunStatus.FINISHED, summary=_finite(result.summary()))
    return run.id


def sweep_summary(points: Sequence[SweepPoint], target: float = 0.9) -> dict[str, float]:
    """Goodput per policy (per-model and total req/s) from a rate sweep."""
    out: dict[str, float] = {}
    by_policy: dict[str, list[SweepPoint]] = {}
    for p in points:
        by_policy.setdefault(p.policy.value, []).append(p)
    for pol, pts in by_policy.items():
        g = goodput_from_points(pts, target)
        out[f"goodput_{pol}_per_model_rps"] = g
        models = pts[0].total_rate / pts[0].rate_per_model
        out[f"goodput_{pol}_total_rps"] = g * models
    return out


def save_sweep(
    session: Session,
    config: SimConfig,
    points: Sequence[SweepPoint],
    name: str | None = None,
    tags: Sequence[str] = (),
    target: float = 0.9,
) -> int:
    """Store a load sweep (one series per policy); returns the run id."""
    rates = sorted({p.rate_per_model for p in points})
    policies = sorted({p.policy.value for p in points})
    wl = config.workload
    name = name or f"sweep: {', '.join(policies)} on {wl.num_models} models, {len(rates)} rates"
    cfg: dict[str, Any] = {"base": config.to_dict(), "rates": rates, "policies": policies,
                           "target": target}  # fmt: skip
    run = create_run(session, kind=RunKind.POOL_SWEEP, name=name, config=cfg, tags=list(tags))
    for pol in policies:
        pts = sorted((p for p in points if p.policy.value == pol), key=lambda p: p.rate_per_model)
        add_points(
            session,
            run.id,
            f"attainment_{pol}",
            [(p.rate_per_model, p.result.attainment) for p in pts],
        )
        add_points(session, run.id, f"strict_attainment_{pol}",
                   [(p.rate_per_model, p.result.strict_attainment) for p in pts])  # fmt: skip
    finish_run(
        session, run.id, status=RunStatus.FINISHED, summary=_finite(sweep_summary(points, target))
    )
    return run.id
