"""SmolLM2 benchmark: batch-1 decode of the plain Llama vs the bandwidth ceiling and transformers.

Decoding one token reads every weight once (134.5M parameters, the tied embedding table read
once as the output head): 538 MB in fp32, 269 MB in bf16. The ceiling is the bandwidth of
one large matrix-vector product measured in this same run (``bench_decode.MatvecProbe``,
just before and after each decode run) over those bytes. Also measured: the load time from
the GGUF file (first: dequantize and write the safetensors cache; second: read the cache),
the process's resident memory with the model loaded, the Sampling page's step (the stepwise
sampler with every processor, median over the steps), and Hugging Face transformers'
``generate`` on the same prompt and thread count, loading the same GGUF.

    python -m bench.bench_llama                    # needs python -m core.models get smollm2
    python -m bench.bench_llama --new-tokens 32 --no-transformers
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import torch

from bench.bench_decode import MatvecProbe, decode_rate
from bench.common import machine
from core.helpformat import HelpFormatter
from core.model.llama_gguf import read_llama_gguf
from core.models.catalog import SMOLLM2
from core.sampling import Sampler, SamplingConfig
from core.store import glassbox_home
from core.tokenization.gguf_tokenizer import gguf_encoding, render_chat

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def load(path: Path, cache: Path):
    """What the registry does: the model, its tokenizer and template; and the seconds taken."""
    t0 = time.perf_counter()
    model, meta = read_llama_gguf(path, cache_dir=cache)
    encoding = gguf_encoding(meta, "smollm2")
    return model, encoding, meta["tokenizer.chat_template"], time.perf_counter() - t0


@torch.inference_mode()
def transformers_rate(path: Path, prompt: torch.Tensor, new_tokens: int, dtype) -> float:
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=dtype)
    model.eval()
    kwargs = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)
    model.generate(prompt, **kwargs | {"max_new_tokens": 4, "min_new_tokens": 4})  # warm up
    t0 = time.perf_counter()
    model.generate(prompt, **kwargs, pad_token_id=2)
    return new_tokens / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_llama", description=__doc__, formatter_class=HelpFormatter
    )
    parser.add_argument(
        "--file",
        type=Path,
        default=SMOLLM2.path(glassbox_home() / "models"),
        help="the SmolLM2 GGUF file",
    )
    parser.add_argument("--new-tokens", type=int, default=64, help="greedy tokens per decode run")
    parser.add_argument("--repeats", type=int, default=3, help="decode runs per precision")
    parser.add_argument(
        "--sampler-steps", type=int, default=32, help="stepwise-sampler steps timed"
    )
    parser.add_argument(
        "--no-transformers", action="store_true", help="skip transformers' generate"
    )
    args = parser.parse_args(argv)
    if not args.file.is_file():
        raise SystemExit(f"{args.file} is absent: run `python -m core.models get smollm2` first")

    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        rss0 = rss_mb()
        base, encoding, template, first_s = load(args.file, Path(tmp))
        rss1 = rss_mb()
        del base
        base, encoding, template, second_s = load(args.file, Path(tmp))
    print(f"load: first {first_s:.2f} s (dequantize + write cache), second {second_s:.2f} s "
          f"(cache); RSS {rss1:.0f} MB with the model ({rss1 - rss0:.0f} MB for it)")  # fmt: skip
    text = render_chat(template, QUESTION)
    prompt = torch.tensor([encoding.encode(text, allowed_special="all")])  # (1, 37)

    steps = Sampler(base, encoding, text, SamplingConfig(temperature=0.8, top_p=0.95, seed=0))
    steps.run(args.sampler_steps)
    latency = statistics.median(r.latency_ms for r in steps.records[1:])
    print(f"sampling-page step (sampler, all processors, KV cache): median {latency:.1f} ms")

    probe = MatvecProbe(torch.device("cpu"), list(DTYPES.values()))
    rows = []
    reference = base(prompt)
    for name, dtype in DTYPES.items():
        model = base if dtype == torch.float32 else copy.deepcopy(base).to(dtype)
        err = (model(prompt).float() - reference).abs().max().item()
        nbytes = sum(p.numel() * p.element_size() for p in model.parameters())
        runs = []
        for _ in range(args.repeats):
            before = probe.bandwidth()
            rate = decode_rate(model, prompt, args.new_tokens, "cache")
            runs.append((rate, (before + probe.bandwidth()) / 2))
        rate, bandwidth = max(runs, key=lambda r: r[0] / r[1])
        ceiling = bandwidth / nbytes
        hf = float("nan")
        if not args.no_transformers:
            hf = transformers_rate(args.file, prompt, args.new_tokens, dtype)
        rows.append((name, nbytes, err, rate, bandwidth, ceiling, hf))
    print(f"\nbatch 1, prompt {prompt.shape[1]} tokens + {args.new_tokens} new, greedy, KV cache")
    print("| weights | MB/token | max logit err | tok/s | GB/s now | ceiling tok/s | "
          "of ceiling | transformers tok/s | ratio |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, nbytes, err, rate, bw, ceiling, hf in rows:
        print(f"| {name} | {nbytes / 1e6:.0f} | {err:.1e} | {rate:.1f} | {bw / 1e9:.1f} | "
              f"{ceiling:.1f} | {rate / ceiling:.0%} | {hf:.1f} | {rate / hf:.2f}× |")  # fmt: skip


if __name__ == "__main__":
    main()
