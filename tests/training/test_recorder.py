"""The store recorder: a flush cut off after its commit never stores a step twice."""

from __future__ import annotations

import pytest

from core.store import RunKind, RunStatus, get_points, open_database, record_run
from core.training.loop import StepInfo
from core.training.recorder import StoreRecorder


def _step(step: int) -> StepInfo:
    return StepInfo(step, loss=1.0 / step, lr=1e-3, grad_norm=0.5, tokens_seen=8 * step,
                    tokens_per_s=100.0)  # fmt: skip


def test_an_interrupt_between_the_commit_and_the_cleared_buffer_logs_no_step_twice(
    tmp_path, monkeypatch
):
    factory = open_database(f"sqlite:///{tmp_path / 'g.db'}")
    with factory.begin() as s:
        run_id = record_run(s, kind=RunKind.TRAINING, name="t", status=RunStatus.RUNNING).id
    recorder = StoreRecorder(factory, run_id, steps=20, flush_every_s=3600)
    for step in range(1, 12):
        recorder.on_step(_step(step))

    def interrupted() -> None:  # ray.cancel's KeyboardInterrupt, just after the commit
        monkeypatch.undo()
        raise KeyboardInterrupt

    monkeypatch.setattr(recorder, "_written", interrupted)
    with pytest.raises(KeyboardInterrupt):
        recorder.flush()
    recorder.on_step(_step(12))
    recorder.flush()  # what the trainer's checkpoint after the interrupt does
    with factory() as s:
        points = get_points(s, run_id)
    for series in ("train_loss", "lr", "grad_norm"):
        assert [x for x, _ in points[series]] == list(range(1, 13)), series
    assert points["train_loss"][2] == (3.0, pytest.approx(1 / 3))
