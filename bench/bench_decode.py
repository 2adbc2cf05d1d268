"""Decode benchmark: batch-1 tokens/s with and without the KV cache vs the bandwidth ceiling.

Decoding one token at batch 1 must read every weight once, so on a machine whose matrix
products are memory-bound the best possible rate is ``bandwidth / weight bytes per token``.
The bandwidth is that of one large matrix-vector product measured in this same run (both
weight orientations with one ``mm``, the row-block split that streams on every CPU thread,
and the project's native C kernel; the fastest sets the ceiling), just before and just
after each decode run, so the ratio does not depend on what else the machine was doing a
minute earlier. GPT-2 124M shape, random weights.

The cached decode ("cache") runs each one-token step as the samplers do on the CPU: on
:class:`core.model.gpt_decoder.NativeGPTDecoder` (the whole token in one native call) where
the kernels are available; on a GPU, and on the CPU without them, on the plain model.
``--modes plain`` times the plain model's forward on the CPU too. On a CUDA GPU the cached
decode also runs with each step replayed as a CUDA graph
(:class:`core.model.graphs.GraphDecoder`): eager decoding there is bound by the host
launching kernels, and a replayed graph by the number of kernels, not by HBM.

    python -m bench.bench_decode                 # fp32 and bf16, 200 new tokens, CPU or CUDA
    python -m bench.bench_decode --dtypes fp32 --new-tokens 50 --no-uncached
    python -m bench.bench_decode --modes cache plain --no-uncached   # native vs plain
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F

from core.device import default_device, describe_device
from core.helpformat import HelpFormatter
from core.model import GPT, gpt2_config
from core.model.gpt_decoder import NativeGPTDecoder
from core.model.graphs import GraphDecoder
from core.model.kernels import native_kernels, native_status

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
MODES = {
    "cache": "KV cache",
    "plain": "KV cache, plain model",
    "graphs": "KV cache + CUDA graphs",
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def split_matvec(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``x @ weight.T (+ bias)`` for one row x (1, in), streaming weight on every CPU thread.

    PyTorch's one-row product runs on one thread. Here the (out, in) weight is viewed,
    without a copy, as ``n`` blocks of whole rows (n, out/n, in), one per thread; ``bmm`` of
    the blocks with x's column is a batched matrix-vector product that MKL spreads over the
    threads, each streaming its own block of contiguous memory. Rows left over when ``n``
    does not divide ``out`` are one small extra product. A probe of the bandwidth PyTorch
    alone can reach (the models decoded with it before the native kernel existed).
    """
    n = torch.get_num_threads()
    d_out, d_in = weight.shape
    rows = d_out // n  # rows per block
    blocks = weight[: n * rows].view(n, rows, d_in)  # (n, rows, in), a view
    # x as a column, (n, in, 1) with strides (0, 1, in): MKL takes this layout as a
    # matrix-vector product over contiguous rows (a column with strides (0, 1, 1) made it
    # fall back to a kernel ~4x slower).
    column = x.reshape(1, d_in).t().expand(n, d_in, 1)
    out = torch.bmm(blocks, column).view(1, n * rows)  # (1, n * rows)
    if n * rows < d_out:
        out = torch.cat([out, F.linear(x, weight[n * rows :])], dim=1)  # (1, out)
    return out if bias is None else out.add_(bias)


class MatvecProbe:
    """Bytes/s of a 768 x 201,088 matrix-vector product (617 MB in fp32), up to four ways.

    ``x@W.T`` and ``x@W`` are single ``mm`` calls on the two weight orientations (one CPU
    thread does the work); ``split`` is :func:`split_matvec`, which streams row blocks on
    every thread; ``native`` is the C kernel's product (:mod:`core.model.kernels`), the
    same loop the native decoder streams its matrices with. The matrices are made once, so the
    probe can be re-run next to every decode run.
    """

    def __init__(self, device: torch.device, dtypes: list[torch.dtype]) -> None:
        self.device = device
        g = torch.Generator(device="cpu").manual_seed(0)
        base = torch.randn(201_088, 768, generator=g)  # (out, in), as Dense stores it
        self.weights = {dt: base.to(device=device, dtype=dt) for dt in dtypes}
        self.x = torch.randn(1, 768, generator=g).to(device)
        self.kernels = native_kernels() if device.type == "cpu" else None

    def ops(self, dtype: torch.dtype, fastest_only: bool = False) -> dict:
        """The products to time; ``fastest_only`` keeps the one that is normally fastest."""
        w, x = self.weights[dtype], self.x.to(dtype)
        w_in_out = w.t().contiguous() if not fastest_only else None  # GPT-2's Conv1D layout
        split = self.device.type == "cpu" and torch.get_num_threads() > 1
        kernels = self.kernels
        ops = {
            "x@W.T (out,in)": lambda: torch.mm(x, w.t()),
            "x@W (in,out)": lambda: torch.mm(x, w_in_out),
            "split (out,in)": lambda: split_matvec(x, w, None),
            "native (out,in)": lambda: kernels.matvec(w, self.x),
        }
        if not split:
            del ops["split (out,in)"]
        if kernels is None:
            del ops["native (out,in)"]
        if fastest_only:
            best = "native (out,in)" if kernels else "split (out,in)" if split else "x@W.T (out,in)"
            return {best: ops[best]}
        return ops

    def rates(self, dtype: torch.dtype, repeats: int = 20, fastest_only: bool = False) -> dict:
        """{kernel: bytes/s}, the median of ``repeats`` timed products each."""
        nbytes = self.weights[dtype].numel() * self.weights[dtype].element_size()
        rates = {}
        for name, f in self.ops(dtype, fastest_only).items():
            for _ in range(2):
                f()
            times = []
            for _ in range(repeats):
                _sync(self.device)
                t0 = time.perf_counter()
                f()
                _sync(self.device)
                times.append(time.perf_counter() - t0)
            rates[name] = nbytes / statistics.median(times)
        return rates

    def bandwidth(self) -> float:
        """The machine's bandwidth now: the fastest product over every probed dtype."""
        return max(max(self.rates(dt, 5, fastest_only=True).values()) for dt in self.weights)


def bytes_per_token(model: GPT) -> int:
    """Weight bytes one decode step reads: every parameter except unused position rows."""
    total = sum(p.numel() * p.element_size() for p in model.parameters())
    pos = model.pos_emb.weight
    return total - (pos.shape[0] - 1) * pos.shape[1] * pos.element_size()


@torch.inference_mode()
def decode_rate(model: GPT, prompt: torch.Tensor, new_tokens: int, mode: str) -> float:
    """Tokens/s of greedy decoding ``new_tokens`` after ``prompt`` (prefill included).

    ``mode``: "cache" (the KV cache, each token one step of :class:`NativeGPTDecoder` where
    it applies, else of the plain model), "plain" (the KV cache, the plain model's
    ``forward`` per token), "graphs" (the KV cache with each step replayed as a CUDA graph,
    :class:`GraphDecoder`; an untimed identical run first records the graphs) or "none"
    (the whole prefix every step).
    """
    device = prompt.device
    if mode == "graphs":
        decoder = GraphDecoder(model, model.new_kv_cache(1))
        for _run in ("records the graphs", "timed"):
            _sync(device)
            t0 = time.perf_counter()
            decoder.cache.truncate(0)
            logits = model(prompt, kv_cache=decoder.cache, last_only=True)[:, -1]
            for _ in range(new_tokens - 1):
                logits = decoder.step(logits.argmax(-1, keepdim=True), check_ids=False)
            _sync(device)
        return new_tokens / (time.perf_counter() - t0)
    _sync(device)
    t0 = time.perf_counter()
    if mode in ("cache", "plain"):
        cache = model.new_kv_cache(1)
        decoder = NativeGPTDecoder.create(model, cache) if mode == "cache" else None
        logits = model(prompt, kv_cache=cache, last_only=True)[:, -1]
        for _ in range(new_tokens - 1):
            nxt = logits.argmax(-1, keepdim=True)  # (1, 1)
            if decoder is not None:
                logits = decoder.step(nxt)  # (1, vocab)
            else:
                logits = model(nxt, kv_cache=cache, last_only=True)[:, -1]
    else:
        idx = prompt
        for _ in range(new_tokens):
            logits = model(idx, last_only=True)
            idx = torch.cat([idx, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    _sync(device)
    return new_tokens / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_decode", description=__doc__, formatter_class=HelpFormatter
    )
    parser.add_argument(
        "--dtypes", nargs="+", default=["fp32", "bf16"], choices=sorted(DTYPES),
        help="weight dtypes to decode with",
    )  # fmt: skip
    parser.add_argument("--new-tokens", type=int, default=200, help="tokens per decode run")
    parser.add_argument("--repeats", type=int, default=5, help="decode runs per dtype")
    parser.add_argument("--no-uncached", action="store_true", help="skip the slow uncached run")
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=sorted(MODES),
        help="cached decodes to time (default: cache, and graphs on a GPU)",
    )
    args = parser.parse_args(argv)

    device = default_device()
    torch.manual_seed(0)
    base = GPT(gpt2_config("gpt2")).eval().requires_grad_(False).to(device)
    prompt = torch.tensor([[15496, 11, 466, 345]], device=device)  # 4 tokens
    print(
        f"device: {describe_device(device)}; torch {torch.__version__}; GPT-2 124M shape, "
        f"{base.num_parameters():,} parameters; batch 1, {args.new_tokens} new tokens"
    )
    if device.type == "cpu":
        print(f"native matvec kernel: {native_status()}")
    # The memory ceiling is a property of the machine: the fastest large matrix-vector
    # product in any dtype and kernel (the native kernel, normally). A dtype's ceiling is that
    # bandwidth over its bytes per token, so bf16's is twice fp32's. This host's bandwidth
    # moves by tens of percent within a minute, so every decode run is paired with the
    # bandwidth measured just before and just after it, and the ratio is taken per pair.
    probe = MatvecProbe(device, [DTYPES[name] for name in args.dtypes])
    for name in args.dtypes:
        rates = probe.rates(DTYPES[name])
        print(
            f"{name} matvec GB/s: "
            + ", ".join(f"{op} {rate / 1e9:.1f}" for op, rate in rates.items())
        )
    modes = args.modes or (["cache", "graphs"] if device.type == "cuda" else ["cache"])
    rows = []
    ref_logits = base(prompt).float()
    for name in args.dtypes:
        # bf16 = weight-only: the matrices in bf16, activations and KV cache in fp32.
        model = base if name == "fp32" else copy.deepcopy(base).cast_matrices(DTYPES[name])
        err = (model(prompt).float() - ref_logits).abs().max().item()
        nbytes = bytes_per_token(model)
        uncached = float("nan")
        if not args.no_uncached:
            uncached = decode_rate(model, prompt, args.new_tokens, "none")
        for mode in modes:
            runs = []  # (tokens/s, bandwidth around the run)
            for _ in range(args.repeats):
                before = probe.bandwidth()
                rate = decode_rate(model, prompt, args.new_tokens, mode)
                runs.append((rate, (before + probe.bandwidth()) / 2))
            ratios = sorted(rate * nbytes / bw for rate, bw in runs)
            rows.append((name, MODES[mode], nbytes / 1e6, runs, ratios, uncached, err))
        del model
    print()
    print(
        f"| dtype | decode | MB/token | bandwidth GB/s | ceiling tok/s | tok/s | % of ceiling, "
        f"median of {args.repeats} (range) | no cache tok/s | max abs logit diff vs fp32 |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, mode, mb, runs, ratios, uncached, err in rows:
        bws = [bw / 1e9 for _, bw in runs]
        ceilings = [bw / (mb * 1e6) for _, bw in runs]
        print(
            f"| {name} | {mode} | {mb:.1f} | {min(bws):.1f}–{max(bws):.1f} "
            f"| {statistics.median(ceilings):.1f} | {statistics.median(r for r, _ in runs):.1f} "
            f"| {statistics.median(ratios):.0%} ({ratios[0]:.0%}–{ratios[-1]:.0%}) "
            f"| {uncached:.1f} | {err:.3g} |"
        )


if __name__ == "__main__":
    main()
