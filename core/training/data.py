"""Token data for training: encode documents, split train/validation, draw batches.

Follows "Build a Large Language Model (From Scratch)", ch. 2.6 (inputs and targets are the
same window shifted by one token) and ch. 5.1.3 (a train/validation split by position in the
text: the last ``val_fraction`` of the tokens is held out). Each document is followed by the
end-of-text token so the model learns where documents stop. Training batches are windows at
random offsets (every offset is a sample, as in nanoGPT); validation uses fixed, evenly spaced
windows so successive evaluations are comparable.

With a ``start_token`` (``GPTConfig.start_token``), every window begins with that token and
holds one text token fewer: position 0 always carries the same input, which gives attention
heads a fixed place to put weight they do not need (an "attention sink", Xiao et al. 2023).
The first target is then the window's first text token, predicted from the start alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import tiktoken
import torch

from core.corpus import CorpusError

EOT_TEXT = "<|endoftext|>"


@dataclass
class TokenData:
    """A corpus as ids, split into a training and a validation part (1-D LongTensors)."""

    train: torch.Tensor  # (N_train,)
    val: torch.Tensor  # (N_val,)
    eot_id: int | None  # end-of-text id appended after each document, if the tokenizer has one

    @property
    def n_tokens(self) -> int:
        return len(self.train) + len(self.val)


def encode_documents(
    documents: Sequence[str], enc: tiktoken.Encoding
) -> tuple[torch.Tensor, int | None]:
    """All documents' ids as one LongTensor, each followed by end-of-text when available."""
    eot = enc.encode_single_token(EOT_TEXT) if EOT_TEXT in enc.special_tokens_set else None
    ids: list[int] = []
    for doc in documents:
        if not doc:
            continue
        ids.extend(enc.encode_ordinary(doc))
        if eot is not None:
            ids.append(eot)
    return torch.tensor(ids, dtype=torch.long), eot


def prepare_data(
    documents: Sequence[str],
    enc: tiktoken.Encoding,
    *,
    context_length: int,
    val_fraction: float = 0.1,
) -> TokenData:
    """Encode and split; refuse corpora too short to hold a window on both sides."""
    if not any(doc.strip() for doc in documents):
        raise CorpusError("the corpus is empty: give some text to train on")
    if not 0.0 < val_fraction < 0.5:
        raise CorpusError(f"val_fraction must be in (0, 0.5), got {val_fraction}")
    ids, eot = encode_documents(documents, enc)
    n_val = int(len(ids) * val_fraction)
    need = context_length + 1
    if n_val < need or len(ids) - n_val < need:
        minimum = int(need / val_fraction) + 1
        raise CorpusError(
            f"the corpus has {len(ids):,} tokens; with context length {context_length} and a "
            f"{val_fraction:.0%} validation split it needs at least {minimum:,}: add text or "
            "lower the context length"
        )
    return TokenData(train=ids[: len(ids) - n_val], val=ids[len(ids) - n_val :], eot_id=eot)


def _inputs_targets(
    windows: torch.Tensor, start_token: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets (each (B, T)) from windows of T+1 tokens, or of T with a start."""
    if start_token is None:
        return windows[:, :-1], windows[:, 1:]
    start = windows.new_full((windows.shape[0], 1), start_token)  # (B, 1)
    return torch.cat([start, windows[:, :-1]], dim=1), windows


def random_batch(
    ids: torch.Tensor,
    batch_size: int,
    context_length: int,
    generator: torch.Generator,
    start_token: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` windows at random offsets: inputs and targets, each (B, T).

    With ``start_token`` each input is that token followed by T-1 text tokens.
    """
    span = context_length + (1 if start_token is None else 0)  # text tokens per window
    starts = torch.randint(
        0, len(ids) - span + 1, (batch_size,), generator=generator, device=generator.device
    )
    offsets = torch.arange(span, device=ids.device)
    return _inputs_targets(ids[starts.unsqueeze(1) + offsets], start_token)


def eval_windows(
    ids: torch.Tensor, context_length: int, max_windows: int, start_token: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to ``max_windows`` evenly spaced, fixed windows: inputs and targets, each (W, T)."""
    span = context_length + (1 if start_token is None else 0)
    last = len(ids) - span  # last valid start
    n = max(1, min(max_windows, last // max(1, context_length // 2) + 1))
    starts = torch.linspace(0, last, n, device=ids.device).long()  # (W,)
    offsets = torch.arange(span, device=ids.device)
    return _inputs_targets(ids[starts.unsqueeze(1) + offsets], start_token)
