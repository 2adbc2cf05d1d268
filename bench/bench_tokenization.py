"""Tokenization benchmarks: BPE training (ours vs naive vs Rust), encoding MB/s, page render.

    python -m bench.bench_tokenization            # everything (~2 minutes on 2 cores)
    python -m bench.bench_tokenization --quick    # smaller naive budget, no 10 MB run
    python -m bench.bench_tokenization --browser  # also the page in headless Chromium

1. BPE training on the built-in corpus (465,047 chars) to vocab 4,096: our incremental
   trainer, Hugging Face ``tokenizers`` (Rust; optional dev dependency) and the naive
   minbpe-style trainer of tests/tokenization/bpe_reference.py. The naive one runs on
   the full corpus for a time budget only; its total is extrapolated from that prefix,
   weighting each later merge by the corpus length in tokens at that merge (one naive
   merge is one pass over the corpus, and our trainer records those lengths exactly; its
   merges are identical). A naive run to completion on 100 KB → 512 is timed as well.
2. A 10 MB corpus (CPython's standard-library sources) to vocab 16,384 with progress.
3. Encoding 1 MB of text with each encoding: MB/s (UTF-8 bytes), best of 3.
4. The Tokenization page's script with 100 KB of text under AppTest (no browser), and
   with ``--browser`` the page in headless Chromium: upload 100 KB / 1 MB, seconds until
   the coloured tokens show.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.common import median, print_table, timed
from core.corpus import builtin_corpus
from core.helpformat import HelpFormatter
from core.tokenization import get_encoding, pattern_of, train_bpe

ROOT = Path(__file__).resolve().parents[1]


def _naive():
    path = ROOT / "tests" / "tokenization" / "bpe_reference.py"
    spec = importlib.util.spec_from_file_location("bpe_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.naive_train


def hf_train(text: str, vocab_size: int) -> float | None:
    """Seconds for HF tokenizers' BPE trainer (GPT-2-style byte level), None if absent."""
    try:
        from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    except ImportError:
        return None
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    start = time.perf_counter()
    tok.train_from_iterator([text], trainer=trainer)
    return time.perf_counter() - start


def naive_extrapolated(text: str, budget_s: float) -> tuple[int, float, float]:
    """(merges done within the budget, their seconds, extrapolated seconds to 4,096)."""
    naive = _naive()
    pat = pattern_of("cl100k_base")
    reference = train_bpe(text, 4096, "gpt4")
    tokens = reference.corpus_tokens  # corpus length before merge k, k = 0..n
    n = 1
    elapsed = 0.0
    while True:
        start = time.perf_counter()
        naive(text, n, pat, ("<|endoftext|>",))
        elapsed = time.perf_counter() - start
        if elapsed > budget_s / 3 or n >= len(reference.merges):
            break
        n *= 2
    per_token = elapsed / sum(tokens[:n])
    return n, elapsed, per_token * sum(tokens[: len(reference.merges)])


def stdlib_text(limit: int) -> str:
    root = Path(sysconfig.get_paths()["stdlib"])
    parts, size = [], 0
    for path in sorted(root.rglob("*.py")):
        if "site-packages" in path.parts:
            continue
        try:
            parts.append(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, OSError):
            continue
        size += len(parts[-1])
        if size >= limit:
            break
    return "".join(parts)[:limit]


def training_table(quick: bool) -> None:
    corpus = builtin_corpus()
    rows: list[list[object]] = []
    for pattern in ("gpt4", "gpt2"):
        secs = timed(lambda p=pattern: train_bpe(corpus, 4096, p), repeat=3)
        rows.append([f"incremental (ours), {pattern} regex", "465K chars → 4,096", median(secs)])
    hf = [hf_train(corpus, 4096) for _ in range(3)]
    if hf[0] is not None:
        rows.append(["HF tokenizers (Rust), GPT-2 byte level", "465K chars → 4,096", median(hf)])
    else:
        rows.append(["HF tokenizers (Rust)", "not installed (pip install tokenizers)", "-"])
    n, secs, estimate = naive_extrapolated(corpus, 8.0 if quick else 40.0)
    rows.append([f"naive (minbpe-style), first {n} merges", "465K chars", secs])
    rows.append(["naive (minbpe-style), extrapolated", "465K chars → 4,096", estimate])
    small = corpus[:100_000]
    naive = _naive()
    start = time.perf_counter()
    naive(small, 512 - 257, pattern_of("cl100k_base"), ("<|endoftext|>",))
    rows.append(
        ["naive (minbpe-style), run to the end", "100K chars → 512", time.perf_counter() - start]
    )
    rows.append(
        [
            "incremental (ours)",
            "100K chars → 512",
            median(timed(lambda: train_bpe(small, 512), repeat=3)),
        ]
    )
    print_table("BPE training (seconds)", ["trainer", "input → vocab", "seconds"], rows)


def big_table() -> None:
    text = stdlib_text(10_000_000)
    marks: list[str] = []

    def progress(done: int, total: int) -> None:
        if done in (0, total) or done % (total // 10) < max(1, total // 200):
            marks.append(f"{done}/{total}")

    start = time.perf_counter()
    tok = train_bpe(text, 16_384, "gpt4", progress=progress)
    ours = time.perf_counter() - start
    print(f"progress callbacks seen at: {' '.join(marks[:12])} ...")
    rows = [
        [
            "incremental (ours), gpt4 regex",
            f"{len(text) / 1e6:.0f} MB → 16,384",
            ours,
            f"{tok.chars_per_token()[-1]:.2f}",
        ]
    ]
    hf = hf_train(text, 16_384)
    if hf is not None:
        rows.append(["HF tokenizers (Rust)", f"{len(text) / 1e6:.0f} MB → 16,384", hf, "-"])
    print_table(
        "BPE training, 10 MB of Python sources",
        ["trainer", "input", "seconds", "chars/token"],
        rows,
    )


def encode_table() -> None:
    text = (builtin_corpus() * 3)[:1_000_000]
    mb = len(text.encode("utf-8")) / 1e6
    trained = train_bpe(builtin_corpus(), 4096, "gpt4").encoding()
    rows = []
    for name, enc in [(n, get_encoding(n)) for n in ("gpt2", "cl100k_base", "o200k_base")] + [
        ("trained bpe 4,096 (gpt4 regex)", trained)
    ]:
        secs = min(timed(lambda e=enc: e.encode_ordinary(text), repeat=3))
        rows.append([name, len(enc.encode_ordinary(text)), secs, mb / secs])
    print_table(
        f"Encoding {mb:.2f} MB (tiktoken, 1 thread)",
        ["encoding", "tokens", "seconds", "MB/s"],
        rows,
    )


def page_table() -> None:
    from streamlit.testing.v1 import AppTest

    page = str(ROOT / "pages" / "tokenization.py")
    text = (builtin_corpus() * 2)[:100_000]
    rows = []
    for view in ("Explore", "Compare"):

        def run(v: str = view) -> None:
            at = AppTest.from_file(page, default_timeout=120)
            at.query_params["view"] = v
            at.session_state["tok_text"] = text
            at.run()
            assert not at.exception, at.exception

        rows.append([view, "100,000 chars", median(timed(run, repeat=3))])
    print_table("Tokenization page script (AppTest, no browser)", ["view", "text", "seconds"], rows)


def browser_table(sizes: tuple[int, ...] = (100_000, 1_000_000)) -> None:
    """Upload a text file into the page in headless Chromium; seconds until tokens show."""
    from playwright.sync_api import sync_playwright

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    home = Path(tempfile.mkdtemp(prefix="bench-tok-"))
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(ROOT / "pages" / "tokenization.py"),
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GLASSBOX_HOME": str(home)}
    server = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    rows = []
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path="/usr/bin/chromium",
                headless=True,
                args=["--no-sandbox", "--disable-gpu"],
            )
            for size in sizes:
                path = home / f"text-{size}.txt"
                path.write_text((builtin_corpus() * 3)[:size], encoding="utf-8")
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"http://127.0.0.1:{port}/")
                page.locator(".gb-tokens").first.wait_for(timeout=120_000)
                start = time.perf_counter()
                upload = page.locator('[data-testid="stFileUploaderDropzoneInput"]').first
                upload.set_input_files(str(path))
                page.get_by_text("Showing the first 2,000 of").wait_for(timeout=120_000)
                rows.append(
                    [
                        f"{size:,} chars",
                        "upload → coloured tokens shown",
                        time.perf_counter() - start,
                    ]
                )
                page.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    print_table("Tokenization page in headless Chromium", ["text", "measured", "seconds"], rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_tokenization",
        description=__doc__,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="short naive budget, no 10 MB run")
    parser.add_argument("--browser", action="store_true", help="also time the page in Chromium")
    args = parser.parse_args(argv)
    training_table(args.quick)
    if not args.quick:
        big_table()
    encode_table()
    page_table()
    if args.browser:
        browser_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
