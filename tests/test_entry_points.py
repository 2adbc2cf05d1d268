"""The command lines: they start light, set OpenMP's wait policy before torch loads, and
their ``--help`` shows a line and the default of every option, examples as lines."""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.helpformat import HelpFormatter

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean | env, capture_output=True,
        text=True, timeout=120, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def test_tokenization_help_does_not_import_torch():
    code = (
        "import runpy, sys\n"
        "sys.argv = ['python -m core.tokenization', '--help']\n"
        "try:\n    runpy.run_module('core.tokenization', run_name='__main__')\n"
        "except SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n"
    )
    out = _python(code).splitlines()
    assert out[0].startswith("usage: python -m core.tokenization")
    assert out[-1] == "[]"


@pytest.mark.parametrize("package", ["core", "bench"])
def test_packages_set_passive_openmp_unless_the_caller_chose(package: str):
    code = (
        f"import {package}, os, sys; print(os.environ['OMP_WAIT_POLICY'], 'torch' in sys.modules)"
    )
    assert _python(code) == "PASSIVE False"  # set before anything could load torch
    assert _python(code, OMP_WAIT_POLICY="ACTIVE") == "ACTIVE False"


# ---------------------------------------------------------------- --help of every command line
class _Parsed(Exception):
    """Raised instead of parsing: the test wants the parser a ``main()`` builds."""


CORE_PARSERS = {
    "core.tokenization.__main__": "_parser",
    "core.training.cli": "build_parser",
    "core.sampling.__main__": "_parser",
    "core.pool.cli": "make_parser",
    "core.models.__main__": "_parser",
}
BENCHES = [
    "bench_attention",
    "bench_builtin",
    "bench_decode",
    "bench_embeddings",
    "bench_pool",
    "bench_pool_live",
    "bench_sampling",
    "bench_store",
    "bench_tokenization",
    "bench_train",
    "bench_training_job",
    "bench_llama",
    "bench_load",
    "bench_store_reads",
    "validate_aegaeon",
]


def _bench_parser(name: str, monkeypatch) -> argparse.ArgumentParser:
    module = importlib.import_module(f"bench.{name}")
    built: list[argparse.ArgumentParser] = []

    def capture(self, *args, **kwargs):
        built.append(self)
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    monkeypatch.setattr(sys, "argv", [name])
    with pytest.raises(_Parsed):
        module.main()
    return built[-1]


def _all_parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _all_parsers(sub)


def _check(parser: argparse.ArgumentParser) -> None:
    for p in _all_parsers(parser):
        assert p.formatter_class is HelpFormatter, p.prog
        text = p.format_help()
        for action in p._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            assert action.help and action.help.strip(), f"{p.prog} {action.dest}: no help"
            shows = action.default not in (None, "") and action.default is not False
            if shows and action.option_strings and "(default" not in action.help:
                flat = "".join(text.split())  # argparse wraps long defaults anywhere
                wanted = "".join(f"(default: {action.default})".split())
                assert wanted in flat, f"{p.prog} {action.dest}"


@pytest.mark.parametrize(("module", "builder"), sorted(CORE_PARSERS.items()))
def test_core_command_lines_show_defaults_and_example_lines(module: str, builder: str):
    parser = getattr(importlib.import_module(module), builder)()
    _check(parser)
    # The module docstring's examples stay one command per line.
    examples = [ln for ln in (parser.description or "").splitlines() if "python -m" in ln]
    assert examples, module
    help_lines = parser.format_help().splitlines()
    for line in examples:
        if line.startswith("    python -m"):
            assert line in help_lines


@pytest.mark.parametrize("name", BENCHES)
def test_bench_command_lines_show_defaults_and_example_lines(name: str, monkeypatch):
    parser = _bench_parser(name, monkeypatch)
    assert parser.prog == f"python -m bench.{name}"
    _check(parser)
    doc_lines = (parser.description or "").splitlines()
    assert all(line in parser.format_help().splitlines() for line in doc_lines if line.strip())


def test_help_formatter_keeps_lines_and_names_informative_defaults():
    parser = argparse.ArgumentParser(
        prog="x",
        description="Two examples:\n\n    x --n 1\n    x --n 2",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--n", type=int, default=0, help="a count")
    parser.add_argument("--name", default=None, help="a name")
    parser.add_argument("--flag", action="store_true", help="a flag")
    parser.add_argument("--k", type=int, default=3, help="k (default: the first)")
    text = parser.format_help()
    assert "    x --n 1\n    x --n 2\n" in text
    assert "a count (default: 0)" in text
    parser.add_argument("text", nargs="?", default="", help="a text")
    text = parser.format_help()
    assert "a name\n" in text and "a flag\n" in text and "a text\n" in text
    assert "k (default: the first)\n" in text
