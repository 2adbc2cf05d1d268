"""Which models and tokenizers exist, and how to load them (shared, read-only objects).

Models come from three places:

* ``builtin``: the small GPT in ``assets/builtin/`` (trained by ``python -m core.training`` on
  the Python reference manual and the docstrings of the standard library and PyTorch, with
  its own BPE tokenizer; see its MODEL_CARD.md);
* ``run:<id>``: checkpoints of training runs in the run store (their best checkpoint when
  the run saved one, else the last), verified against the sha256 the run recorded;
* ``gpt2:<name>``: GPT-2 weights a user placed under ``$GLASSBOX_HOME/models/<name>/`` in
  Hugging Face layout (``config.json`` + ``model.safetensors`` or ``pytorch_model.bin``);
* ``smollm2``: SmolLM2-135M-Instruct, a Llama read from its GGUF file in
  ``$GLASSBOX_HOME/models/`` once ``python -m core.models get smollm2`` (or the sidebar's
  button) stored it; its tokenizer and chat template come from the same file.

Tokenizers: the three OpenAI encodings, SmolLM2's when its file is present, the built-in
BPE, and tokenizer runs in the store.
A loaded model is in eval mode with gradients off, so one instance can be cached
(``st.cache_resource``) and shared by every session. Functions that read the run store take
an optional ``session_factory``; without one they open the default database and skip the
store if it is unavailable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import tiktoken
import torch
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.device import default_device
from core.model import (
    GPT,
    CheckpointError,
    GPTConfig,
    check_vocab_fits,
    file_sha256,
    load_checkpoint,
    load_gpt2,
)
from core.model.gguf import GGUFError, open_gguf
from core.model.gpt2_import import read_gpt2_config
from core.model.llama import Llama, LlamaConfig
from core.model.llama_gguf import read_llama_gguf
from core.models.catalog import SMOLLM2
from core.models.download import is_installed
from core.store import (
    DatabaseUnavailable,
    RunKind,
    RunQuery,
    finite,
    get_artifacts,
    get_run,
    glassbox_home,
    list_runs,
    open_database,
    reading,
)
from core.store.schema import as_dict, whole
from core.tokenization import (
    BPETokenizer,
    TokenizerError,
    get_encoding,
    list_tokenizer_runs,
    load_tokenizer_run,
)
from core.tokenization import load_tokenizer as load_tokenizer_spec
from core.tokenization.encodings import ENCODING_LABELS, ENCODING_NAMES
from core.tokenization.gguf_tokenizer import gguf_encoding

BUILTIN_DIR = Path(__file__).resolve().parents[1] / "assets" / "builtin"
BUILTIN_CHECKPOINT = BUILTIN_DIR / "model.safetensors"
BUILTIN_TOKENIZER = BUILTIN_DIR / "tokenizer.json"
BUILTIN_ID = "builtin"
SMOLLM2_ID = SMOLLM2.key  # "smollm2": model and tokenizer id
SMOLLM2_LABEL = "SmolLM2-135M-Instruct (Llama, 135M)"


@dataclass(frozen=True)
class ModelEntry:
    id: str  # "builtin", "run:<id>", "gpt2:<folder name>" or "smollm2"
    label: str  # shown in menus
    source: str  # "builtin", "run", "gpt2" or "pretrained"
    description: str  # one line: shape, parameters, tokenizer, where it comes from


@dataclass(frozen=True)
class TokenizerEntry:
    id: str  # encoding name, "builtin" or "run:<id>"
    label: str


@dataclass(frozen=True)
class LoadedModel:
    model: GPT | Llama  # eval mode, requires_grad off, on the default device
    tokenizer: tiktoken.Encoding
    config: GPTConfig | LlamaConfig
    entry: ModelEntry
    chat_template: str | None = None  # Jinja chat template of an instruction-tuned model


def models_dir() -> Path:
    """Where downloaded and hand-copied models live: ``$GLASSBOX_HOME/models``."""
    return glassbox_home() / "models"


def smollm2_present() -> bool:
    """SmolLM2's file is stored (``python -m core.models get smollm2``)."""
    return is_installed(SMOLLM2, models_dir())


def _describe(config: GPTConfig) -> str:
    return (
        f"{config.n_layer} layers, {config.n_head} heads, width {config.n_embd}, context "
        f"{config.context_length}, {config.num_parameters() / 1e6:.1f}M parameters"
    )


def _session_factory(session_factory: sessionmaker[Session] | None) -> sessionmaker[Session] | None:
    if session_factory is not None:
        return session_factory
    try:
        return open_database()
    except DatabaseUnavailable:
        return None


def _run_checkpoint(session: Session, run_id: int):
    """The checkpoint artifact a run's model loads from: its best, else its last."""
    artifacts = [
        a
        for a in get_artifacts(session, run_id, kind="checkpoint")
        if a.path and Path(a.path).is_file()
    ]
    artifacts.sort(key=lambda a: (as_dict(a.meta).get("role") != "best", -a.id))
    return artifacts[0] if artifacts else None


def gpt2_folders() -> list[Path]:
    """Folders under ``$GLASSBOX_HOME/models`` that hold a GPT-2 in Hugging Face layout."""
    root = models_dir()
    if not root.is_dir():
        return []
    weights = ("model.safetensors", "pytorch_model.bin")
    return sorted(
        p
        for p in root.iterdir()
        if (p / "config.json").is_file() and any((p / w).is_file() for w in weights)
    )


def _store_down(exc: SQLAlchemyError) -> DatabaseUnavailable:
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
    return DatabaseUnavailable(f"the run store stopped answering ({detail})")


def _training_run_models(factory: sessionmaker[Session]) -> list[ModelEntry]:
    out: list[ModelEntry] = []
    with reading(factory) as session:
        query = RunQuery(kinds=(RunKind.TRAINING.value,), limit=200)
        for run in list_runs(session, query).runs:
            if run.status == "running" or _run_checkpoint(session, run.id) is None:
                continue
            # Stored values are read defensively: one damaged row must not break menus.
            model_cfg = as_dict(as_dict(run.config).get("model"))
            val = finite(as_dict(run.summary).get("val_loss"))
            n_layer, n_embd = whole(model_cfg.get("n_layer")), whole(model_cfg.get("n_embd"))
            shape = f"{n_layer if n_layer is not None else '?'}x"
            shape += f"{n_embd if n_embd is not None else '?'}"
            label = f"{run.name} (run {run.id}, {shape}" + (
                f", val {val:.2f})" if val is not None else ")"
            )
            out.append(
                ModelEntry(f"run:{run.id}", label, "run", f"training run {run.id}, {run.status}")
            )
    return out


def list_models(
    session_factory: sessionmaker[Session] | None = None, *, store: bool = True
) -> list[ModelEntry]:
    """Every loadable model: the built-in one, SmolLM2, stored training runs, GPT-2 folders.

    ``store=False`` leaves the run store out. Raises :class:`DatabaseUnavailable` when the
    store is configured but stops answering (a PostgreSQL server that went down), so the
    caller can say so and list the rest with ``store=False``.
    """
    entries: list[ModelEntry] = []
    if BUILTIN_CHECKPOINT.is_file():
        entries.append(
            ModelEntry(
                BUILTIN_ID,
                "Built-in GPT (Python docs, 4.3M)",
                "builtin",
                "4-layer GPT trained on the Python reference manual and the docstrings of the "
                "standard library, NumPy, pandas, SQLAlchemy, Streamlit and PyTorch (41M "
                "tokens), with a 4,096-token BPE",
            )
        )
    if smollm2_present():
        entries.append(
            ModelEntry(
                SMOLLM2_ID,
                SMOLLM2_LABEL,
                "pretrained",
                "SmolLM2-135M-Instruct (Hugging Face, Apache-2.0): 30-layer Llama, width 576, "
                "9 query heads sharing 3 key/value heads, 49,152-token BPE, chat template",
            )
        )
    factory = _session_factory(session_factory) if store else None
    if factory is not None:
        try:
            entries.extend(_training_run_models(factory))
        except SQLAlchemyError as exc:
            raise _store_down(exc) from exc
    for folder in gpt2_folders():
        try:
            description = _describe(read_gpt2_config(folder))
        except CheckpointError as exc:
            description = f"unreadable: {exc}"
        entries.append(
            ModelEntry(f"gpt2:{folder.name}", f"GPT-2 {folder.name}", "gpt2", description)
        )
    return entries


def default_model_id(session_factory: sessionmaker[Session] | None = None) -> str | None:
    """The built-in model when present, else the first listed model, else None."""
    if BUILTIN_CHECKPOINT.is_file():
        return BUILTIN_ID
    entries = list_models(session_factory)
    return entries[0].id if entries else None


def _finish(model: GPT | Llama, device: torch.device | None) -> GPT | Llama:
    return model.to(device or default_device()).eval().requires_grad_(False)


def load_model(
    model_id: str,
    session_factory: sessionmaker[Session] | None = None,
    *,
    device: torch.device | None = None,
) -> LoadedModel:
    """Load a model and its tokenizer; :class:`CheckpointError` says what went wrong."""
    if model_id == BUILTIN_ID:
        if not BUILTIN_CHECKPOINT.is_file():
            raise CheckpointError(
                f"the built-in model is missing: {BUILTIN_CHECKPOINT} does not exist"
            )
        ckpt = load_checkpoint(BUILTIN_CHECKPOINT)
        entry = ModelEntry(
            BUILTIN_ID, "Built-in GPT (Python docs, 4.3M)", "builtin", _describe(ckpt.config)
        )
        return _with_tokenizer(ckpt, entry, session_factory, device)
    if model_id == SMOLLM2_ID:
        return _load_smollm2(device)
    if model_id.startswith("gpt2:"):
        folder = models_dir() / model_id.removeprefix("gpt2:")
        model = _finish(load_gpt2(folder), device)
        entry = ModelEntry(model_id, f"GPT-2 {folder.name}", "gpt2", _describe(model.config))
        encoding = get_encoding("gpt2")
        check_vocab_fits(model.config, encoding.n_vocab, "gpt2")
        return LoadedModel(model, encoding, model.config, entry)
    if model_id.startswith("run:"):
        run_id = _parse_run_id(model_id)
        factory = _session_factory(session_factory)
        if factory is None:
            raise CheckpointError(
                f"{model_id} is in the run store, but the database is unavailable"
            )
        path, name = _checked_run_checkpoint(factory, run_id)
        ckpt = load_checkpoint(path)
        entry = ModelEntry(model_id, f"{name} (run {run_id})", "run", _describe(ckpt.config))
        return _with_tokenizer(ckpt, entry, factory, device)
    raise CheckpointError(
        f"unknown model id {model_id!r}: expected 'builtin', 'smollm2', 'run:<id>' or 'gpt2:<name>'"
    )


def _checked_run_checkpoint(factory: sessionmaker[Session], run_id: int) -> tuple[Path, str]:
    """The checkpoint file of training run ``run_id`` (sha256-checked) and the run's name."""
    with factory() as session:
        run = get_run(session, run_id)
        if run is None or run.kind != RunKind.TRAINING:
            raise CheckpointError(f"run {run_id} is not a training run (deleted, or another kind)")
        artifact = _run_checkpoint(session, run_id)
        if artifact is None:
            raise CheckpointError(f"training run {run_id} has no checkpoint file on this machine")
        path, sha, name = Path(artifact.path), artifact.sha256, run.name
    if sha and file_sha256(path) != sha:
        raise CheckpointError(f"{path} changed since run {run_id} saved it (sha256 mismatch)")
    return path, name


def run_checkpoint_path(
    model_id: str, session_factory: sessionmaker[Session] | None = None
) -> Path:
    """The checked checkpoint file of a ``run:<id>`` model (what fine-tuning starts from)."""
    if not model_id.startswith("run:"):
        raise CheckpointError(f"{model_id!r} is not a training run of the store")
    factory = _session_factory(session_factory)
    if factory is None:
        raise CheckpointError(f"{model_id} is in the run store, but the database is unavailable")
    return _checked_run_checkpoint(factory, _parse_run_id(model_id))[0]


def _smollm2_cache() -> Path:
    return glassbox_home() / "cache" / "llama"


def _smollm2_encoding(path: Path) -> tiktoken.Encoding:
    return gguf_encoding(open_gguf(path).metadata, "smollm2")


def _load_smollm2(device: torch.device | None) -> LoadedModel:
    path = SMOLLM2.path(models_dir())
    if not path.is_file():
        raise CheckpointError(
            f"SmolLM2 is not on this machine ({path}): get it with the sidebar's button or "
            "`python -m core.models get smollm2`"
        )
    try:
        model, metadata = read_llama_gguf(path, cache_dir=_smollm2_cache())
        encoding = gguf_encoding(metadata, "smollm2")
        template = metadata.get("tokenizer.chat_template")
    except (GGUFError, TokenizerError) as exc:
        raise CheckpointError(f"{SMOLLM2.file_name} cannot be used: {exc}") from exc
    check_vocab_fits(model.config, encoding.n_vocab, encoding.name)
    entry = ModelEntry(SMOLLM2_ID, SMOLLM2_LABEL, "pretrained", _describe_llama(model.config))
    return LoadedModel(_finish(model, device), encoding, model.config, entry, template)


def _describe_llama(config: LlamaConfig) -> str:
    return (
        f"{config.n_layer} layers, {config.n_head} query heads sharing {config.n_kv_head} "
        f"key/value heads, width {config.n_embd}, context {config.context_length}, "
        f"{config.num_parameters() / 1e6:.1f}M parameters"
    )


def store_key(entry_id: str, session_factory: sessionmaker[Session] | None = None) -> str:
    """What a cache of a loaded model or tokenizer must key on besides its id.

    For ``run:<id>`` it is the run's uid (ids of deleted runs were reused by SQLite stores
    before migration 0002, and a cache keyed by id alone kept serving the deleted run);
    "" for everything else, and for a run that does not exist (the load then says so).
    """
    if not entry_id.startswith("run:"):
        return ""
    factory = _session_factory(session_factory)
    if factory is None:
        return ""
    try:
        run_id = _parse_run_id(entry_id)
        with reading(factory) as session:
            run = get_run(session, run_id)
            return run.uid if run is not None else ""
    except (CheckpointError, SQLAlchemyError):
        return ""


def _parse_run_id(text: str) -> int:
    try:
        return int(text.split(":", 1)[1])
    except ValueError as exc:
        raise CheckpointError(f"{text!r} is not of the form run:<number>") from exc


def _with_tokenizer(ckpt, entry: ModelEntry, session_factory, device) -> LoadedModel:
    if ckpt.tokenizer is None:
        raise CheckpointError(f"{ckpt.path} does not say which tokenizer it was trained with")
    try:
        if ckpt.tokenizer.get("kind") == "run":
            factory = _session_factory(session_factory)
            with factory() as session:  # type: ignore[union-attr]
                encoding = load_tokenizer_spec(ckpt.tokenizer, session)
        else:
            encoding = load_tokenizer_spec(ckpt.tokenizer)
    except (TokenizerError, AttributeError) as exc:
        raise CheckpointError(f"the tokenizer of {entry.label} cannot be loaded: {exc}") from exc
    check_vocab_fits(ckpt.config, encoding.n_vocab, encoding.name)
    return LoadedModel(_finish(ckpt.model, device), encoding, ckpt.config, entry)


def list_tokenizers(
    session_factory: sessionmaker[Session] | None = None, *, store: bool = True
) -> list[TokenizerEntry]:
    """The OpenAI encodings, the built-in BPE and the tokenizer runs in the store.

    ``store`` and errors as in :func:`list_models`.
    """
    entries = [TokenizerEntry(name, ENCODING_LABELS[name]) for name in ENCODING_NAMES]
    if smollm2_present():
        entries.append(TokenizerEntry(SMOLLM2_ID, "SmolLM2 (smollm2, 49,152 tokens)"))
    if BUILTIN_TOKENIZER.is_file():
        entries.append(TokenizerEntry(BUILTIN_ID, "Built-in BPE (Python manual, 4,096 tokens)"))
    factory = _session_factory(session_factory) if store else None
    if factory is not None:
        try:
            with reading(factory) as session:
                entries.extend(
                    TokenizerEntry(f"run:{info.run_id}", info.label)
                    for info in list_tokenizer_runs(session)
                )
        except SQLAlchemyError as exc:
            raise _store_down(exc) from exc
    return entries


def load_tokenizer(
    tokenizer_id: str, session_factory: sessionmaker[Session] | None = None
) -> tiktoken.Encoding:
    """A ``tiktoken.Encoding`` for a :func:`list_tokenizers` id."""
    if tokenizer_id in ENCODING_NAMES:
        return get_encoding(tokenizer_id)
    if tokenizer_id == BUILTIN_ID:
        return BPETokenizer.load(BUILTIN_TOKENIZER).encoding()
    if tokenizer_id == SMOLLM2_ID:
        path = SMOLLM2.path(models_dir())
        try:
            return _smollm2_encoding(path)
        except GGUFError as exc:
            raise TokenizerError(
                f"SmolLM2's tokenizer needs its model file: {exc}; get it with "
                "`python -m core.models get smollm2`"
            ) from exc
    if tokenizer_id.startswith("run:"):
        factory = _session_factory(session_factory)
        if factory is None:
            raise TokenizerError(
                f"{tokenizer_id} is in the run store, but the database is unavailable"
            )
        with factory() as session:
            return load_tokenizer_run(session, _parse_run_id(tokenizer_id)).encoding()
    raise TokenizerError(f"unknown tokenizer id {tokenizer_id!r}")
