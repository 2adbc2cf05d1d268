"""GPU-pool simulator: many LLMs sharing a pool of GPUs (the Aegaeon paper, SOSP'25).

See ``core/pool/API.md`` for the public API. Quick start::

    from core.pool import SimConfig, PolicyName, run
    result = run(SimConfig(policy=PolicyName.AEGAEON))
    print(result.attainment, result.switches)
"""

from core.pool.config import (
    AegaeonConfig,
    ArrivalProcess,
    ConfigError,
    PolicyName,
    PoolConfig,
    PoolError,
    Popularity,
    ScaleUpTarget,
    ServerlessLLMConfig,
    SimConfig,
    SLOConfig,
    SwitchConfig,
    TraceError,
    WorkloadConfig,
)
from core.pool.engine import ModelView, SimEvent, Simulation, Snapshot
from core.pool.policies import POLICIES, GPUView
from core.pool.presets import PRESETS, preset
from core.pool.results import SimResult
from core.pool.runner import (
    CostEstimate,
    GoodputResult,
    SweepPoint,
    crossing,
    estimate_cost,
    goodput,
    goodput_from_points,
    gpus_needed,
    run,
    run_many,
    sweep,
)
from core.pool.trace_io import read_trace_csv, write_trace_csv
from core.pool.workload import Trace, generate_trace

__all__ = [
    "POLICIES",
    "PRESETS",
    "CostEstimate",
    "GoodputResult",
    "SweepPoint",
    "crossing",
    "estimate_cost",
    "goodput",
    "goodput_from_points",
    "gpus_needed",
    "preset",
    "run",
    "run_many",
    "sweep",
    "AegaeonConfig",
    "ArrivalProcess",
    "ConfigError",
    "GPUView",
    "ModelView",
    "PolicyName",
    "PoolConfig",
    "PoolError",
    "Popularity",
    "SLOConfig",
    "ScaleUpTarget",
    "ServerlessLLMConfig",
    "SimConfig",
    "SimEvent",
    "SimResult",
    "Simulation",
    "Snapshot",
    "SwitchConfig",
    "Trace",
    "TraceError",
    "WorkloadConfig",
    "generate_trace",
    "read_trace_csv",
    "write_trace_csv",
]
