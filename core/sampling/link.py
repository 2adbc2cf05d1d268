"""A trajectory in a link: how many steps and which tokens the user forced, and back.

A trajectory is a pure function of (model, prompt, config, forced steps) (see
``core.sampling.sampler``), so a shareable link needs only the step count and the forced
steps: ``steps=12&forced=3:1234,7:99`` (0-based step : token id). `regenerate` rebuilds it
on a fresh sampler. Everything read from a link is checked and bounded before any step runs.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.sampling.sampler import Sampler, SamplingError

MAX_LINK_STEPS = 1000  # a link regenerates at most this many steps
MAX_FORCED = 200  # and lists at most this many forced steps


class TrajectoryLinkError(SamplingError):
    """A link's ``steps``/``forced`` entries are malformed or out of range."""


def trajectory_query(sampler: Sampler) -> dict[str, str]:
    """The link entries of ``sampler``'s trajectory: none for an empty one."""
    records = sampler.records
    if not records or len(records) > MAX_LINK_STEPS:
        return {}
    out = {"steps": str(len(records))}
    forced = [f"{i}:{r.token_id}" for i, r in enumerate(records) if r.forced]
    if forced and len(forced) <= MAX_FORCED:
        out["forced"] = ",".join(forced)
    elif forced:
        return {}  # too many forced steps to put in a link: leave the trajectory out
    return out


def parse_trajectory(params: Mapping[str, str], n_vocab: int) -> tuple[int, dict[int, int]]:
    """``(steps, {step: token_id})`` from a link's entries; ``(0, {})`` when it has none."""
    raw_steps, raw_forced = params.get("steps"), params.get("forced", "")
    if raw_steps is None:
        if raw_forced:
            raise TrajectoryLinkError("The link lists forced tokens but no 'steps'.")
        return 0, {}
    if not raw_steps.isdigit() or not 1 <= int(raw_steps) <= MAX_LINK_STEPS:
        raise TrajectoryLinkError(
            f"'steps' must be a whole number from 1 to {MAX_LINK_STEPS:,} (got {raw_steps[:20]!r})."
        )
    steps = int(raw_steps)
    forced: dict[int, int] = {}
    items = [p for p in raw_forced.split(",") if p] if raw_forced else []
    if len(items) > MAX_FORCED:
        raise TrajectoryLinkError(f"The link forces more than {MAX_FORCED} tokens.")
    for item in items:
        at, sep, token = item.partition(":")
        if not (sep and at.isdigit() and token.isdigit()):
            raise TrajectoryLinkError(
                f"A forced token must read step:token_id, e.g. 3:1234 (got {item[:30]!r})."
            )
        if int(at) >= steps:
            raise TrajectoryLinkError(f"Forced step {at} is past the link's {steps} steps.")
        if int(token) >= n_vocab:
            raise TrajectoryLinkError(
                f"Forced token id {token} is not in this model's vocabulary of {n_vocab:,}."
            )
        forced[int(at)] = int(token)
    return steps, forced


def regenerate(sampler: Sampler, steps: int, forced: Mapping[int, int]) -> None:
    """Run ``steps`` steps on a fresh ``sampler``, forcing the given ones; stops at the end."""
    if len(sampler):
        raise TrajectoryLinkError("A link's trajectory is regenerated on a fresh sampler only.")
    for i in range(min(steps, MAX_LINK_STEPS)):
        if i in forced:
            sampler.force(forced[i])
        elif sampler.finished:
            break
        else:
            sampler.step()
