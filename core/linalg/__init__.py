"""The LLM-math views: calculators, x·W three ways, the feed-forward, tensor parallelism, quantization.

Follows the seed's "LLM Preliminaries" document. Every module here is pure (no Streamlit):
``arch`` counts parameters, FLOPs, KV-cache and weight bytes of any GPT, Llama or catalogue
model; ``roofline`` puts them against a GPU's compute and bandwidth; ``products`` writes a
matrix product out three ways; ``ffn`` opens a real feed-forward layer (rank-1 units,
tensor-parallel split); ``quant`` quantizes real weights; ``page`` is the Math page's model.
"""

from __future__ import annotations


class LinalgError(ValueError):
    """Input the math views cannot use; the message says what would work."""
