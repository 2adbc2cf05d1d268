"""The offline corpora: the reference manual and docstrings of the stdlib and PyTorch."""

from __future__ import annotations

import pytest

from core.corpus import (
    STDLIB_DOCS_CORPUS_NAME,
    CorpusError,
    builtin_documents,
    decode_text,
    dependency_docstring_documents,
    dependency_versions,
    docstring_documents,
    named_corpora,
    python_source_files,
    stdlib_docstring_documents,
    stdlib_source_files,
    torch_docstring_documents,
)
from core.training.cli import load_documents


@pytest.fixture(scope="module")
def stdlib_docs() -> list[str]:
    return stdlib_docstring_documents()


def test_stdlib_docstrings_are_a_large_deterministic_corpus(stdlib_docs):
    assert len(stdlib_docs) > 200  # one document per documented module
    assert sum(map(len, stdlib_docs)) > 800_000
    assert stdlib_docstring_documents() == stdlib_docs  # same interpreter, same text


def test_stdlib_docstrings_hold_real_documentation_and_no_tests(stdlib_docs):
    text = "\n".join(stdlib_docs)
    assert "JSON (JavaScript Object Notation)" in text  # json's module docstring
    files = stdlib_source_files()
    names = {path.name for path in files}
    assert "__init__.py" in names and "decoder.py" in names  # json/, packages included
    # Test suites and bundled packages are skipped: they would teach test boilerplate.
    for path in files:
        assert not {"test", "tests", "idle_test", "site-packages"} & set(path.parts[-4:-1])


def test_short_docstrings_are_left_out(stdlib_docs):
    long_only = stdlib_docstring_documents(min_chars=2_000)
    assert 0 < len(long_only) < len(stdlib_docs)
    assert all(len(doc) >= 2_000 for doc in long_only)
    assert sum(map(len, long_only)) < sum(map(len, stdlib_docs))


def test_docstrings_are_read_without_importing_and_tests_are_skipped(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "tests").mkdir(parents=True)
    long = "Explain the thing. " * 20
    (pkg / "a.py").write_text(
        f'"""{long}"""\nimport nonexistent_module\n\n'
        f'def f():\n    """{long}"""\n\n'
        'def g():\n    """too short"""\n\n'
        f'class C:\n    """{long}more"""\n'
    )
    (pkg / "broken.py").write_text("def (:\n")  # not Python: skipped, not fatal
    (pkg / "tests" / "test_a.py").write_text(f'"""{long}"""\n')
    files = python_source_files(pkg)
    assert [f.name for f in files] == ["a.py", "broken.py"]
    (doc,) = docstring_documents(files)
    assert doc.count("Explain the thing.") == 40  # module + class; f repeats the module's
    assert "too short" not in doc and doc.endswith("more")


def test_torch_docstrings_come_from_the_pinned_package():
    docs = torch_docstring_documents()
    assert len(docs) > 500 and sum(map(len, docs)) > 2_000_000
    assert any("Applies an affine linear transformation" in doc for doc in docs)  # nn.Linear


def test_dependency_docstrings_cover_each_package():
    docs = dependency_docstring_documents()
    assert sum(map(len, docs)) > 3_000_000
    text = "\n".join(docs)
    assert "ndarray" in text  # NumPy
    assert "DataFrame" in text  # pandas
    assert "Session" in text  # SQLAlchemy
    assert "st.button" in text  # Streamlit
    assert set(dependency_versions()) == {"numpy", "pandas", "sqlalchemy", "streamlit"}


def test_named_corpora_are_what_the_command_line_reads(stdlib_docs):
    names = named_corpora()
    assert names["stdlib-docs"][0] == STDLIB_DOCS_CORPUS_NAME
    assert load_documents(["builtin", "stdlib-docs"]) == builtin_documents() + stdlib_docs


def test_uploaded_bytes_must_be_utf8_text():
    assert decode_text("héllo".encode()) == "héllo"
    with pytest.raises(CorpusError, match="not valid UTF-8"):
        decode_text(b"\xff\xfe\x00")
    with pytest.raises(CorpusError, match="NUL"):
        decode_text(b"a\x00b")
