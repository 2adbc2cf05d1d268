"""Tokenization: the real OpenAI encodings offline, a BPE trainer, sliding-window datasets.

from core.tokenization import get_encoding, train_bpe, BPETokenizer
enc = get_encoding("gpt2")                 # tiktoken.Encoding, built without network
tok = train_bpe(text, vocab_size=4096)     # merge history + tok.encoding()
spec = tokenizer_spec(tok, path)           # identity stored in checkpoints
enc = load_tokenizer(spec)                 # back to a tiktoken.Encoding, sha256-checked

The sliding-window dataset (``SlidingWindowDataset``, ``WindowConfig``, ``window_starts``)
needs torch, so it is imported on first use: the command line and the tokenizer pages
start without loading torch.
"""

from typing import TYPE_CHECKING, Any

from core.tokenization.bpe import PATTERNS, merge_pair, pretokenize, train_bpe
from core.tokenization.encodings import (
    ENCODING_LABELS,
    ENCODING_NAMES,
    get_encoding,
    pattern_of,
    special_tokens_of,
)
from core.tokenization.errors import BPETrainingError, TokenizerDataError, TokenizerError
from core.tokenization.spec import load_bpe, load_tokenizer, tokenizer_spec
from core.tokenization.store import (
    TokenizerRunInfo,
    list_tokenizer_runs,
    load_tokenizer_run,
    save_tokenizer_run,
)
from core.tokenization.tokenizer import BPETokenizer, Merge

if TYPE_CHECKING:
    from core.tokenization.dataset import SlidingWindowDataset, WindowConfig, window_starts

_LAZY = frozenset({"SlidingWindowDataset", "WindowConfig", "window_starts"})


def __getattr__(name: str) -> Any:
    """The torch-backed dataset names, imported when first asked for."""
    if name in _LAZY:
        from core.tokenization import dataset

        return getattr(dataset, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ENCODING_LABELS",
    "ENCODING_NAMES",
    "PATTERNS",
    "BPETokenizer",
    "BPETrainingError",
    "Merge",
    "SlidingWindowDataset",
    "TokenizerDataError",
    "TokenizerError",
    "TokenizerRunInfo",
    "WindowConfig",
    "get_encoding",
    "list_tokenizer_runs",
    "load_bpe",
    "load_tokenizer",
    "load_tokenizer_run",
    "merge_pair",
    "pattern_of",
    "pretokenize",
    "save_tokenizer_run",
    "special_tokens_of",
    "tokenizer_spec",
    "train_bpe",
    "window_starts",
]
