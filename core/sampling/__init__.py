"""Step-by-step autoregressive sampling: processors, a stepwise sampler, records, replay.

Follows the book's ch. 5.3 decoding strategies (temperature, top-k; Raschka) extended with
nucleus / min-p sampling and repetition penalties. The store-facing functions live in
``core.sampling.persist`` and the trajectory comparison in ``core.sampling.compare``;
``python -m core.sampling`` is the command line.
"""

from core.sampling.branches import Branch, BranchTree, TreeNode
from core.sampling.compare import (
    AlignedRow,
    agreement,
    align_tokens,
    aligned_table,
    first_divergence,
    run_side_by_side,
)
from core.sampling.config import (
    DEFAULT_ORDER,
    MAX_PENALTY,
    MAX_SEED,
    MAX_TEMPERATURE,
    PROCESSOR_LABELS,
    ProcessorName,
    SamplingConfig,
    SamplingConfigError,
)
from core.sampling.processors import (
    LogitsProcessor,
    PipelineOutput,
    StageOutput,
    build_pipeline,
    choose_token,
    entropy,
    run_pipeline,
)
from core.sampling.records import Candidate, StageRecord, StepRecord, cumulative_logprob
from core.sampling.sampler import (
    GenerationFinished,
    Sampler,
    SamplingError,
    encode_prompt,
    token_text,
)
from core.sampling.timing import CacheComparison, compare_cache

__all__ = [
    "DEFAULT_ORDER",
    "MAX_PENALTY",
    "MAX_SEED",
    "MAX_TEMPERATURE",
    "PROCESSOR_LABELS",
    "AlignedRow",
    "Branch",
    "BranchTree",
    "CacheComparison",
    "Candidate",
    "GenerationFinished",
    "LogitsProcessor",
    "PipelineOutput",
    "ProcessorName",
    "Sampler",
    "SamplingConfig",
    "SamplingConfigError",
    "SamplingError",
    "StageOutput",
    "StageRecord",
    "StepRecord",
    "TreeNode",
    "agreement",
    "align_tokens",
    "aligned_table",
    "build_pipeline",
    "choose_token",
    "compare_cache",
    "cumulative_logprob",
    "encode_prompt",
    "entropy",
    "first_divergence",
    "run_pipeline",
    "run_side_by_side",
    "token_text",
]
