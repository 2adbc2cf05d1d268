"""Embedding spaces: projections of a model's tables, token kinds, neighbours, positions.

- ``project``: exact PCA (torch), t-SNE (openTSNE), width ≤ 3 plotted directly; progress
  callbacks that may cancel; bounded sample sizes;
- ``cache``: projections cached per model identity and settings, in memory and on disk;
- ``kinds``: every token's text and kind (word start, subword, number, punctuation, …);
- ``neighbours``: typed terms, exact nearest neighbours (cosine, Euclidean), a − b + c;
- ``positional``: learned position tables (GPT) and rotary frequencies (Llama);
- ``contextual``: hidden states of a text after each layer, projected together;
- ``procrustes``: two checkpoints' tables aligned by an orthogonal rotation;
- ``view``: the page's state, what it draws, and saved views (runs of kind "embedding").
"""

from core.embeddings.cache import (
    ProjectionCache,
    project_cached,
    projection_key,
    table_fingerprint,
)
from core.embeddings.contextual import (
    MAX_CONTEXT_TOKENS,
    Context,
    divergence,
    find_term,
    project_contexts,
    run_context,
)
from core.embeddings.kinds import KIND_ORDER, TokenKind, Vocab, classify, vocab_of
from core.embeddings.neighbours import (
    MAX_K,
    METRICS,
    Neighbour,
    Term,
    arithmetic,
    nearest,
    neighbours_of,
    resolve_term,
    term_vector,
)
from core.embeddings.positional import (
    LearnedPositions,
    RotaryPositions,
    learned_positions,
    position_view,
    rotary_positions,
)
from core.embeddings.procrustes import Comparison, compare_tables, orthogonal_procrustes
from core.embeddings.project import (
    MAX_TSNE_POINTS,
    METHOD_LABELS,
    METHODS,
    EmbeddingError,
    Projection,
    ProjectionSettings,
    pca,
    project,
    sample_ids,
)

__all__ = [
    "KIND_ORDER",
    "MAX_CONTEXT_TOKENS",
    "MAX_K",
    "MAX_TSNE_POINTS",
    "METHODS",
    "METHOD_LABELS",
    "METRICS",
    "Comparison",
    "Context",
    "EmbeddingError",
    "LearnedPositions",
    "Neighbour",
    "Projection",
    "ProjectionCache",
    "ProjectionSettings",
    "RotaryPositions",
    "Term",
    "TokenKind",
    "Vocab",
    "arithmetic",
    "classify",
    "compare_tables",
    "divergence",
    "find_term",
    "learned_positions",
    "nearest",
    "neighbours_of",
    "orthogonal_procrustes",
    "pca",
    "position_view",
    "project",
    "project_cached",
    "project_contexts",
    "projection_key",
    "resolve_term",
    "rotary_positions",
    "run_context",
    "sample_ids",
    "table_fingerprint",
    "term_vector",
    "vocab_of",
]
