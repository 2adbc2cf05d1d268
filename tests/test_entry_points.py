"""The command lines start light and set OpenMP's wait policy before torch loads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
