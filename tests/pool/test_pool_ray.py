"""Pool sweeps on a Ray cluster: one task per point, the same results as on this machine."""

from __future__ import annotations

import dataclasses
import socket

import pytest

from core.cluster import ClusterUnavailable
from core.pool import PolicyName, PoolConfig, SimConfig, WorkloadConfig
from core.pool.cli import main
from core.pool.runner import goodput_from_points, run_many, sweep

BASE = SimConfig(
    workload=WorkloadConfig(num_models=8, rate_per_model=0.1, duration_s=60.0),
    pool=PoolConfig(num_gpus=4),
    record_events=False,
)
POLICIES = [PolicyName.AEGAEON, PolicyName.REQUEST_FCFS]


def _measured(points) -> list[tuple]:
    """What a point measured, wall-clock fields aside (NaN-safe through repr)."""
    clock = ("wall_s", "requests_per_wall_s")
    return [
        (p.policy, p.rate_per_model, p.num_gpus,
         repr({k: v for k, v in p.result.summary().items() if k not in clock}))
        for p in points
    ]  # fmt: skip


@pytest.mark.slow  # Ray tasks (a session cluster; its start costs seconds once)
def test_a_sweep_on_ray_matches_the_same_sweep_here(ray_address):
    calls = []
    on_ray = sweep(BASE, [0.05, 0.2, 0.4], POLICIES, ray_address=ray_address,
                   progress=lambda d, n, p: calls.append((d, n)))  # fmt: skip
    here = sweep(BASE, [0.05, 0.2, 0.4], POLICIES, processes=1)
    assert _measured(on_ray) == _measured(here)  # same seeds, same simulator: bit for bit
    assert calls == [(d, 6) for d in range(1, 7)]
    assert goodput_from_points(on_ray[:3]) == goodput_from_points(here[:3])


@pytest.mark.slow
def test_a_viewer_leaving_stops_a_ray_sweep(ray_address):
    class Left(Exception):
        pass

    def progress(done: int, total: int, point) -> None:
        raise Left  # what the page's report does once its session has gone

    configs = [BASE.with_rate(0.05 * (i + 1)) for i in range(4)]
    with pytest.raises(Left):
        run_many(configs, progress=progress, ray_address=ray_address)
    # the sweep ended there (its pending points cancelled); the next one runs as usual
    again = run_many(configs[:1], ray_address=ray_address)
    assert again[0].result.attainment == run_many(configs[:1], processes=1)[0].result.attainment


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:  # bound, then released: nothing listens there
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_sweep_on_a_cluster_that_does_not_answer_says_so(closed_port):
    with pytest.raises(ClusterUnavailable, match="does not answer"):
        run_many([dataclasses.replace(BASE)], ray_address=f"127.0.0.1:{closed_port}")


def test_the_command_line_sweeps_here_when_the_cluster_does_not_answer(closed_port, capsys):
    argv = ["sweep", "--preset", "paper-40x0.1", "--models", "8", "--gpus", "4",
            "--duration", "60", "--rates", "0.1,0.2", "--ray", f"127.0.0.1:{closed_port}"]  # fmt: skip
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert f"note: the Ray cluster at 127.0.0.1:{closed_port}" in err
    assert err.count("sweeping here instead") == 1 and "[2/2]" in err
    assert "goodput_aegaeon_per_model_rps: 0.200" in out
