"""Training benchmark: tokens/s and achieved FLOP/s vs the GEMM FLOP/s of this machine.

Runs the real training loop (``core.training.Trainer``: forward, cross-entropy, backward,
clipping, fused AdamW) on the built-in model's configuration (4 layers, width 256, 8 heads,
context 256, vocab 4096, batch 16) with random token data, in fp32 and with bf16 autocast.
Achieved FLOP/s = tokens/s x (6·N + 12·n_layer·d·T) and is compared with the FLOP/s of a
2048^3 fp32 matrix product measured in this same run (the ceiling a GEMM-bound loop can
approach). Dropout is 0 so the figure is the model's arithmetic, not random-mask drawing.

    python -m bench.bench_train                  # fp32 and bf16, 30 timed steps each
    python -m bench.bench_train --steps 10 --precisions fp32
    python -m bench.bench_train --shape gpt2 --batch-size 8   # GPT-2 124M, for a GPU
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time

import torch

from core.device import default_device, describe_device
from core.helpformat import HelpFormatter
from core.model import GPT, GPTConfig, gpt2_config
from core.training import TrainConfig, Trainer, TrainingCallbacks
from core.training.data import TokenData

BUILTIN_SHAPE = GPTConfig(vocab_size=4096, context_length=256, n_layer=4, n_head=8, n_embd=256)
SHAPES = {"builtin": BUILTIN_SHAPE, "gpt2": gpt2_config("gpt2")}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def gemm_flops(device: torch.device, dtype: torch.dtype, repeats: int = 5) -> float:
    """FLOP/s of an n x n x n matrix product (median of ``repeats``).

    n = 2048 on the CPU; 8192 on a GPU, where a 2048^3 product is too short to keep every
    multiprocessor busy for long and its launch would weigh in the timing.
    """
    n = 8192 if device.type == "cuda" else 2048
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    for _ in range(2):
        torch.mm(a, b)
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        torch.mm(a, b)
        _sync(device)
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times)


class StepClock(TrainingCallbacks):
    """Records when each optimizer step ends."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.times = device, []

    def on_step(self, info) -> None:
        _sync(self.device)
        self.times.append(time.perf_counter())


def train_rate(
    config: GPTConfig, precision: str, steps: int, warmup: int, batch: int, device
) -> float:
    """Tokens/s over ``steps`` training steps after ``warmup`` untimed ones."""
    g = torch.Generator().manual_seed(0)
    data = TokenData(
        train=torch.randint(0, config.vocab_size, (200_000,), generator=g),
        val=torch.randint(0, config.vocab_size, (20_000,), generator=g),
        eot_id=None,
    )
    torch.manual_seed(0)
    model = GPT(config).to(device)
    total = warmup + steps
    cfg = TrainConfig(
        steps=total,
        batch_size=batch,
        warmup_steps=1,
        eval_every=10**6,
        eval_windows=1,
        sample_every=0,
        checkpoint_every=10**6,
        precision=precision,
    )
    clock = StepClock(device)
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(model, data, cfg, out, callbacks=[clock])
        trainer.run()
    elapsed = clock.times[-1] - clock.times[warmup - 1]
    return steps * batch * config.context_length / elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_train", description=__doc__, formatter_class=HelpFormatter
    )
    parser.add_argument(
        "--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"],
        help="precisions to train in",
    )  # fmt: skip
    parser.add_argument("--steps", type=int, default=30, help="timed steps per precision")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--batch-size", type=int, default=16, help="windows per step")
    parser.add_argument(
        "--shape", choices=sorted(SHAPES), default="builtin", help="gpt2 = GPT-2 124M (for GPUs)"
    )
    args = parser.parse_args(argv)
    device = default_device()
    config = dataclasses.replace(SHAPES[args.shape], dropout=0.0)
    flops_per_token = config.training_flops_per_token()
    print(
        f"device: {describe_device(device)}; torch {torch.__version__}; {args.shape} shape: {config.n_layer} layers, width {config.n_embd}, {config.n_head} heads, context {config.context_length}, vocab {config.vocab_size}, {config.num_parameters():,} parameters; batch {args.batch_size}; {flops_per_token / 1e6:.1f} MFLOP/token"
    )
    rows, fp32_rate = [], None
    for precision in args.precisions:
        dtype = torch.float32 if precision == "fp32" else torch.bfloat16
        peak = gemm_flops(device, dtype)
        fp32_peak = peak if precision == "fp32" else gemm_flops(device, torch.float32)
        rate = train_rate(config, precision, args.steps, args.warmup, args.batch_size, device)
        fp32_rate = rate if precision == "fp32" else fp32_rate
        achieved = rate * flops_per_token
        speedup = f"{rate / fp32_rate:.2f}x" if fp32_rate else "-"
        rows.append(
            (
                precision,
                rate,
                achieved / 1e9,
                fp32_peak / 1e9,
                achieved / fp32_peak,
                peak / 1e9,
                speedup,
            )
        )
    print()
    print(
        "| precision | tokens/s | achieved GFLOP/s | fp32 GEMM GFLOP/s | % of fp32 GEMM | GEMM GFLOP/s in this precision | vs fp32 tokens/s |"
    )
    print("|---|---|---|---|---|---|---|")
    for p, rate, ach, f32, frac, peak, speedup in rows:
        print(
            f"| {p} | {rate:,.0f} | {ach:.1f} | {f32:.1f} | {frac:.0%} | {peak:.1f} | {speedup} |"
        )


if __name__ == "__main__":
    main()
