"""Built-in model check: load time, one sampling step's latency, and attention-head structure.

* Load: ``core.registry.load_model("builtin")`` wall time (first call, then the median of
  repeats), the checkpoint's size and sha256.
* Step latency: one decoding step as the sampler runs it: one token with the KV cache at
  position ~100 on the decoder the sampler picks (``core.model.decoding``; the plain
  forward where none applies), softmax, and a draw (goal: median <= 10 ms).
* Heads: for each layer/head, the mean attention weight a query puts on the previous token
  and on the first token, how often each gets the row's largest weight, and the attention
  entropy, over validation windows of the built-in model's training corpus built as it was
  trained (behind its start token, if any; queries with at least 16 keys). A head is
  reported as a previous-token or first-token head when that key gets its largest weight
  in at least half of the rows.

    python -m bench.bench_builtin
    python -m bench.bench_builtin --device cuda --no-heads   # load and step on a GPU
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import NamedTuple

import torch

from core.corpus import builtin_documents
from core.device import describe_device
from core.helpformat import HelpFormatter
from core.model import file_sha256
from core.model.decoding import pick_decoder
from core.registry import BUILTIN_CHECKPOINT, load_model
from core.training.builtin import CORPORA
from core.training.cli import load_documents
from core.training.data import encode_documents, eval_windows


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def load_times(repeats: int, device: torch.device) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        load_model("builtin", device=device)
        _sync(device)
        times.append(time.perf_counter() - t0)
    return times[0], statistics.median(times[1:] or times)


@torch.inference_mode()
def step_latency(loaded, steps: int) -> list[float]:
    model, enc = loaded.model, loaded.tokenizer
    ids = enc.encode_ordinary(builtin_documents()[5])[:100]
    device = model.device
    cache = model.new_kv_cache()
    model(torch.tensor([ids], device=device), kv_cache=cache)
    decoder = pick_decoder(model, cache)
    step = decoder.step if decoder is not None else lambda t: model(t, kv_cache=cache)[:, -1]
    g = torch.Generator(device=device).manual_seed(0)
    nxt, times = torch.tensor([[ids[-1]]], device=device), []
    for _ in range(steps):
        if cache.remaining == 0:
            cache.truncate(100)
        _sync(device)
        t0 = time.perf_counter()
        logits = step(nxt)  # (1, vocab)
        probs = torch.softmax(logits / 0.8, dim=-1)
        nxt = torch.multinomial(probs, 1, generator=g)  # (1, 1)
        _sync(device)
        times.append(time.perf_counter() - t0)
    return times


class HeadScore(NamedTuple):
    layer: int
    head: int
    prev: float  # mean weight on the previous token
    prev_top: float  # share of rows whose largest weight is on the previous token
    first: float  # mean weight on position 0
    first_top: float  # share of rows whose largest weight is on position 0
    entropy: float  # nats


@torch.inference_mode()
def head_scores(loaded, windows: int) -> list[HeadScore]:
    """Every head's attention pattern over validation windows, queries with >= 16 keys.

    The windows are built as the model was trained: behind its start token if it has one.
    """
    model = loaded.model
    ids, _ = encode_documents(load_documents(list(CORPORA)), loaded.tokenizer)
    n_val = int(len(ids) * 0.1)
    xs, _ = eval_windows(
        ids[len(ids) - n_val :], model.config.context_length, windows, model.config.start_token
    )
    out = model(xs, capture=True)
    rows = []
    for layer, att in enumerate(out.attentions):  # (W, H, T, T)
        att = att.float()[:, :, 16:]  # queries that see >= 16 keys
        query = torch.arange(16, 16 + att.shape[2])  # (Q,) positions of the queries
        prev = att.gather(-1, (query - 1).expand(*att.shape[:2], -1)[..., None])[..., 0]
        top = att.argmax(-1)  # (W, H, Q)
        ent = -(att * att.clamp_min(1e-12).log()).sum(-1)
        rows += [
            HeadScore(
                layer,
                h,
                float(prev[:, h].mean()),
                float((top[:, h] == query - 1).float().mean()),
                float(att[:, h, :, 0].mean()),
                float((top[:, h] == 0).float().mean()),
                float(ent[:, h].mean()),
            )
            for h in range(att.shape[1])
        ]
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_builtin", description=__doc__, formatter_class=HelpFormatter
    )
    parser.add_argument("--load-repeats", type=int, default=5, help="timed loads after the first")
    parser.add_argument("--steps", type=int, default=200, help="decoding steps timed")
    parser.add_argument("--windows", type=int, default=8, help="validation windows for the heads")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (load and step only)")
    parser.add_argument("--no-heads", action="store_true", help="skip the attention-head table")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    first, median_load = load_times(args.load_repeats, device)
    loaded = load_model("builtin", device=device)
    lat = sorted(step_latency(loaded, args.steps))
    size = BUILTIN_CHECKPOINT.stat().st_size
    print(f"device: {describe_device(device)}; torch {torch.__version__}")
    print(
        f"checkpoint: {BUILTIN_CHECKPOINT.name}, {size / 1e6:.1f} MB, sha256 {file_sha256(BUILTIN_CHECKPOINT)}"
    )
    print()
    print("| built-in model | value |")
    print("|---|---|")
    print(f"| load (first call) | {first * 1000:.0f} ms |")
    print(f"| load (median of {args.load_repeats - 1} more) | {median_load * 1000:.0f} ms |")
    p90 = lat[int(0.9 * (len(lat) - 1))]
    print(
        f"| sampling step, median / p90 ({args.steps} steps, KV cache at ~100) | {statistics.median(lat) * 1000:.2f} / {p90 * 1000:.2f} ms |"
    )
    if args.no_heads:
        return
    loaded = load_model("builtin", device=torch.device("cpu"))
    print()
    start = loaded.model.config.start_token
    print(
        "windows as trained: "
        + ("without a start token" if start is None else f"start token {start} at position 0")
    )
    print(
        "| layer | head | mean weight on previous token | previous token is the largest "
        "| mean weight on first token | first token is the largest | entropy (nats) "
        "| looks like |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for s in head_scores(loaded, args.windows):
        kind = (
            "previous-token" if s.prev_top >= 0.5 else "first-token" if s.first_top >= 0.5 else ""
        )
        print(
            f"| {s.layer} | {s.head} | {s.prev:.2f} | {s.prev_top:.0%} | {s.first:.2f} "
            f"| {s.first_top:.0%} | {s.entropy:.2f} | {kind} |"
        )


if __name__ == "__main__":
    main()
