"""Built-in model check: load time, one sampling step's latency, and attention-head structure.

* Load: ``core.registry.load_model("builtin")`` wall time (first call, then the median of
  repeats), the checkpoint's size and sha256.
* Step latency: one decoding step as the sampler runs it: forward of one token with the
  KV cache at position ~100, softmax, and a draw (goal: median <= 10 ms).
* Heads: for each layer/head, the mean attention weight a query puts on the previous token
  and on the first token, how often the previous token gets the row's largest weight, and
  the attention entropy, over validation windows of the built-in
  model's training corpus (queries with at least 16 keys); heads with a mean above 0.5 are
  reported as previous-token or first-token heads.

    python -m bench.bench_builtin
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from core.device import describe_device
from core.model import file_sha256
from core.registry import BUILTIN_CHECKPOINT, load_model
from core.training.builtin import CORPORA
from core.training.cli import load_documents
from core.training.corpus import builtin_documents
from core.training.data import encode_documents, eval_windows


def load_times(repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        load_model("builtin", device=torch.device("cpu"))
        times.append(time.perf_counter() - t0)
    return times[0], statistics.median(times[1:] or times)


@torch.inference_mode()
def step_latency(loaded, steps: int) -> list[float]:
    model, enc = loaded.model, loaded.tokenizer
    ids = enc.encode_ordinary(builtin_documents()[5])[:100]
    cache = model.new_kv_cache()
    model(torch.tensor([ids]), kv_cache=cache)
    g = torch.Generator().manual_seed(0)
    nxt, times = torch.tensor([[ids[-1]]]), []
    for _ in range(steps):
        if cache.remaining == 0:
            cache.truncate(100)
        t0 = time.perf_counter()
        logits = model(nxt, kv_cache=cache)[:, -1]  # (1, vocab)
        probs = torch.softmax(logits / 0.8, dim=-1)
        nxt = torch.multinomial(probs, 1, generator=g)  # (1, 1)
        times.append(time.perf_counter() - t0)
    return times


@torch.inference_mode()
def head_scores(loaded, windows: int) -> list[tuple[int, int, float, float, float, float]]:
    """(layer, head, weight on previous token, weight on first token, entropy in nats,
    share of rows whose largest weight is on the previous token)."""
    model = loaded.model
    ids, _ = encode_documents(load_documents(list(CORPORA)), loaded.tokenizer)
    n_val = int(len(ids) * 0.1)
    xs, _ = eval_windows(ids[len(ids) - n_val :], model.config.context_length, windows)
    out = model(xs, capture=True)
    rows = []
    for layer, att in enumerate(out.attentions):  # (W, H, T, T)
        att = att.float()
        prev = torch.diagonal(att, offset=-1, dim1=-2, dim2=-1)[:, :, 15:].mean(dim=(0, 2))
        first = att[:, :, 16:, 0].mean(dim=(0, 2))  # (H,), queries that see >= 16 keys
        ent = -(att[:, :, 16:] * att[:, :, 16:].clamp_min(1e-12).log()).sum(-1).mean((0, 2))
        query = torch.arange(16, att.shape[-1])  # positions of the queries counted
        argmax = (att[:, :, 16:].argmax(-1) == query - 1).float().mean(dim=(0, 2))  # (H,)
        rows += [
            (layer, h, float(prev[h]), float(first[h]), float(ent[h]), float(argmax[h]))
            for h in range(att.shape[1])
        ]
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load-repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--windows", type=int, default=8)
    args = parser.parse_args(argv)
    first, median_load = load_times(args.load_repeats)
    loaded = load_model("builtin", device=torch.device("cpu"))
    lat = sorted(step_latency(loaded, args.steps))
    size = BUILTIN_CHECKPOINT.stat().st_size
    print(f"device: {describe_device(torch.device('cpu'))}; torch {torch.__version__}")
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
    print()
    print(
        "| layer | head | mean weight on previous token | previous token is the largest "
        "| mean weight on first token | entropy (nats) | looks like |"
    )
    print("|---|---|---|---|---|---|---|")
    for layer, head, prev, first_w, ent, argmax in head_scores(loaded, args.windows):
        kind = "previous-token" if prev > 0.5 else "first-token" if first_w > 0.5 else ""
        print(
            f"| {layer} | {head} | {prev:.2f} | {argmax:.0%} | {first_w:.2f} | {ent:.2f} | {kind} |"
        )


if __name__ == "__main__":
    main()
