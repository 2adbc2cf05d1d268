"""SmolLM2 benchmark: batch-1 decode of the plain Llama and of its native decoder vs the
bandwidth ceiling and transformers.

Two ways to decode are timed side by side, their runs interleaved: the plain model's cached
``forward`` and :class:`core.model.llama_decoder.LlamaDecoder` (one call of the C kernel
``core/model/kernels/llama_decode.c`` per token; what the Sampling page uses on the CPU). Each is reported as
its best run's tokens/s and as CPU seconds per token (user + system, all threads: on a
shared machine the wall clock also counts the time other processes held the cores).

Decoding one token reads every weight once (134.5M parameters, the tied embedding table
read once as the output head): 538 MB in fp32, 269 MB in bf16. The ceiling is the
bandwidth of one large matrix-vector product measured in this same run
(``bench_decode.MatvecProbe``, just before and after each decode run; the fastest reading
of all) over those bytes. Also measured: the load time from the GGUF file (first:
dequantize and write the safetensors cache; second: read the cache), the process's
resident memory with the model loaded (and with the native decoder built: it reads the
model's own matrices, copying only the norms and rotary tables), the Sampling page's step (the stepwise sampler with every
processor, median over the steps, with and without the native decoder), and Hugging Face
transformers' ``generate`` on the same prompt and thread count, loading the same GGUF.

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

from bench.bench_decode import MatvecProbe
from bench.common import machine
from core.helpformat import HelpFormatter
from core.model.kernels.llama import PHASES, llama_kernel_status
from core.model.llama import Llama
from core.model.llama_decoder import LlamaDecoder, llama_decoder
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
def greedy_run(
    model: Llama, decoder: LlamaDecoder | None, prompt: torch.Tensor, new_tokens: int
) -> tuple[float, float, list[int]]:
    """Tokens/s, CPU seconds per token and the tokens of one greedy decode (prefill included):
    the plain cached forward per token, or ``decoder.step``."""
    t0, c0 = time.perf_counter(), time.process_time()
    cache = model.new_kv_cache(1)
    logits = model(prompt, kv_cache=cache, last_only=True)  # (1, 1, vocab)
    tokens = []
    for _ in range(new_tokens - 1):
        nxt = logits[:, -1].argmax(-1, keepdim=True)  # (1, 1)
        tokens.append(int(nxt))
        logits = model(nxt, kv_cache=cache) if decoder is None else decoder.step(nxt, cache)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return new_tokens / wall, cpu / new_tokens, tokens


@torch.inference_mode()
def phase_profile(model: Llama, decoder: LlamaDecoder, prompt: torch.Tensor, steps: int) -> str:
    """Where a native step's time goes: ms per token and GB/s of each phase (its matrices'
    bytes over its time, as the kernel's first thread sees it, barrier waits included)."""
    cache = model.new_kv_cache(1)
    profile = torch.zeros(len(PHASES), dtype=torch.float64)
    logits = model(prompt, kv_cache=cache, last_only=True)
    for _ in range(steps):
        logits = decoder.step(logits[:, -1].argmax(-1, keepdim=True), cache, profile=profile)
    blocks, size = model.blocks, model.head.weight.element_size()
    nbytes = [
        sum(b.attn.q.weight.numel() + 2 * b.attn.k.weight.numel() for b in blocks),
        sum(b.attn.o.weight.numel() for b in blocks),  # and the KV cache
        sum(3 * b.ffn.gate.weight.numel() for b in blocks),  # gate, up and down
        model.head.weight.numel(),
    ]
    parts = []
    for phase, seconds, count in zip(PHASES, profile.tolist(), nbytes, strict=True):
        rate = f" {count * size * steps / seconds / 1e9:.1f} GB/s" if count else ""
        parts.append(f"{phase} {seconds / steps * 1e3:.2f} ms{rate}")
    return "; ".join(parts)


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


def _agree(run: list[int], reference: list[int]) -> int:
    """How many of ``run``'s first tokens equal ``reference``'s."""
    pairs = zip(run, reference, strict=True)
    return next((i for i, (a, b) in enumerate(pairs) if a != b), len(reference))


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

    print(f"Llama kernel: {llama_kernel_status()}; {torch.get_num_threads()} threads")
    decoder = llama_decoder(base)
    print(f"RSS {rss_mb():.0f} MB with the fp32 native decoder built too")
    for label, native in (("native decoder", True), ("plain forward", False)):
        latencies = []
        for _ in range(args.repeats):  # the median of each run; the best run reported
            config = SamplingConfig(temperature=0.8, top_p=0.95, seed=0)
            steps = Sampler(base, encoding, text, config, native=native)
            steps.run(args.sampler_steps)
            latencies.append(statistics.median(r.latency_ms for r in steps.records[1:]))
        print(f"sampling-page step (sampler, all processors, KV cache), {label}: median "
              f"{min(latencies):.1f} ms (best of {args.repeats} runs; all: "
              + ", ".join(f"{v:.0f}" for v in latencies) + ")")  # fmt: skip

    probe = MatvecProbe(torch.device("cpu"), list(DTYPES.values()))
    rows = []
    reference = base(prompt)
    fp32_tokens: list[int] = []
    for name, dtype in DTYPES.items():
        model = base if dtype == torch.float32 else copy.deepcopy(base).to(dtype)
        decoder = llama_decoder(model)
        err = (model(prompt).float() - reference).abs().max().item()
        nbytes = sum(p.numel() * p.element_size() for p in model.parameters())
        runs: dict[str, list] = {"plain": [], "native": []}
        probes: list[float] = []  # bytes/s, before and after every run
        tokens = {}
        for _ in range(args.repeats):  # interleaved: both see the same machine
            for kind, dec in (("plain", None), ("native", decoder)):
                if kind == "native" and dec is None:
                    continue
                probes.append(probe.bandwidth())
                rate, cpu, tokens[kind] = greedy_run(model, dec, prompt, args.new_tokens)
                runs[kind].append((rate, cpu))
                probes.append(probe.bandwidth())
        hf = float("nan")
        if not args.no_transformers:
            hf = transformers_rate(args.file, prompt, args.new_tokens, dtype)
        if decoder is not None:
            print(f"{name} native step by phase (of {args.new_tokens} steps): "
                  + phase_profile(model, decoder, prompt, args.new_tokens))  # fmt: skip
        fp32_tokens = fp32_tokens if dtype != torch.float32 else tokens["plain"]
        same = "same tokens" if tokens.get("native") == tokens["plain"] else "other"
        if dtype != torch.float32 and "native" in tokens:
            # bf16: plain rounds every activation to bf16, native keeps them in fp32 between
            # products, so near ties can go either way; fp32's tokens are the reference
            n = len(fp32_tokens)
            same = (
                f"fp32's tokens: native the first {_agree(tokens['native'], fp32_tokens)}/{n}, "
                f"plain the first {_agree(tokens['plain'], fp32_tokens)}/{n}"
            )
        elif same == "other":
            same = "DIFFERENT from plain"
        # The ceiling: the fastest the probe ever streamed during these runs, so that a
        # probe slowed by other processes cannot flatter a decode run that was not.
        bandwidth = max(probes)
        for kind, kind_runs in runs.items():
            if not kind_runs:
                continue
            rate = max(r[0] for r in kind_runs)
            cpu = min(r[1] for r in kind_runs)
            label = f"{name} {kind}" + (f" ({same})" if kind == "native" else "")
            rows.append((label, nbytes, err, rate, cpu, bandwidth, bandwidth / nbytes, hf))
    print(f"\nbatch 1, prompt {prompt.shape[1]} tokens + {args.new_tokens} new, greedy, KV cache;"
          f" best of {args.repeats} interleaved runs")  # fmt: skip
    print("| weights, decoder | MB/token | max logit err | tok/s | CPU ms/token | GB/s probe | "
          "ceiling tok/s | of ceiling | transformers tok/s | ratio |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, nbytes, err, rate, cpu, bw, ceiling, hf in rows:
        print(f"| {label} | {nbytes / 1e6:.0f} | {err:.1e} | {rate:.1f} | {cpu * 1e3:.1f} | "
              f"{bw / 1e9:.1f} | {ceiling:.1f} | {rate / ceiling:.0%} | {hf:.1f} | "
              f"{rate / hf:.2f}× |")  # fmt: skip


if __name__ == "__main__":
    main()
