"""Recipe of the built-in model: its tokenizer, its training command, and where both live.

The built-in model in ``assets/builtin/`` is trained on three offline corpora (the Python
reference manual, the standard library's docstrings and PyTorch's docstrings; see
``corpus.py``) with a byte-level BPE tokenizer learned from the reference manual by the
project's own trainer (``core.tokenization.train_bpe``, the book's ch. 2.5
algorithm). Running this module rebuilds both, so the assets are reproducible::

    python -m core.training.builtin tokenizer     # writes assets/builtin/tokenizer.json
    python -m core.training.builtin command       # prints the exact training command
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from core.corpus import builtin_corpus
from core.tokenization import BPETokenizer, train_bpe

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "builtin"
TOKENIZER_FILE = ASSETS / "tokenizer.json"
CHECKPOINT_FILE = ASSETS / "model.safetensors"
MODEL_CARD_FILE = ASSETS / "MODEL_CARD.md"

TOKENIZER_NAME = "glassbox-builtin-bpe-4096"
TOKENIZER_SETTINGS = {"vocab_size": 4096, "pattern": "gpt4", "min_frequency": 2}

# The offline corpora the built-in model is trained on (names of ``corpus.named_corpora``).
CORPORA: tuple[str, ...] = ("builtin", "stdlib-docs", "deps-docs", "torch-docs")

# The flags the built-in model was trained with (see MODEL_CARD.md for the outcome).
TRAINING_ARGS: tuple[str, ...] = (
    *(arg for name in CORPORA for arg in ("--corpus", name)),
    "--tokenizer", "assets/builtin/tokenizer.json",
    "--n-layer", "4", "--n-head", "8", "--n-embd", "256", "--context-length", "256",
    "--dropout", "0.1", "--attn-dropout", "0.0", "--start-token", "eot",
    "--steps", "10000", "--batch-size", "16", "--lr", "2e-3", "--min-lr", "2e-4",
    "--warmup-steps", "100", "--weight-decay", "0.1",
    "--eval-every", "500", "--eval-windows", "32", "--sample-every", "1000",
    "--checkpoint-every", "500", "--precision", "bf16", "--seed", "1337",
    "--name", "builtin-model", "--tag", "builtin", "--out", "/tmp/glassbox-builtin-v4",
)  # fmt: skip


def train_builtin_tokenizer(path: Path = TOKENIZER_FILE) -> BPETokenizer:
    """Learn the built-in BPE tokenizer from the built-in corpus and save it as JSON."""
    tok = train_bpe(builtin_corpus(), name=TOKENIZER_NAME, **TOKENIZER_SETTINGS)
    path.parent.mkdir(parents=True, exist_ok=True)
    tok.save(path)
    return tok


def training_command() -> str:
    """The shell command that trains the built-in model (run from the repository root)."""
    return "python -m core.training " + shlex.join(TRAINING_ARGS)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["tokenizer"]:
        tok = train_builtin_tokenizer()
        print(f"wrote {TOKENIZER_FILE}: {tok.n_vocab} tokens, {tok.training}")
        return 0
    if args == ["command"]:
        print(training_command())
        return 0
    print("usage: python -m core.training.builtin tokenizer|command", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
