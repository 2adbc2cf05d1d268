"""Command line: ``python -m core.training`` trains a GPT and saves the run to the run store.

Follows the book's ch. 5.2 training recipe (see ``loop.py``). Example, the built-in model::

    python -m core.training --corpus builtin --tokenizer assets/builtin/tokenizer.json \\
        --n-layer 4 --n-head 8 --n-embd 256 --context-length 256 --steps 3000

``--tokenizer`` takes ``builtin`` (the default, as on the Training page: the built-in model's
4,096-token BPE; gpt2's 50,257 make a small model's output layer ten times wider and its
training about ten times slower), an encoding name (gpt2, cl100k_base, o200k_base), a trained
tokenizer's JSON file, or ``run:<id>`` for a tokenizer saved in the run store. ``--corpus`` takes
``builtin`` (the Python reference manual), ``stdlib-docs`` (the standard library's
docstrings), ``torch-docs`` (PyTorch's), ``deps-docs`` (NumPy's, pandas', SQLAlchemy's and
Streamlit's) and/or ``.txt`` files. Checkpoints go to
``--out`` (default ``$GLASSBOX_HOME/runs/training-<run id>``); ``--resume DIR`` continues a
run from its last checkpoint in a new run; ``--resume-run ID`` continues stored run ID in
place, with the flags it was started with (``--steps`` may set a new total; the Training
page's Resume);
``--init-from CHECKPOINT`` fine-tunes: the model's shape, weights and tokenizer come from
that checkpoint. ``--no-store`` trains without a database.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import time
from pathlib import Path
from typing import Any

import tiktoken
import torch

from core.corpus import named_corpora, read_text_file
from core.device import default_device, describe_device
from core.helpformat import HelpFormatter
from core.model import GPT, CheckpointError, GPTConfig, load_checkpoint
from core.store import (
    DatabaseUnavailable,
    InvalidRunData,
    RunKind,
    RunNotFound,
    RunStatus,
    claim_run,
    get_artifacts,
    glassbox_home,
    open_database,
    record_run,
    require_run,
    to_jsonable,
)
from core.store.schema import as_dict
from core.tokenization import (
    BPETokenizer,
    TokenizerError,
    get_encoding,
    load_tokenizer,
    load_tokenizer_run,
    tokenizer_spec,
)
from core.tokenization.encodings import ENCODING_NAMES
from core.training.config import PRECISIONS, TrainConfig
from core.training.data import EOT_TEXT, prepare_data
from core.training.loop import LAST, Trainer
from core.training.recorder import ConsoleLogger, StoreRecorder

# One help line per TrainConfig field (its flag is the field's name with dashes).
TRAIN_HELP = {
    "steps": "optimizer steps in total",
    "batch_size": "windows per step",
    "lr": "peak learning rate, reached after the warmup",
    "min_lr": "learning rate at the end of the cosine decay",
    "warmup_steps": "linear ramp from ~0 to --lr",
    "weight_decay": "AdamW decay, on matrices only",
    "beta1": "Adam first-moment decay",
    "beta2": "Adam second-moment decay",
    "grad_clip": "max global gradient norm (0: no clipping)",
    "val_fraction": "tail of the token stream held out for validation",
    "eval_every": "steps between validation-loss evaluations",
    "eval_windows": "validation windows per evaluation",
    "sample_every": "steps between sample texts (0: never)",
    "sample_prompt": "prompt of the sample texts",
    "sample_tokens": "new tokens per sample text",
    "checkpoint_every": "steps between checkpoints (also saved at the end)",
    "precision": "fp32, or bf16 autocast for matrix products",
    "seed": "seeds initialisation, batch order and samples",
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m core.training", description=__doc__, formatter_class=HelpFormatter
    )
    p.add_argument(
        "--corpus",
        action="append",
        help="'builtin', 'stdlib-docs', 'torch-docs', 'deps-docs' or a .txt file (repeatable)",
    )
    p.add_argument(
        "--tokenizer",
        default="builtin",
        help="builtin (the built-in model's 4,096-token BPE), an encoding name (gpt2, "
        "cl100k_base, o200k_base), a tokenizer .json, or run:<id>",
    )
    p.add_argument("--n-layer", type=int, default=4, help="transformer blocks")
    p.add_argument("--n-head", type=int, default=8, help="attention heads per block")
    p.add_argument("--n-embd", type=int, default=256, help="width of the residual stream")
    p.add_argument("--context-length", type=int, default=256, help="tokens per window")
    p.add_argument("--dropout", type=float, default=0.1, help="dropout of embeddings and blocks")
    p.add_argument(
        "--attn-dropout", type=float, default=None, help="on attention weights (default: --dropout)"
    )
    p.add_argument("--qkv-bias", action="store_true", help="biases on the query/key/value maps")
    p.add_argument("--untied", action="store_true", help="separate output head")
    p.add_argument(
        "--start-token",
        choices=("none", "eot"),
        default="none",
        help="'eot': begin every training window with <|endoftext|> (the model then expects "
        "it at position 0; pages put it there)",
    )
    defaults = TrainConfig()
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        kind = {"int": int, "float": float, "str": str}[str(field.type)]
        extra: dict[str, Any] = {"choices": PRECISIONS} if field.name == "precision" else {}
        p.add_argument(
            flag, type=kind, default=getattr(defaults, field.name), help=TRAIN_HELP[field.name],
            **extra,
        )  # fmt: skip
    p.add_argument("--out", type=Path, help="folder for checkpoints")
    p.add_argument("--resume", type=Path, help="continue the run whose checkpoints are in DIR")
    p.add_argument(
        "--resume-run",
        type=int,
        default=None,
        help="continue stored run ID in place from its last checkpoint, with its own flags",
    )
    p.add_argument(
        "--init-from",
        type=Path,
        default=None,
        help="fine-tune: start from this checkpoint's weights, shape and tokenizer",
    )
    p.add_argument("--name", default="", help="run name in the store")
    p.add_argument("--tag", action="append", default=[], help="run tag (repeatable)")
    p.add_argument("--no-store", action="store_true", help="do not save the run to the store")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    p.add_argument("--log-every", type=int, default=10, help="steps between progress lines")
    return p


def resolve_tokenizer(name: str, session_factory) -> tuple[tiktoken.Encoding, dict[str, Any]]:
    """The encoding and its checkpoint spec for a ``--tokenizer`` value."""
    if name in ENCODING_NAMES:
        return get_encoding(name), tokenizer_spec(name)
    if name == "builtin":
        from core.training.builtin import TOKENIZER_FILE

        name = str(TOKENIZER_FILE)
    if name.startswith("run:"):
        if session_factory is None:
            raise SystemExit("--tokenizer run:<id> needs the run store (drop --no-store)")
        with session_factory() as session:
            tok = load_tokenizer_run(session, int(name.removeprefix("run:")))
    else:
        tok = BPETokenizer.load(name)
    return tok.encoding(), tokenizer_spec(tok, inline=True)


def start_token(enc: tiktoken.Encoding, choice: str) -> int | None:
    """The id for ``--start-token``: None for 'none', <|endoftext|>'s id for 'eot'."""
    if choice == "none":
        return None
    if EOT_TEXT not in enc.special_tokens_set:
        raise SystemExit("--start-token eot: this tokenizer has no <|endoftext|> token")
    return enc.encode_single_token(EOT_TEXT)


def load_documents(sources: list[str]) -> list[str]:
    docs: list[str] = []
    for source in sources:
        named = named_corpora().get(source)
        docs.extend(named[1]() if named else [read_text_file(source)])
    return docs


# Flags a resumed run takes from its stored ones (--resume-run): everything but these.
_NOT_STORED = ("resume", "resume_run", "out", "no_store", "device", "threads")


def stored_args(session_factory, run_id: int) -> tuple[dict[str, Any], Path, int]:
    """The flags run ``run_id`` was started with, its checkpoint folder and last step."""
    with session_factory() as session:
        try:
            run = require_run(session, run_id)
        except RunNotFound as exc:
            raise SystemExit(str(exc)) from exc
        if run.kind != RunKind.TRAINING.value:
            raise SystemExit(f"run {run_id} is a {run.kind} run, not a training run")
        args = as_dict(as_dict(run.config).get("args"))
        last = [
            a
            for a in get_artifacts(session, run_id, kind="checkpoint")
            if as_dict(a.meta).get("role") == "last" and a.path
        ]
    if not args:
        raise SystemExit(f"run {run_id} does not record its flags: resume it with --resume DIR")
    if not last or not Path(last[-1].path).is_file():
        raise SystemExit(f"run {run_id} has no last checkpoint on this machine to resume from")
    folder = Path(last[-1].path).parent
    try:
        step = int(load_checkpoint(folder / LAST).extra.get("step", 0))
    except CheckpointError as exc:
        raise SystemExit(str(exc)) from exc
    return {k: v for k, v in args.items() if k not in _NOT_STORED}, folder, step


def fine_tune_source(path: Path, session_factory) -> tuple[GPT, tiktoken.Encoding, dict]:
    """The model, encoding and tokenizer spec of the checkpoint to fine-tune from."""
    try:
        ckpt = load_checkpoint(path)
        if ckpt.tokenizer is None:
            raise SystemExit(f"{path} does not say which tokenizer it was trained with")
        if ckpt.tokenizer.get("kind") == "run":
            if session_factory is None:
                raise SystemExit(
                    "this checkpoint's tokenizer is in the run store (drop --no-store)"
                )
            with session_factory() as session:
                enc = load_tokenizer(ckpt.tokenizer, session)
        else:
            enc = load_tokenizer(ckpt.tokenizer)
    except (CheckpointError, TokenizerError) as exc:
        raise SystemExit(f"cannot fine-tune from {path}: {exc}") from exc
    return ckpt.model, enc, ckpt.tokenizer


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device) if args.device else default_device()
    session_factory = None
    if not args.no_store:
        try:
            session_factory = open_database()
        except DatabaseUnavailable as exc:
            raise SystemExit(f"{exc}\n(use --no-store to train without the run store)") from exc
    resume_run, resume_step = args.resume_run, 0
    if resume_run is not None:
        if session_factory is None:
            raise SystemExit("--resume-run needs the run store (drop --no-store)")
        stored, folder, resume_step = stored_args(session_factory, resume_run)
        given = argv if argv is not None else sys.argv[1:]
        if any(a == "--steps" or a.startswith("--steps=") for a in given):
            stored.pop("steps", None)  # a new total given with the resume wins
        for key, value in stored.items():
            if hasattr(args, key):
                setattr(args, key, Path(value) if key == "init_from" and value else value)
        args.resume, args.out = folder, folder
        args.init_from = None  # the weights come from the run's own checkpoint

    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    train_cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k in train_fields})
    sources = args.corpus or ["builtin"]
    init_model = None
    if args.init_from is not None:
        init_model, enc, spec = fine_tune_source(args.init_from, session_factory)
        model_cfg = dataclasses.replace(
            init_model.config, dropout=args.dropout, attn_dropout=args.attn_dropout
        )
    else:
        enc, spec = resolve_tokenizer(args.tokenizer, session_factory)
        model_cfg = GPTConfig(
            vocab_size=enc.n_vocab,
            context_length=args.context_length,
            n_layer=args.n_layer,
            n_head=args.n_head,
            n_embd=args.n_embd,
            dropout=args.dropout,
            attn_dropout=args.attn_dropout,
            qkv_bias=args.qkv_bias,
            tie_embeddings=not args.untied,
            start_token=start_token(enc, args.start_token),
        )
    data = prepare_data(
        load_documents(sources),
        enc,
        context_length=model_cfg.context_length,
        val_fraction=train_cfg.val_fraction,
    )
    torch.manual_seed(train_cfg.seed)
    model = GPT(model_cfg).to(device)
    if init_model is not None:
        model.load_state_dict(init_model.state_dict())

    run_id = None
    if session_factory is not None and resume_run is not None:
        try:
            with session_factory.begin() as session:
                claim_run(session, resume_run, from_step=resume_step)
        except (InvalidRunData, RunNotFound) as exc:
            raise SystemExit(str(exc)) from exc
        run_id = resume_run
    elif session_factory is not None:
        named = named_corpora()
        corpus = [named[s][0] if s in named else str(Path(s).resolve()) for s in sources]
        flags = {k: v for k, v in vars(args).items() if k not in _NOT_STORED}
        flags["corpus"] = [s if s in named else str(Path(s).resolve()) for s in sources]
        if args.init_from is not None:
            flags["init_from"] = str(Path(args.init_from).resolve())
        with session_factory.begin() as session:
            run = record_run(
                session,
                kind=RunKind.TRAINING,
                status=RunStatus.RUNNING,  # StoreRecorder streams the points and finishes it
                name=args.name
                or f"gpt {model_cfg.n_layer}x{model_cfg.n_embd} on "
                f"{', '.join(Path(c).name for c in corpus)}",
                config={
                    "model": model_cfg.to_dict(),
                    "train": train_cfg.to_dict(),
                    "tokenizer": {k: v for k, v in spec.items() if k != "json"},
                    "corpus": corpus,
                    "corpus_tokens": data.n_tokens,
                    "device": describe_device(device),
                    "command": " ".join(
                        ["python -m core.training", *(argv if argv is not None else sys.argv[1:])]
                    ),
                    "args": to_jsonable(flags),
                },
                tags=["cli", *args.tag],
            )
            run_id = run.id
    out = (
        args.out
        or args.resume
        or glassbox_home() / "runs" / f"training-{run_id or time.strftime('%Y%m%d-%H%M%S')}"
    )
    callbacks = [ConsoleLogger(every=args.log_every)]
    if run_id is not None:
        callbacks.append(StoreRecorder(session_factory, run_id, steps=train_cfg.steps))
    trainer = Trainer(
        model,
        data,
        train_cfg,
        out,
        tokenizer_spec=spec,
        encode=enc.encode_ordinary,
        decode=enc.decode,
        callbacks=callbacks,
    )
    if args.resume:
        saved_cfg = load_checkpoint(Path(args.resume) / LAST).config
        shape = (
            "vocab_size",
            "context_length",
            "n_layer",
            "n_head",
            "n_embd",
            "qkv_bias",
            "tie_embeddings",
            "start_token",
        )
        if any(getattr(saved_cfg, f) != getattr(model_cfg, f) for f in shape):
            raise SystemExit(
                f"{args.resume} holds a {saved_cfg} model; the flags describe {model_cfg}"
            )
        trainer.resume(args.resume)
    print(
        f"run {run_id if run_id is not None else '(not stored)'}: {model.num_parameters():,} parameters, "
        f"{data.n_tokens:,} tokens ({len(data.train):,} train / {len(data.val):,} val), "
        f"{describe_device(device)}, checkpoints in {out}",
        flush=True,
    )
    previous = signal.signal(signal.SIGTERM, _interrupt)  # `kill` ends the run as "interrupted"
    try:
        result = trainer.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0 if result.status == "finished" else 1


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
