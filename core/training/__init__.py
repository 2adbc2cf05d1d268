"""Training: corpus loading, the training loop with callbacks, checkpoints, command line.

Follows "Build a Large Language Model (From Scratch)", ch. 5 and appendix D.
"""

from core.training.config import TrainConfig, TrainConfigError, lr_at
from core.training.corpus import (
    CorpusError,
    builtin_corpus,
    builtin_documents,
    decode_text,
    read_text_file,
)
from core.training.data import TokenData, prepare_data, random_batch
from core.training.loop import StepInfo, Trainer, TrainingCallbacks, TrainResult

__all__ = [
    "CorpusError",
    "StepInfo",
    "TokenData",
    "TrainConfig",
    "TrainConfigError",
    "TrainResult",
    "Trainer",
    "TrainingCallbacks",
    "builtin_corpus",
    "builtin_documents",
    "decode_text",
    "lr_at",
    "prepare_data",
    "random_batch",
    "read_text_file",
]
