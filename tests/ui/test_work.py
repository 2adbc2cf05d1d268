"""ui/work.py: work for a browser session that has disconnected stops at the next check."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from core.pool import PoolConfig, SimConfig, WorkloadConfig
from core.pool.runner import run_in_steps
from ui import work


def _server_with(monkeypatch, active: bool) -> list[str]:
    asked: list[str] = []

    def is_active_session(session_id: str) -> bool:
        asked.append(session_id)
        return active

    monkeypatch.setattr(work, "get_script_run_ctx", lambda **_: SimpleNamespace(session_id="s1"))
    monkeypatch.setattr(work.runtime, "exists", lambda: True)
    monkeypatch.setattr(
        work.runtime, "get_instance", lambda: SimpleNamespace(is_active_session=is_active_session)
    )
    return asked


def test_outside_a_server_work_always_goes_on():
    assert work.session_alive()
    work.check_alive()


def test_a_connected_session_goes_on(monkeypatch):
    asked = _server_with(monkeypatch, active=True)
    work.check_alive(0.5)
    assert asked == ["s1"]


def test_a_batch_run_stops_at_the_first_slice_after_the_tab_closed(monkeypatch):
    _server_with(monkeypatch, active=False)
    cfg = SimConfig(
        workload=WorkloadConfig(num_models=8, rate_per_model=0.1, duration_s=60.0),
        pool=PoolConfig(num_gpus=4),
        record_events=False,
    )
    seen: list[float] = []

    def between(done: float) -> None:
        seen.append(done)
        work.check_alive()

    with pytest.raises(work.SessionGone):
        run_in_steps(cfg, steps=10, between=between)
    assert seen == [0.1]
    assert not isinstance(work.SessionGone("x"), Exception)  # passes `except Exception`
