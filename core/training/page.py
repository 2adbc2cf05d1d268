"""The Training page's model: the form, its bounds, the cost estimate, uploads, live views.

Pure functions the page calls (tested without Streamlit): :class:`TrainForm` holds every
setting with its bounds in :data:`LIMITS` (the same bounds feed the widgets and the URL);
:func:`form_problems` refuses what cannot run or would cost too much before anything
starts; :func:`job_spec` turns a form into the flags of ``python -m core.training`` for the
job manager (``jobs.py``); :func:`estimate` gives parameters, FLOPs, memory and time on
this machine (training FLOPs per token ``6N + 12·L·d·T`` as in PaLM's appendix B, AdamW's
16 bytes per parameter and the activations of Korthikanti et al. 2022, section 4.1,
in fp32); :func:`check_upload` refuses empty, binary, non-UTF-8 and oversized files;
:func:`live_view` reads a run back from the store (curves, progress, ETA, samples), so any
browser session can follow any job.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from sqlalchemy.orm import Session

from core.corpus import CorpusError, decode_text, named_corpora
from core.model import CheckpointError, GPTConfig
from core.model.checkpoint import read_metadata
from core.store import (
    RunKind,
    RunQuery,
    RunStatus,
    get_artifacts,
    get_points,
    glassbox_home,
    list_runs,
    owner_alive,
    require_run,
)
from core.store.schema import as_dict, finite, whole
from core.training.jobs import JobSpec

UPLOAD_MAX_ENV = "GLASSBOX_TRAIN_UPLOAD_MAX_MB"
MAX_FLOPS = 2e15  # total training FLOPs a job may cost (~1-3 hours of this 2-core CPU)
MAX_MEMORY = 8 * 2**30  # estimated bytes a job may hold (weights, AdamW, activations)
SAMPLES_SHOWN = 6  # latest sample texts on the page

# Model shapes: (layers, heads, width, context).
PRESETS: dict[str, tuple[int, int, int, int]] = {
    "tiny": (2, 2, 64, 64),
    "small": (4, 4, 128, 128),
}
PRESET_NAMES = (*PRESETS, "custom")
CORPORA = tuple(named_corpora())  # builtin, stdlib-docs, torch-docs, deps-docs
START_TOKENS = ("none", "eot")

# Bounds of every number on the form: (lowest, highest).
LIMITS: dict[str, tuple[float, float]] = {
    "n_layer": (1, 12),
    "n_head": (1, 16),
    "n_embd": (8, 768),
    "context_length": (8, 1024),
    "steps": (1, 100_000),
    "batch_size": (1, 256),
    "lr": (1e-6, 1.0),
    "warmup_steps": (0, 10_000),
    "weight_decay": (0.0, 1.0),
    "seed": (0, 2**31 - 1),
    "eval_every": (1, 10_000),
    "sample_every": (0, 100_000),
}


class FormError(ValueError):
    """A form that cannot be started; the message names what to change."""


@dataclass(frozen=True)
class TrainForm:
    """Everything the user sets on the page (defaults: a tiny run of a minute or so)."""

    corpora: tuple[str, ...] = ("builtin",)  # names of named_corpora()
    tokenizer: str = "builtin"  # a registry tokenizer id: encoding name, "builtin", "run:<id>"
    preset: str = "tiny"
    n_layer: int = 2
    n_head: int = 2
    n_embd: int = 64
    context_length: int = 64
    steps: int = 200
    batch_size: int = 8
    lr: float = 3e-3
    warmup_steps: int = 20
    weight_decay: float = 0.1
    seed: int = 1337
    start_token: str = "none"
    eval_every: int = 20
    sample_every: int = 50
    sample_prompt: str = "The "
    name: str = ""
    finetune_from: str = ""  # "run:<id>" of a finished training run, or "" for a new model

    def shape(self) -> tuple[int, int, int, int]:
        """(layers, heads, width, context) of the preset, or the custom numbers."""
        if self.preset in PRESETS:
            return PRESETS[self.preset]
        return (self.n_layer, self.n_head, self.n_embd, self.context_length)


def form_values(form: TrainForm) -> dict:
    return asdict(form)


def form_from(values: dict) -> TrainForm:
    """A form from a dict of its fields (unknown keys ignored, lists made tuples)."""
    known = {f.name for f in fields(TrainForm)}
    clean = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in known}
    return TrainForm(**clean)


def model_config(form: TrainForm, vocab_size: int, start_token_id: int | None = None) -> GPTConfig:
    n_layer, n_head, n_embd, context = form.shape()
    return GPTConfig(
        vocab_size=vocab_size,
        context_length=context,
        n_layer=n_layer,
        n_head=n_head,
        n_embd=n_embd,
        start_token=start_token_id,
    )


def finetune_form(form: TrainForm, checkpoint: Path) -> tuple[TrainForm, int]:
    """The form with the shape of the checkpoint it fine-tunes, and that model's vocabulary.

    Raises :class:`CheckpointError` when the file is not a readable Glassbox checkpoint.
    """
    try:
        cfg = GPTConfig.from_json(read_metadata(checkpoint)["config"])
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{checkpoint} does not describe its model ({exc})") from exc
    shaped = form_from(
        form_values(form)
        | {
            "preset": "custom",
            "n_layer": cfg.n_layer,
            "n_head": cfg.n_head,
            "n_embd": cfg.n_embd,
            "context_length": cfg.context_length,
        }
    )
    return shaped, cfg.vocab_size


@dataclass(frozen=True)
class Estimate:
    parameters: int
    flops: float  # training FLOPs of the whole job
    memory_bytes: int  # weights + gradients + AdamW moments + activations of one step
    seconds: float  # at this machine's measured rate (rough: +-50%)
    tokens: int  # tokens the job trains on (steps x batch x context)


def estimate(form: TrainForm, vocab_size: int, flops_per_s: float) -> Estimate:
    """Cost of the form's job. ``flops_per_s``: this machine's training rate
    (:func:`machine_flops`)."""
    cfg = model_config(form, vocab_size)
    n_layer, n_head, n_embd, context = form.shape()
    tokens = form.steps * form.batch_size * context
    flops = float(cfg.training_flops_per_token()) * tokens
    params = cfg.num_parameters()
    # Korthikanti et al.: s·b·h·(34 + 5·a·s/h) bytes per layer in 16-bit; fp32 doubles it,
    # plus the logits (b·s·V, 4 bytes, twice: values and gradients).
    per_layer = context * form.batch_size * n_embd * (34 + 5 * n_head * context / n_embd) * 2
    logits = 2 * 4 * form.batch_size * context * vocab_size
    memory = int(16 * params + n_layer * per_layer + logits)
    return Estimate(params, flops, memory, flops / max(flops_per_s, 1.0), tokens)


def machine_flops(size: int = 256, repeats: int = 8) -> float:
    """This machine's rough training rate in FLOP/s: a timed fp32 matrix product, times 0.3
    (a small GPT's step also spends time on attention, softmax, layer norms and AdamW)."""
    a = torch.randn(size, size)
    b = torch.randn(size, size)
    a @ b  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    seconds = max(time.perf_counter() - start, 1e-9)
    return 0.3 * 2 * size**3 * repeats / seconds


def form_problems(form: TrainForm, vocab_size: int, flops_per_s: float) -> list[str]:
    """Why the form cannot start (empty when it can): bounds, shape, cost."""
    problems = []
    n_layer, n_head, n_embd, context = form.shape()
    values = asdict(form) | {
        "n_layer": n_layer,
        "n_head": n_head,
        "n_embd": n_embd,
        "context_length": context,
    }
    for key, (lo, hi) in LIMITS.items():
        value = values[key]
        if not isinstance(value, int | float) or not (lo <= value <= hi):
            problems.append(f"{key.replace('_', ' ')} must be from {lo:g} to {hi:g}")
    if n_embd % n_head:
        problems.append(f"width {n_embd} must be a multiple of the {n_head} heads")
    if form.warmup_steps >= form.steps:
        problems.append(f"warmup ({form.warmup_steps} steps) must be shorter than the run")
    if form.preset not in PRESET_NAMES:
        problems.append(f"size preset must be one of {', '.join(PRESET_NAMES)}")
    if form.start_token not in START_TOKENS:
        problems.append("start token must be 'none' or 'eot'")
    if not form.corpora:
        problems.append("choose at least one corpus or upload a .txt file")
    if len(form.sample_prompt) > 200:
        problems.append("the sample prompt is limited to 200 characters")
    if len(form.name) > 200:
        problems.append("the run name is limited to 200 characters")
    if problems:
        return problems
    est = estimate(form, vocab_size, flops_per_s)
    if est.flops > MAX_FLOPS:
        problems.append(
            f"this job would cost {est.flops:.2g} FLOPs (limit {MAX_FLOPS:.0g}, about "
            f"{est.seconds / 3600:.1f} hours here): lower the steps, batch, context or width"
        )
    if est.memory_bytes > MAX_MEMORY:
        problems.append(
            f"this job would need about {est.memory_bytes / 2**30:.1f} GiB "
            f"(limit {MAX_MEMORY / 2**30:.0f} GiB): lower the batch, context or width"
        )
    return problems


def job_spec(form: TrainForm, corpus_sources: list[str], init_from: Path | None = None) -> JobSpec:
    """The job for a checked form. ``corpus_sources``: corpus names and saved upload
    paths; ``init_from``: the checkpoint file to fine-tune (its shape and tokenizer win)."""
    n_layer, n_head, n_embd, context = form.shape()
    args: list[str] = []
    for source in corpus_sources:
        args += ["--corpus", str(source)]
    if init_from is None:
        args += ["--tokenizer", tokenizer_arg(form.tokenizer)]
        args += ["--n-layer", str(n_layer), "--n-head", str(n_head)]
        args += ["--n-embd", str(n_embd), "--context-length", str(context)]
        args += ["--start-token", form.start_token]
    else:
        args += ["--init-from", str(init_from)]
    eval_every = min(form.eval_every, form.steps)
    args += [
        "--steps", str(form.steps), "--batch-size", str(form.batch_size),
        "--lr", f"{form.lr:.6g}", "--min-lr", f"{form.lr / 10:.6g}",
        "--warmup-steps", str(form.warmup_steps), "--weight-decay", f"{form.weight_decay:.6g}",
        "--seed", str(form.seed), "--eval-every", str(eval_every), "--eval-windows", "8",
        "--sample-every", str(form.sample_every), "--sample-prompt", form.sample_prompt,
        "--sample-tokens", "40", "--checkpoint-every", str(eval_every),
        "--dropout", "0.0", "--log-every", str(max(1, eval_every)), "--tag", "page",
    ]  # fmt: skip
    if form.name.strip():
        args += ["--name", form.name.strip()]
    label = form.name.strip() or (
        f"fine-tune {form.finetune_from}" if init_from else f"gpt {n_layer}x{n_embd}"
    )
    return JobSpec(tuple(args), f"{label}, {form.steps} steps")


def tokenizer_arg(tokenizer_id: str) -> str:
    """The ``--tokenizer`` value of a registry tokenizer id."""
    if tokenizer_id == "builtin":
        from core.training.builtin import TOKENIZER_FILE

        return str(TOKENIZER_FILE)
    return tokenizer_id


# ---------------------------------------------------------------- uploads
def upload_limit() -> int:
    """Largest accepted upload in bytes: ``GLASSBOX_TRAIN_UPLOAD_MAX_MB`` (default 20)."""
    raw = os.environ.get(UPLOAD_MAX_ENV, "").strip()
    mb = float(raw) if raw.replace(".", "", 1).isdigit() else 20.0
    return int(max(0.001, min(mb, 1000.0)) * 2**20)


def check_upload(name: str, data: bytes, max_bytes: int | None = None) -> str:
    """The uploaded file's text, or :class:`CorpusError` naming what is wrong with it."""
    limit = upload_limit() if max_bytes is None else max_bytes
    shown = name[:80]
    if not name.lower().endswith(".txt"):
        raise CorpusError(f"{shown} is not a .txt file: upload plain text saved as .txt")
    if len(data) > limit:
        raise CorpusError(
            f"{shown} is {len(data) / 2**20:.1f} MB; the limit on this server is "
            f"{limit / 2**20:.1f} MB ({UPLOAD_MAX_ENV})"
        )
    if not data.strip():
        raise CorpusError(f"{shown} is empty: there is no text to train on")
    if b"\x00" in data[:8192]:
        raise CorpusError(f"{shown} contains NUL bytes: it looks like a binary file, not text")
    return decode_text(data, source=shown)


def save_upload(text: str) -> Path:
    """Store an accepted upload under ``$GLASSBOX_HOME/uploads`` by content hash (the worker
    reads it there, and a resumed run finds it again)."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    folder = glassbox_home() / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest}.txt"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return path


# ---------------------------------------------------------------- live view of a run
@dataclass(frozen=True)
class LiveView:
    """A training run as the page shows it, read from the store."""

    run_id: int
    name: str
    status: str  # the run's status; "running" with a dead worker reads "interrupted"
    step: int
    steps: int
    tokens_per_s: float | None
    eta_s: float | None
    train_loss: list[tuple[float, float | None]]
    val_loss: list[tuple[float, float | None]]
    samples: list[tuple[int, str]]  # (step, text), newest first
    message: str  # why it stopped (NaN loss, stop request, killed worker)
    resumable: bool  # stopped with a last checkpoint on this machine

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / self.steps) if self.steps else 0.0


def live_view(session: Session, run_id: int) -> LiveView:
    """What the page draws for run ``run_id`` (RunNotFound when it was deleted)."""
    run = require_run(session, run_id)
    summary, config = as_dict(run.summary), as_dict(run.config)
    progress = as_dict(summary.get("progress"))
    steps = whole(progress.get("steps")) or whole(as_dict(config.get("train")).get("steps")) or 0
    points = get_points(session, run_id, ["train_loss", "val_loss"])
    train = points.get("train_loss", [])
    step = int(train[-1][0]) if train else 0
    if run.status != RunStatus.RUNNING.value:
        step = whole(summary.get("steps")) or step
    rate = finite(progress.get("tokens_per_s"))
    n_layer_cfg = as_dict(config.get("model"))
    per_step = (whole(as_dict(config.get("train")).get("batch_size")) or 0) * (
        whole(n_layer_cfg.get("context_length")) or 0
    )
    eta = None
    if run.status == RunStatus.RUNNING.value and rate and per_step and steps:
        eta = max(0, steps - step) * per_step / rate
    samples = []
    for art in get_artifacts(session, run_id, kind="sample"):
        sample_step = whole(as_dict(art.meta).get("step"))
        if art.content is not None and sample_step is not None:
            samples.append((sample_step, art.content.decode("utf-8", errors="replace")))
    samples.sort(key=lambda s: -s[0])
    status = run.status
    if status == RunStatus.RUNNING.value and owner_alive(run.owner) is False:
        status = RunStatus.INTERRUPTED.value  # swept on the manager's next poll
    message = str(summary.get("message") or summary.get("interrupted") or "")
    last = [
        a
        for a in get_artifacts(session, run_id, kind="checkpoint")
        if as_dict(a.meta).get("role") == "last" and a.path and Path(a.path).is_file()
    ]
    resumable = (
        status in (RunStatus.INTERRUPTED.value, RunStatus.FAILED.value)
        and bool(last)
        and bool(as_dict(config.get("args")))
    )
    return LiveView(
        run_id=run_id,
        name=run.name,
        status=status,
        step=step,
        steps=steps,
        tokens_per_s=rate,
        eta_s=eta,
        train_loss=train,
        val_loss=points.get("val_loss", []),
        samples=samples[:SAMPLES_SHOWN],
        message=message,
        resumable=resumable,
    )


@dataclass(frozen=True)
class RunBrief:
    run_id: int
    name: str
    status: str


def recent_runs(session: Session, limit: int = 20) -> list[RunBrief]:
    """The latest training runs, newest first (the page's run picker)."""
    page = list_runs(session, RunQuery(kinds=(RunKind.TRAINING.value,), limit=limit))
    return [RunBrief(r.id, r.name, r.status) for r in page.runs]


def format_duration(seconds: float | None) -> str:
    """``75 -> "1 min 15 s"``, ``4000 -> "1 h 06 min"``, None -> "–"."""
    if seconds is None or not math.isfinite(seconds):
        return "–"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
