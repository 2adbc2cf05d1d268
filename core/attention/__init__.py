"""Attention maps: per-head statistics, head labels, the induction probe, one head step by step.

``capture`` gets the weights out of a model (and bounds the text it reads), ``stats``
measures and labels every head, ``explain`` recomputes one head number by number, and
``view`` is the Attention page's model: its state, its actions and what it draws.
"""

from core.attention.capture import (
    MAX_TOKENS,
    HeadLayout,
    Prepared,
    ProbeResult,
    capture_attention,
    head_layout,
    induction_scores,
    prepare_ids,
    probe_ids,
    run_induction_probe,
)
from core.attention.explain import EXPLAIN_MAX_TOKENS, HeadSteps, explain_head
from core.attention.stats import (
    LABEL_ORDER,
    AttentionInputError,
    HeadStats,
    Thresholds,
    head_labels,
    head_statistics,
)

__all__ = [
    "EXPLAIN_MAX_TOKENS",
    "LABEL_ORDER",
    "MAX_TOKENS",
    "AttentionInputError",
    "HeadLayout",
    "HeadStats",
    "HeadSteps",
    "Prepared",
    "ProbeResult",
    "Thresholds",
    "capture_attention",
    "explain_head",
    "head_labels",
    "head_layout",
    "head_statistics",
    "induction_scores",
    "prepare_ids",
    "probe_ids",
    "run_induction_probe",
]
