"""The native kernels: built once and cached, optional, their matvec equal to PyTorch's,
their C interface named in one place (``abi.py``) that matches ``decode.c``.

The whole-token step is tested against the plain model in ``test_gpt_decoder.py``; the
shared builder (cache key, atomic build, fallback folder, one build under a lock) in
``test_kernel_build.py``.
"""

from __future__ import annotations

import re

import pytest
import torch

from core.model.kernels import abi, native_kernels, native_status
from core.model.kernels import build as build_module
from core.model.kernels import native as native_module
from core.model.kernels.build import NativeLibrary
from tests.conftest import missing_service


@pytest.fixture
def kernels():
    found = native_kernels()
    if found is None:
        missing_service(f"native kernels unavailable: {native_status()}")
    return found


@pytest.fixture
def fresh_build(monkeypatch):
    """Forget what this process loaded, so a test sees a build (or a failure) of its own."""

    def forget() -> None:
        monkeypatch.setattr(native_module, "LIBRARY", fresh_library())

    forget()
    return forget


def fresh_library() -> NativeLibrary:
    return NativeLibrary(native_module.SOURCE, "decode", native_module.NativeKernels)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize(("rows", "cols"), [(7, 5), (1000, 333), (4097, 96), (256, 1024)])
def test_matvec_equals_torch_for_float32_and_bfloat16(kernels, threads, rows, cols):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        g = torch.Generator().manual_seed(rows * cols)
        w = torch.randn(rows, cols, generator=g)
        x = torch.randn(cols, generator=g)
        b = torch.randn(rows, generator=g)
        torch.testing.assert_close(kernels.matvec(w, x), w @ x, atol=1e-4, rtol=1e-5)
        torch.testing.assert_close(kernels.matvec(w, x, b), w @ x + b, atol=1e-4, rtol=1e-5)
        # bf16 weights: the sum stays float32; where the kernel multiplies bf16 pairs
        # (AVX512-BF16, widths that are multiples of 64) x is rounded to bf16 first.
        w16 = w.to(torch.bfloat16)
        x16 = x.bfloat16().float() if kernels.bf16_pairs and cols % 64 == 0 else x
        torch.testing.assert_close(kernels.matvec(w16, x), w16.float() @ x16, atol=1e-4, rtol=1e-5)
    finally:
        torch.set_num_threads(before)


def test_matvec_refuses_what_it_cannot_compute(kernels):
    with pytest.raises(ValueError, match="contiguous"):
        kernels.matvec(torch.randn(8, 4).t(), torch.randn(8))
    with pytest.raises(ValueError, match="columns"):
        kernels.matvec(torch.randn(4, 8), torch.randn(7))
    with pytest.raises(ValueError, match="rows"):
        kernels.matvec(torch.randn(4, 8), torch.randn(8), torch.randn(5))
    with pytest.raises(ValueError, match="float32 and bfloat16"):
        kernels.matvec(torch.randn(4, 8).double(), torch.randn(8))


def test_build_is_cached_on_disk_and_reused(fresh_build, tmp_path):
    first = native_kernels(cache_dir=tmp_path)
    if first is None:
        missing_service(f"native kernels unavailable: {native_status(cache_dir=tmp_path)}")
    assert first.path.parent == tmp_path and first.path.exists()
    assert list(tmp_path.iterdir()) == [first.path]  # no half-written temporary left behind
    fresh_build()
    again = native_kernels(cache_dir=tmp_path)
    assert again.path == first.path and again.build_seconds == 0.0
    assert "loaded" in native_status(cache_dir=tmp_path)


def test_without_a_compiler_there_are_no_kernels_and_a_reason(fresh_build, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setattr(build_module, "default_cache_dir", lambda: tmp_path)
    assert native_kernels() is None
    assert "no C compiler" in native_status()


def test_a_failing_compiler_is_reported_not_raised(fresh_build, tmp_path, monkeypatch):
    bad = tmp_path / "bin" / "cc"
    bad.parent.mkdir()
    bad.write_text("#!/bin/sh\necho 'cc: error: unsupported flag' >&2\nexit 1\n")
    bad.chmod(0o755)
    monkeypatch.setenv("CC", str(bad))
    assert native_kernels(cache_dir=tmp_path / "cache") is None
    assert "unsupported flag" in native_status(cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_kernels_can_be_switched_off(fresh_build, tmp_path, monkeypatch):
    monkeypatch.setenv("GLASSBOX_NATIVE_KERNELS", "0")
    assert native_kernels(cache_dir=tmp_path) is None
    assert "disabled" in native_status(cache_dir=tmp_path)


DECODE_C = (native_module.SOURCE).read_text()


def test_the_abi_names_decode_c_s_limits_and_struct_fields():
    defines = dict(re.findall(r"^#define (MAX_\w+) (\d+)$", DECODE_C, re.MULTILINE))
    assert {k: int(v) for k, v in defines.items()} == {
        "MAX_POSITIONS": abi.MAX_POSITIONS,
        "MAX_WIDTH": abi.MAX_WIDTH,
    }

    def fields(struct: str) -> tuple[str, ...]:
        body = re.search(r"typedef struct \{([^{}]*)\} " + struct + ";", DECODE_C)
        body = re.sub(r"/\*.*?\*/", "", body.group(1), flags=re.DOTALL)
        names = []
        for declaration in body.split(";"):
            # "const float *ln1_g, *ln1_b" -> ln1_g, ln1_b: each name after a type or comma
            names += re.findall(r"\*?\s*(\w+)\s*(?=,|$)", declaration.strip())
        return tuple(names)

    assert fields("glassbox_layer") == abi.LAYER_FIELDS
    assert fields("glassbox_ends") == abi.ENDS_FIELDS


def test_the_abi_declares_every_exported_function_with_its_number_of_arguments():
    exported = {
        name: params
        for name, params in re.findall(
            r"^(?:int|void) (glassbox_\w+)\(([^)]*)\)", DECODE_C, re.MULTILINE
        )
    }
    # the two matvec functions come from a macro; the rest are written out
    exported |= {name: "w, x, b, y, rows, cols" for name in re.findall(
        r"^GLASSBOX_MATVEC\((glassbox_\w+),", DECODE_C, re.MULTILINE
    )}  # fmt: skip
    assert set(exported) == set(abi.SIGNATURES)
    for name, params in exported.items():
        count = 0 if params.strip() in ("", "void") else params.count(",") + 1
        assert count == len(abi.SIGNATURES[name][0]), name
    # the scratch buffers come in TOKEN_SCRATCH's order, then the logits
    token = re.sub(r"\s+", " ", exported["glassbox_decode_token"])
    tail = [p.split()[-1] for p in token.split(",")[-5:]]
    assert tail == [*abi.TOKEN_SCRATCH, "logits"]


def test_the_loaded_library_has_the_declared_signatures(kernels):
    for name, (argtypes, restype) in abi.SIGNATURES.items():
        function = getattr(kernels._lib, name)
        assert function.argtypes == argtypes and function.restype == restype
