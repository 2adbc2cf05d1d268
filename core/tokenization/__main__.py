"""Command line: train a BPE tokenizer, or count and show the tokens of a text.

    python -m core.tokenization train builtin --vocab-size 4096 --out tok.json
    python -m core.tokenization train corpus.txt --vocab-size 16384 --store   # also a run
    python -m core.tokenization encode --tokenizer cl100k_base "Hello, world"
    python -m core.tokenization encode --tokenizer tok.json --file notes.txt

``--tokenizer`` takes an encoding name (gpt2, cl100k_base, o200k_base), a trained
tokenizer's JSON file, or ``run:<id>`` for one saved in the run store. Errors print one
line and exit with status 2; training prints its progress on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import tiktoken

from core.corpus import CorpusError, builtin_corpus, read_text_file
from core.helpformat import HelpFormatter
from core.tokenization.bpe import PATTERNS, train_bpe
from core.tokenization.encodings import ENCODING_NAMES, get_encoding
from core.tokenization.errors import TokenizerError
from core.tokenization.tokenizer import BPETokenizer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core.tokenization", description=__doc__, formatter_class=HelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser(
        "train",
        help="learn a byte-level BPE tokenizer from a corpus",
        description="Learn a byte-level BPE tokenizer from a corpus.",
        formatter_class=HelpFormatter,
    )
    train.add_argument("corpus", help="'builtin' (the Python reference manual) or a .txt path")
    train.add_argument("--vocab-size", type=int, default=4096, help="ids incl. special tokens")
    train.add_argument(
        "--pattern", choices=list(PATTERNS), default="gpt4", help="pre-tokenization regex"
    )
    train.add_argument(
        "--min-frequency", type=int, default=2, help="stop when the best pair occurs less often"
    )
    train.add_argument("--name", default=None, help="tokenizer name (default bpe-<pattern>-<n>)")
    train.add_argument("--out", type=Path, default=None, help="write the tokenizer JSON here")
    train.add_argument("--store", action="store_true", help="also save it as a run")
    train.add_argument(
        "--allow-smaller", action="store_true", help="stop early if the corpus runs out"
    )
    encode = sub.add_parser(
        "encode",
        help="print the ids and tokens of a text",
        description="Print the ids and tokens of a text.",
        formatter_class=HelpFormatter,
    )
    encode.add_argument("text", nargs="?", default=None, help="the text (or use --file)")
    encode.add_argument("--file", type=Path, default=None, help="read the text from a file")
    encode.add_argument("--tokenizer", default="gpt2", help="encoding, .json file or run:<id>")
    encode.add_argument("--allow-special", action="store_true", help="<|endoftext|> as one id")
    return parser


def _progress(done: int, total: int) -> None:
    print(f"\rmerge {done:,}/{total:,}", end="" if done < total else "\n", file=sys.stderr)


def _open_store():
    from core.store import open_database

    return open_database()


def resolve(name: str) -> tiktoken.Encoding:
    """An encoding name, a tokenizer JSON path, or ``run:<id>``."""
    if name in ENCODING_NAMES:
        return get_encoding(name)
    if name.startswith("run:"):
        from core.tokenization.store import load_tokenizer_run

        try:
            run_id = int(name.removeprefix("run:"))
        except ValueError as exc:
            raise TokenizerError(f"{name!r} is not run:<number>") from exc
        with _open_store().begin() as session:
            return load_tokenizer_run(session, run_id).encoding()
    return BPETokenizer.load(name).encoding()


def _train(args: argparse.Namespace) -> int:
    text = builtin_corpus() if args.corpus == "builtin" else read_text_file(args.corpus)
    tok = train_bpe(
        text,
        args.vocab_size,
        args.pattern,
        min_frequency=args.min_frequency,
        progress=_progress,
        name=args.name,
        allow_smaller_vocab=args.allow_smaller,
    )
    ratios = tok.chars_per_token()
    print(
        f"{tok.name}: {len(tok.merges):,} merges in {tok.training['seconds']:.2f} s, "
        f"{ratios[-1]:.2f} chars/token on the corpus"
    )
    if args.out is not None:
        print(f"wrote {args.out} (sha256 {tok.save(args.out)})")
    if args.store:
        from core.tokenization.store import save_tokenizer_run

        with _open_store().begin() as session:
            run_id = save_tokenizer_run(session, tok, corpus_name=args.corpus, tags=("cli",))
        print(f"saved as run {run_id} (use --tokenizer run:{run_id})")
    return 0


def _encode(args: argparse.Namespace) -> int:
    if args.file is not None:
        text = read_text_file(args.file)
    elif args.text is not None:
        text = args.text
    else:
        raise TokenizerError("give a text or --file")
    enc = resolve(args.tokenizer)
    allowed = "all" if args.allow_special else set()
    ids = enc.encode(text, allowed_special=allowed, disallowed_special=())
    pieces = [enc.decode_single_token_bytes(i).decode("utf-8", "backslashreplace") for i in ids]
    print(f"{len(ids):,} tokens, {len(text):,} chars ({len(text) / max(1, len(ids)):.2f}/token)")
    more = f" ... ({len(ids) - 200:,} more)" if len(ids) > 200 else ""
    print(f"ids: {ids[:200]}{more}")
    print("tokens:", " | ".join(repr(p) for p in pieces[:200]))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _train(args) if args.command == "train" else _encode(args)
    except (TokenizerError, CorpusError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
