"""Saving simulator runs and sweeps to the run store (kind ``pool`` / ``pool_sweep``).

The caller owns the database session (as everywhere in ``core``): open it with
``with Session.begin() as s:`` and pass ``s``. A run stores its whole ``SimConfig`` as the
config, ``SimResult.summary()`` as the summary (non-finite values stored as null, the
store's one rule), and its series
as points: ``attainment_over_time``, ``active_models_over_time``, ``ttft_cdf``, ``tbt_cdf``.
A sweep stores one ``attainment_<policy>`` series per policy (x = per-model rate) and each
policy's goodput in the summary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from core.pool.config import SimConfig
from core.pool.results import SimResult
from core.pool.runner import SweepPoint, goodput_from_points
from core.store import RunKind, RunStatus, record_run


def save_result(
    session: Session,
    config: SimConfig,
    result: SimResult,
    name: str | None = None,
    tags: Sequence[str] = (),
    notes: str = "",
    extra_series: Mapping[str, Sequence[tuple[float, float]]] | None = None,
) -> int:
    """Store one simulation (plus any ``extra_series``, e.g. live views); returns the run id."""
    wl = config.workload
    name = name or (
        f"{config.policy.value}: {wl.num_models} models × {wl.rate_per_model:g} req/s, "
        f"{config.pool.num_gpus} {config.pool.gpu}"
    )
    series: dict[str, Sequence[tuple[float, float]]] = {
        "attainment_over_time": result.attainment_over_time,
        "active_models_over_time": result.active_models_over_time,
        "ttft_cdf": [(p, v) for v, p in result.ttft_cdf],
        "tbt_cdf": [(p, v) for v, p in result.tbt_cdf],
        **(extra_series or {}),
    }
    run = record_run(session, kind=RunKind.POOL, name=name, config=config.to_dict(),
                     series=series, summary=result.summary(), tags=list(tags), notes=notes,
                     status=RunStatus.FINISHED)  # fmt: skip
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
    series: dict[str, list[tuple[float, float]]] = {}
    for pol in policies:
        pts = sorted((p for p in points if p.policy.value == pol), key=lambda p: p.rate_per_model)
        series[f"attainment_{pol}"] = [(p.rate_per_model, p.result.attainment) for p in pts]
        series[f"strict_attainment_{pol}"] = [
            (p.rate_per_model, p.result.strict_attainment) for p in pts
        ]
    run = record_run(
        session,
        kind=RunKind.POOL_SWEEP,
        name=name,
        config=cfg,
        series=series,
        summary=sweep_summary(points, target),
        tags=list(tags),
        status=RunStatus.FINISHED,
    )
    return run.id
