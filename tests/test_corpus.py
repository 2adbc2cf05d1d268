"""The offline corpora: the reference manual and the docstrings of the stdlib, PyTorch and
the app's other dependencies.

The readers are tested on small synthetic packages and on one slice of each real source
(fast); reading a whole corpus end to end is one ``slow`` test per corpus (PyTorch's and
the dependencies' docstrings take minutes on a 2-core machine).
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest

import core.corpus as corpus
from core.corpus import (
    BUILTIN_CORPUS_NAME,
    DEPENDENCY_DOCS_CORPUS_NAME,
    STDLIB_DOCS_CORPUS_NAME,
    TORCH_DOCS_CORPUS_NAME,
    CorpusError,
    builtin_corpus,
    builtin_documents,
    decode_text,
    dependency_docstring_documents,
    dependency_versions,
    docstring_documents,
    named_corpora,
    python_source_files,
    read_text_file,
    stdlib_docstring_documents,
    stdlib_source_files,
    torch_docstring_documents,
)
from core.training.cli import load_documents

LONG = "Explain the thing. " * 20  # 380 characters: above the default min_chars of 200


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# ---------------------------------------------------------------- readers, synthetic input
def test_source_listing_skips_tests_caches_and_bundled_packages(tmp_path):
    for rel in ("a.py", "sub/b.py", "sub/notes.txt", "test/t.py", "tests/t.py",
                "sub/idle_test/t.py", "site-packages/x/y.py", "__pycache__/a.py",
                "_vendor/v.py", "deep/third_party/z.py"):  # fmt: skip
        _write(tmp_path / rel, '"""doc"""\n')
    assert python_source_files(tmp_path) == [tmp_path / "a.py", tmp_path / "sub" / "b.py"]


def test_docstrings_are_read_without_importing_and_tests_are_skipped(tmp_path):
    pkg = tmp_path / "pkg"
    _write(
        pkg / "a.py",
        f'"""{LONG}"""\nimport nonexistent_module\n\n'
        f'def f():\n    """{LONG}"""\n\n'
        'def g():\n    """too short"""\n\n'
        f'class C:\n    """{LONG}more"""\n',
    )
    _write(pkg / "broken.py", "def (:\n")  # not Python: skipped, not fatal
    _write(pkg / "tests" / "test_a.py", f'"""{LONG}"""\n')
    files = python_source_files(pkg)
    assert [f.name for f in files] == ["a.py", "broken.py"]
    (doc,) = docstring_documents(files)
    assert doc.count("Explain the thing.") == 40  # module + class; f repeats the module's
    assert "too short" not in doc and doc.endswith("more")
    assert doc == f"{LONG.strip()}\n\n{LONG}more"


def test_short_docstrings_are_left_out(tmp_path):
    _write(tmp_path / "a.py", f'"""{"x" * 250}"""\n\ndef f():\n    """{"y" * 2_000}"""\n')
    _write(tmp_path / "b.py", f'"""{"z" * 250}"""\n')
    files = python_source_files(tmp_path)
    assert docstring_documents(files) == ["x" * 250 + "\n\n" + "y" * 2_000, "z" * 250]
    assert docstring_documents(files, min_chars=2_000) == ["y" * 2_000]
    assert docstring_documents(files, min_chars=2_001) == []


# ---------------------------------------------------------------- one slice of each real source
def test_builtin_corpus_is_the_reference_manual():
    docs = builtin_documents()
    assert len(docs) > 50 and all(doc == doc.strip() and doc for doc in docs)
    assert builtin_corpus() == "\n\n".join(docs)
    assert any(doc.startswith('The "assert" statement') for doc in docs)


def test_stdlib_listing_and_one_package_of_docstrings():
    stdlib = Path(sysconfig.get_path("stdlib"))
    files = stdlib_source_files()
    assert {stdlib / "json" / "__init__.py", stdlib / "json" / "decoder.py"} <= set(files)
    # Test suites and bundled packages are skipped: they would teach test boilerplate.
    for path in files:
        assert not {"test", "tests", "idle_test", "site-packages"} & set(path.parts[-4:-1])
    json_docs = docstring_documents(python_source_files(stdlib / "json"))
    assert any("JSON (JavaScript Object Notation)" in doc for doc in json_docs)


def test_torch_docstrings_of_one_package():
    import torch

    modules = Path(torch.__file__).parent / "nn" / "modules"
    docs = docstring_documents(python_source_files(modules))
    assert any("Applies an affine linear transformation" in doc for doc in docs)  # nn.Linear


def test_docstring_reading_leaves_the_cycle_collector_as_it_found_it(tmp_path):
    import gc

    source = tmp_path / "m.py"
    source.write_text('"""A module docstring long enough."""\n')
    assert gc.isenabled()
    assert docstring_documents([source], min_chars=1) == ["A module docstring long enough."]
    assert gc.isenabled()
    gc.disable()
    try:
        assert docstring_documents([source, tmp_path / "missing.py"], min_chars=1) == [
            "A module docstring long enough."
        ]
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_dependency_docstrings_read_each_package(monkeypatch):
    roots: list[str] = []

    def first_file(root: Path) -> list[Path]:  # the listing, cut to one file per package
        roots.append(root.name)
        return [next(p for p in sorted(root.glob("*.py")) if p.name == "__init__.py")]

    monkeypatch.setattr(corpus, "python_source_files", first_file)
    docs = dependency_docstring_documents(min_chars=1)
    assert roots == ["numpy", "pandas", "sqlalchemy", "streamlit"]
    assert any(doc.startswith("NumPy\n=====") for doc in docs)  # numpy/__init__.py
    assert set(dependency_versions()) == {"numpy", "pandas", "sqlalchemy", "streamlit"}


def test_named_corpora_are_what_the_command_line_reads(monkeypatch, tmp_path):
    assert {k: v[0] for k, v in named_corpora().items()} == {
        "builtin": BUILTIN_CORPUS_NAME,
        "stdlib-docs": STDLIB_DOCS_CORPUS_NAME,
        "torch-docs": TORCH_DOCS_CORPUS_NAME,
        "deps-docs": DEPENDENCY_DOCS_CORPUS_NAME,
    }
    monkeypatch.setattr(corpus, "stdlib_docstring_documents", lambda: ["stdlib one", "two"])
    own = tmp_path / "mine.txt"
    own.write_text("my own text")
    assert load_documents(["builtin", "stdlib-docs", str(own)]) == [
        *builtin_documents(),
        "stdlib one",
        "two",
        "my own text",
    ]


def test_uploaded_bytes_must_be_utf8_text():
    assert decode_text("héllo".encode()) == "héllo"
    with pytest.raises(CorpusError, match="not valid UTF-8"):
        decode_text(b"\xff\xfe\x00")
    with pytest.raises(CorpusError, match="NUL"):
        decode_text(b"a\x00b")


def test_text_files_are_checked_before_reading(tmp_path):
    path = tmp_path / "c.txt"
    path.write_bytes("abc é".encode())
    assert read_text_file(path) == "abc é"
    with pytest.raises(CorpusError, match="is 6 bytes; the limit is 5"):
        read_text_file(path, max_bytes=5)
    with pytest.raises(CorpusError, match="does not exist"):
        read_text_file(tmp_path / "missing.txt")


# ---------------------------------------------------------------- whole corpora, end to end
@pytest.mark.slow
def test_stdlib_docstrings_are_a_large_deterministic_corpus(monkeypatch):
    docs = stdlib_docstring_documents()  # the one full read (~600 files)
    assert len(docs) > 200  # one document per documented module
    assert sum(map(len, docs)) > 800_000
    # Determinism and the filter on the first 80 files: files are read in order, so their
    # documents are the full read's first ones, and a second read gives the same text.
    files = corpus.stdlib_source_files()[:80]
    some = docstring_documents(files)
    assert len(some) > 20 and docs[: len(some)] == some
    assert docstring_documents(files) == some  # same interpreter, same text
    monkeypatch.setattr(corpus, "stdlib_source_files", lambda: files)
    long_only = stdlib_docstring_documents(min_chars=2_000)
    assert 0 < len(long_only) < len(some)
    assert all(len(doc) >= 2_000 for doc in long_only)


@pytest.mark.slow
def test_torch_docstrings_come_from_the_pinned_package():
    docs = torch_docstring_documents()
    assert len(docs) > 500 and sum(map(len, docs)) > 2_000_000
    assert any("Applies an affine linear transformation" in doc for doc in docs)  # nn.Linear


@pytest.mark.slow
def test_dependency_docstrings_cover_each_package():
    docs = dependency_docstring_documents()
    assert sum(map(len, docs)) > 3_000_000
    text = "\n".join(docs)
    assert "ndarray" in text  # NumPy
    assert "DataFrame" in text  # pandas
    assert "Session" in text  # SQLAlchemy
    assert "st.button" in text  # Streamlit
