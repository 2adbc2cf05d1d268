"""Sliding-window next-token dataset over a sequence of token ids (the book's §2.6).

A language model learns to predict token ``t+1`` from tokens ``..t``. Raschka's
``GPTDatasetV1`` cuts the id sequence into windows of ``max_length`` ids, starting every
``stride`` ids; each window's target is the same window shifted by one position:

    ids = [10, 11, 12, 13, 14, 15], max_length=3, stride=2
    window 0: input [10, 11, 12] -> target [11, 12, 13]
    window 1: input [12, 13, 14] -> target [13, 14, 15]

``stride == max_length`` gives non-overlapping windows (no id is an input twice, the
book's default for training); a smaller stride overlaps windows (more, correlated
samples). Windows are views into one tensor: no copies of the corpus are made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch.utils.data import Dataset

from core.tokenization.errors import TokenizerError


@dataclass(frozen=True)
class WindowConfig:
    """How a token sequence is cut into training samples."""

    max_length: int = 256  # ids per input (the model's context length at most)
    stride: int = 256  # ids between the starts of consecutive windows

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, int]) -> WindowConfig:
        return cls(max_length=int(data["max_length"]), stride=int(data["stride"]))


def window_starts(n_ids: int, max_length: int, stride: int) -> range:
    """Start positions of the windows over ``n_ids`` ids (each needs ``max_length + 1``).

    >>> list(window_starts(6, 3, 2))
    [0, 2]
    """
    if max_length < 1 or stride < 1:
        raise TokenizerError(f"max_length and stride must be at least 1 ({max_length}, {stride})")
    return range(0, max(0, n_ids - max_length), stride)


class SlidingWindowDataset(Dataset):
    """``(input, target)`` pairs of LongTensors of shape (max_length,), target = input + 1."""

    def __init__(self, ids: Sequence[int] | torch.Tensor, max_length: int, stride: int) -> None:
        self.ids = torch.as_tensor(ids, dtype=torch.long).flatten()  # (N,)
        self.config = WindowConfig(max_length=max_length, stride=stride)
        self.starts = window_starts(len(self.ids), max_length, stride)
        if len(self.starts) == 0:
            raise TokenizerError(
                f"the text has only {len(self.ids)} tokens, but one sample needs "
                f"max_length + 1 = {max_length + 1}: use more text or a shorter max_length"
            )

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        start = self.starts[index]  # IndexError past the end, as Dataset expects
        end = start + self.config.max_length
        return self.ids[start:end], self.ids[start + 1 : end + 1]  # (T,), (T,)

    @classmethod
    def from_text(cls, text: str, encoding, max_length: int, stride: int) -> SlidingWindowDataset:
        """Tokenize ``text`` with a tiktoken ``encoding`` (``<|endoftext|>`` allowed)."""
        ids = encoding.encode(text, allowed_special=encoding.special_tokens_set & {"<|endoftext|>"})
        return cls(ids, max_length=max_length, stride=stride)

    def coverage(self) -> float:
        """Fraction of the ids that appear in at least one input window."""
        if not len(self.starts):
            return 0.0
        stride, width = self.config.stride, self.config.max_length
        covered = (len(self.starts) - 1) * min(stride, width) + width
        return covered / len(self.ids)
