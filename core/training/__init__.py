"""Training: token data from a corpus, the training loop with callbacks, checkpoints, command line.

Follows "Build a Large Language Model (From Scratch)", ch. 5 and appendix D.
"""

from core.training.config import TrainConfig, TrainConfigError, lr_at
from core.training.data import TokenData, prepare_data, random_batch
from core.training.loop import StepInfo, Trainer, TrainingCallbacks, TrainResult

__all__ = [
    "StepInfo",
    "TokenData",
    "TrainConfig",
    "TrainConfigError",
    "TrainResult",
    "Trainer",
    "TrainingCallbacks",
    "lr_at",
    "prepare_data",
    "random_batch",
]
