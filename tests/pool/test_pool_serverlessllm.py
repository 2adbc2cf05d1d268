"""The artifact-style ServerlessLLM baseline: binding on arrival, queue cap, LRU, timeout.

Hand-made traces on one or two H100s with exact expectations (which instance each request is
bound to, when a request is dropped, first-token times from the latency model), the config's
JSON round trip and validation, and determinism on a synthetic workload. The replays of the
artifact's traces are in test_pool_artifact.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.pool import (
    ConfigError,
    PolicyName,
    PoolConfig,
    ScaleUpTarget,
    ServerlessLLMConfig,
    SimConfig,
    Simulation,
    Trace,
    WorkloadConfig,
)
from core.pool.catalogue import model_spec
from core.pool.cli import main
from core.pool.gpu import switch_seconds
from core.pool.latency import latency_model

QWEN = "qwen2.5-7b"


def trace(rows: list[tuple[float, int, int, int]], models: int) -> Trace:
    """Rows (arrival s, model, prompt tokens, response tokens); every model is Qwen2.5-7B."""
    arr, model, inp, out = (np.array(c) for c in zip(*rows, strict=True))
    names = tuple(f"m{i}" for i in range(models))
    return Trace(arr.astype(float), model, inp, out, names, (QWEN,) * models)


def config(gpus: int, **sllm: object) -> SimConfig:
    return SimConfig(
        policy=PolicyName.SERVERLESSLLM,
        pool=PoolConfig(gpu="H100", num_gpus=gpus),
        serverlessllm=ServerlessLLMConfig(**sllm),  # type: ignore[arg-type]
    )


def run(cfg: SimConfig, tr: Trace) -> tuple[Simulation, object]:
    sim = Simulation(cfg, trace=tr)
    return sim, sim.run()


SWITCH = switch_seconds(model_spec(QWEN), SimConfig().switch)  # 15.2 GB / 16 GB/s + 0.1 s
LAT = latency_model(QWEN, "H100")


def test_lru_binds_to_a_busy_instance_and_the_request_times_out() -> None:
    """r0 (m0, 2 tokens) and r1 (m1, long) take the two empty instances. r2 (m2) arrives when
    GPU 0 is idle: GPU 0 is least recently used, swaps to m2. r3 (m3) arrives while GPU 0 is
    still loading m2 — a swap is no batch, so GPU 0 is still the LRU instance although GPU 1
    has decoded since: r3 waits behind r2's 3000 tokens and is dropped 15 s after arrival."""
    rows = [(0.0, 0, 100, 2), (0.1, 1, 100, 3000), (3.0, 2, 100, 3000), (3.1, 3, 100, 50)]
    sim, res = run(config(2), trace(rows, 4))
    pol, led = sim.policy, sim.ledger
    assert pol.bound == [0, 1, 0, 0]
    assert res.failed == 1 and res.finished == 3
    assert led.failed_at[3] == pytest.approx(3.1 + 15.0, abs=1e-12)
    assert led.done[3] == 0 and np.isnan(led.first[3]) and led.attainment(3, 100.0) == 0.0
    # Tokens of the others from the latency model: swap, then prefill of one 100-token prompt.
    prefill = LAT.prefill_s(100, 100**2)
    assert led.first[0] == pytest.approx(SWITCH + prefill, rel=1e-12)
    assert led.first[1] == pytest.approx(0.1 + SWITCH + prefill, rel=1e-12)
    assert led.first[2] == pytest.approx(3.0 + SWITCH + prefill, rel=1e-12)
    # m3 is never loaded: GPU 0 loaded m0 and m2, GPU 1 loaded m1.
    assert [g.switches for g in pol.gpus] == [2, 1] and res.switches == 3
    timeouts = [(e[0], e[2], e[4]) for e in sim.log if e[1] == "timeout"]
    assert timeouts == [(pytest.approx(18.1), 0, 3)]
    assert res.attainment == pytest.approx(0.75, abs=1e-12)  # three on time, one scored 0


def test_without_a_timeout_the_request_waits_for_its_turn() -> None:
    rows = [(0.0, 0, 100, 2), (0.1, 1, 100, 3000), (3.0, 2, 100, 3000), (3.1, 3, 100, 50)]
    sim, res = run(config(2, first_token_timeout_s=None), trace(rows, 4))
    led = sim.ledger
    assert res.failed == 0 and res.finished == 4
    # r3 starts after r2's last token and one more swap (head-of-line blocking).
    assert led.first[3] == pytest.approx(led.finish[2] + SWITCH + LAT.prefill_s(100, 100**2))
    assert led.first[3] - 3.1 > 15.0 and [g.switches for g in sim.policy.gpus] == [3, 1]


def test_queue_cap_scales_a_model_up_to_a_second_instance() -> None:
    """QS = 4: the fifth request of one model goes to a new instance, the sixth joins it
    (shortest same-model tail); with QS = 8 all six share one instance."""
    rows = [(0.01 * i, 0, 200, 400) for i in range(6)]
    sim, res = run(config(2), trace(rows, 1))
    assert sim.policy.bound == [0, 0, 0, 0, 1, 1]
    assert res.switches == 2 and res.finished == 6 and res.failed == 0
    sim8, res8 = run(config(2, queue_cap=8), trace(rows, 1))
    assert sim8.policy.bound == [0] * 6 and res8.switches == 1
    # The capped queue needs a second swap but halves the batch: both finish everything.
    assert res.attainment == pytest.approx(1.0) and res8.attainment == pytest.approx(1.0)


def test_tail_counts_the_running_batch_and_binds_behind_other_models() -> None:
    """One instance: m0's three requests run; an m1 request is bound behind them (no other
    instance), and an m0 request arriving after it cannot join the running batch — it waits
    behind m1 in the FIFO queue, which costs two more swaps."""
    rows = [(0.0, 0, 100, 300), (0.01, 0, 100, 300), (0.02, 0, 100, 300), (0.5, 1, 100, 20),
            (0.6, 0, 100, 20)]  # fmt: skip
    sim, res = run(config(1), trace(rows, 2))
    led = sim.ledger
    assert sim.policy.bound == [0] * 5 and sim.policy.tail(0) == (0, 0)  # drained, holds m0
    assert res.switches == 3 and res.failed == 0
    assert led.first[3] > max(led.finish[:3]) and led.first[4] > led.finish[3]


def test_a_request_dropped_during_its_prefill_leaves_the_batch_intact() -> None:
    """r0 and r1 are prefilled together after the swap; r0's timeout falls inside the
    prefill: it is dropped without a token while r1 gets its first token when the prefill
    (of both prompts: the time is spent) ends."""
    both = LAT.prefill_s(4000 + 3000, 4000**2 + 3000**2)
    timeout = SWITCH + both / 2
    rows = [(0.0, 0, 4000, 10), (0.1, 0, 3000, 10)]  # r1 is due 0.1 s after r0
    sim, res = run(config(1, first_token_timeout_s=timeout), trace(rows, 1))
    led = sim.ledger
    assert res.failed == 1 and led.failed_at[0] == pytest.approx(timeout, rel=1e-12)
    assert led.first[1] == pytest.approx(SWITCH + both, rel=1e-12) and led.done == [0, 10]
    assert res.per_gpu[0]["prefill_s"] >= both - 1e-9


def test_a_request_dropped_while_the_model_loads_does_not_stop_the_swap() -> None:
    rows = [(0.0, 0, 100, 10), (0.1, 1, 100, 10)]
    sim, res = run(config(1, first_token_timeout_s=SWITCH / 2), trace(rows, 2))
    assert res.failed == 2 and res.finished == 0 and res.switches == 1
    assert sim.policy.gpus[0].loaded == 0 and sim.ledger.in_system == 0


def test_config_round_trips_and_bad_values_are_named() -> None:
    cfg = config(4, queue_cap=2, scale_up_below=3, scale_up_target=ScaleUpTarget.LEAST_LOADED,
                 first_token_timeout_s=None)  # fmt: skip
    back = SimConfig.from_json(cfg.to_json())
    assert back == cfg and back.serverlessllm.scale_up_target is ScaleUpTarget.LEAST_LOADED
    assert SimConfig.from_dict({"policy": "serverlessllm"}).serverlessllm == ServerlessLLMConfig()
    raw = config(4, scale_up_target="least_loaded")  # a plain string works like the enum
    assert Simulation(raw, trace=trace([(0.0, 0, 10, 2)], 1)).run().finished == 1
    for bad, message in (
        ({"queue_cap": 0}, "queue_cap"),
        ({"scale_up_below": 0}, "scale_up_below"),
        ({"first_token_timeout_s": 0.0}, "first_token_timeout_s"),
        ({"scale_up_target": "random"}, "scale_up_target"),
    ):
        with pytest.raises(ConfigError, match=message):
            cfg = SimConfig.from_dict({"policy": "serverlessllm", "serverlessllm": bad})
            Simulation(cfg)


def test_same_seed_same_run_and_least_loaded_differs() -> None:
    wl = WorkloadConfig(num_models=12, rate_per_model=0.3, duration_s=60.0)
    cfg = SimConfig(policy=PolicyName.SERVERLESSLLM, workload=wl, pool=PoolConfig(num_gpus=4))
    a, b = Simulation(cfg), Simulation(cfg)
    ra, rb = a.run(), b.run()
    assert a.log == b.log and ra.attainment == rb.attainment and ra.failed == rb.failed > 0
    ll = cfg.replace(serverlessllm=ServerlessLLMConfig(scale_up_target=ScaleUpTarget.LEAST_LOADED))
    c = Simulation(ll)
    c.run()
    assert c.policy.bound != a.policy.bound


def test_cli_runs_and_sweeps_the_policy(capsys) -> None:
    args = ["--models", "12", "--rate", "0.3", "--duration", "40", "--gpus", "3"]
    assert main(["run", *args, "--policy", "serverlessllm"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1].startswith("serverlessllm") and "were dropped (score 0)" in out
    sweep = ["sweep", *args, "--rates", "0.1", "--processes", "1"]
    assert main([*sweep, "--policies", "serverlessllm,request_fcfs"]) == 0
    assert "serverlessllm 0.1" in capsys.readouterr().out
    assert main([*sweep, "--policies", "serverlessllm,sllm"]) == 2
    assert "unknown policy 'sllm'" in capsys.readouterr().err
