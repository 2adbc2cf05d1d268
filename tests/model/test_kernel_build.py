"""The shared kernel builder: a cache key that follows the source, builds that leave
nothing half-written, the off switch, and one build per process under a lock.

A tiny C source stands in for the decoders' kernels (those are tested in
test_kernels.py and test_llama_decoder.py); every library is built under tmp_path.
"""

from __future__ import annotations

import ctypes
import shutil
import threading
from pathlib import Path

import pytest

from core.model.kernels import build
from core.model.kernels.build import (
    Built,
    NativeLibrary,
    build_or_load,
    library_name,
    source_files,
)
from tests.conftest import missing_service

ANSWER_C = "int glassbox_answer(void) { return 42; }\n"


@pytest.fixture
def compiler():
    found = build.find_compiler()
    if found is None:
        missing_service("no C compiler to build the test library")
    return found


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "answer.c"
    path.write_text(ANSWER_C)
    return path


def answer(built: Built) -> int:
    fn = built.lib.glassbox_answer
    fn.argtypes, fn.restype = [], ctypes.c_int
    return fn()


def test_the_library_name_changes_with_the_source_and_the_flags(source):
    name = library_name(source, "answer", "cc")
    assert name.startswith("answer-") and name.endswith(".so") and len(name) == 26
    assert library_name(source, "answer", "cc") == name  # the same inputs, the same key
    assert library_name(source, "answer", "cc", ("-O2",)) != name
    assert library_name(source, "answer", "gcc") != name
    source.write_text(ANSWER_C.replace("42", "43"))
    assert library_name(source, "answer", "cc") != name


def test_the_library_name_changes_with_a_header_the_source_includes(compiler, source, tmp_path):
    header = tmp_path / "answer.h"
    header.write_text("#define ANSWER 42\n")
    source.write_text('#include "answer.h"\nint glassbox_answer(void) { return ANSWER; }\n')
    assert source_files(source) == [source, header]
    name = library_name(source, "answer", compiler)
    built, _ = build_or_load(source, "answer", cache_dir=tmp_path / "cache")
    assert built is not None and answer(built) == 42 and built.path.name == name
    header.write_text("#define ANSWER 43\n")  # only the header changes: a new library
    assert library_name(source, "answer", compiler) != name
    built, _ = build_or_load(source, "answer", cache_dir=tmp_path / "cache")
    assert built is not None and answer(built) == 43
    header.unlink()  # the compiler reports a missing header; the name is still computed
    assert source_files(source) == [source]


def test_both_kernels_hash_the_dot_products_they_share():
    kernels = Path(build.__file__).parent
    for source in ("decode.c", "llama_decode.c"):
        assert source_files(kernels / source) == [kernels / source, kernels / "dot.h"]


def test_a_build_is_loaded_and_then_reused_from_the_cache(compiler, source, tmp_path):
    cache = tmp_path / "cache"
    built, status = build_or_load(source, "answer", cache_dir=cache)
    assert built is not None and answer(built) == 42
    assert status == f"loaded {built.path}" and built.compiler == compiler
    assert list(cache.iterdir()) == [built.path]  # no temporary file left beside it
    assert built.path.name == library_name(source, "answer", compiler)
    again, _ = build_or_load(source, "answer", cache_dir=cache)
    assert again.path == built.path and again.build_seconds == 0.0
    source.write_text(ANSWER_C.replace("42", "43"))  # a changed source: a library of its own
    changed, _ = build_or_load(source, "answer", cache_dir=cache)
    assert changed.path != built.path and answer(changed) == 43
    assert sorted(cache.iterdir()) == sorted([built.path, changed.path])


def test_a_failed_build_leaves_nothing_and_says_why(compiler, tmp_path):
    broken = tmp_path / "broken.c"
    broken.write_text("int glassbox_answer(void) { return }\n")
    cache = tmp_path / "cache"
    built, status = build_or_load(broken, "broken", cache_dir=cache)
    assert built is None
    assert status.startswith(f"could not build {library_name(broken, 'broken', compiler)}: ")
    assert list(cache.iterdir()) == []


@pytest.mark.parametrize("value", ["0", "false", "OFF", " no "])
def test_the_switch_turns_every_library_off(source, tmp_path, monkeypatch, value):
    monkeypatch.setenv("GLASSBOX_NATIVE_KERNELS", value)
    assert build_or_load(source, "answer", cache_dir=tmp_path / "cache") == (
        None,
        "disabled by GLASSBOX_NATIVE_KERNELS",
    )
    library = NativeLibrary(source, "answer", answer)
    assert library.get(tmp_path / "cache") is None
    assert library.status(tmp_path / "cache") == "disabled by GLASSBOX_NATIVE_KERNELS"
    assert not (tmp_path / "cache").exists()


def test_without_a_compiler_there_is_no_library_and_a_reason(source, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("CC", raising=False)
    assert build_or_load(source, "answer", cache_dir=tmp_path / "cache") == (
        None,
        "no C compiler (cc, gcc or clang) on PATH",
    )


def test_a_library_is_built_once_per_process_by_concurrent_callers(
    compiler, source, tmp_path, monkeypatch
):
    log = tmp_path / "compiles.log"
    counting = tmp_path / "bin" / "counting-cc"
    counting.parent.mkdir()
    counting.write_text(f'#!/bin/sh\necho built >> "{log}"\nexec {shutil.which(compiler)} "$@"\n')
    counting.chmod(0o755)
    monkeypatch.setenv("CC", str(counting))
    wrapped = []

    def wrap(built: Built) -> tuple[int]:
        wrapped.append(built)
        return (answer(built),)

    library = NativeLibrary(source, "answer", wrap)
    cache = tmp_path / "cache"
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(library.get(cache))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [(42,)] * 4 and all(r is results[0] for r in results)  # one shared object
    assert log.read_text() == "built\n" and len(wrapped) == 1
    assert library.status(cache) == f"loaded {wrapped[0].path}"
    # another process (a new NativeLibrary) loads the cached file without compiling
    assert NativeLibrary(source, "answer", wrap).get(cache) == (42,)
    assert log.read_text() == "built\n" and wrapped[1].build_seconds == 0.0


def test_an_unusable_default_folder_falls_back_to_a_private_temp_folder(
    compiler, source, tmp_path, monkeypatch
):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setattr(build, "default_cache_dir", lambda: blocked / "kernels")
    monkeypatch.delenv("GLASSBOX_KERNEL_DIR", raising=False)
    monkeypatch.setattr(build.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    built, _ = build_or_load(source, "answer")
    assert built is not None and built.path.parent.name.startswith("glassbox-kernels-")
    assert oct(built.path.parent.stat().st_mode & 0o777) == "0o700"
    built.path.parent.chmod(0o777)  # a temp folder another user could write to is never used
    built, status = build_or_load(source, "answer")
    assert built is None and "not a private folder" in status
    assert status.startswith(f"could not build or load {library_name(source, 'answer', compiler)}")
