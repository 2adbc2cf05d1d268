"""Text corpora available offline on every machine.

The built-in corpus is CPython's own reference manual: ``pydoc_data.topics.topics`` maps
each help topic ("assert", "assignment", ...) to its text, about 465,000 characters in all
(PSF licence). A second offline corpus is the standard library's own docstrings, read from
the ``.py`` files that ship with the interpreter (about 1.5 million characters, also PSF).
Both come with Python, so the project trains its built-in tokenizer and model without
downloading or committing anyone's prose. Two more are read the same way from installed
packages: PyTorch's docstrings and those of the app's other runtime dependencies (NumPy,
pandas, SQLAlchemy, Streamlit). Users add their own ``.txt``.
"""

from __future__ import annotations

import ast
import gc
import sysconfig
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

BUILTIN_CORPUS_NAME = "python-reference-manual"
STDLIB_DOCS_CORPUS_NAME = "python-stdlib-docstrings"
TORCH_DOCS_CORPUS_NAME = "pytorch-docstrings"
DEPENDENCY_DOCS_CORPUS_NAME = "dependency-docstrings"

# Runtime dependencies whose docstrings make the "deps-docs" corpus, with their licences.
DEPENDENCY_DOC_PACKAGES: dict[str, str] = {
    "numpy": "BSD-3-Clause",
    "pandas": "BSD-3-Clause",
    "sqlalchemy": "MIT",
    "streamlit": "Apache-2.0",
}

# Standard-library folders that are tests, bundled third-party code or tool internals.
_SKIPPED_DIRS = frozenset(
    {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__",
     "_bundled", "turtledemo", "__phello__", "lib2to3", "pydoc_data", "testing",
     "_vendor", "third_party"}
)  # fmt: skip

# Documents are joined by a blank line; the GPT's end-of-text token is added by the
# training code, not here, so the corpus stays plain text that any tokenizer can read.
_DOC_SEPARATOR = "\n\n"
_DOC_NODES = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
# Where a def or class can stand: statements, and the handlers and cases that hold them.
_STATEMENT_NODES = (ast.stmt, ast.excepthandler, ast.match_case)


class CorpusError(ValueError):
    """A corpus that cannot be used, with a message a user can act on."""


def builtin_documents() -> list[str]:
    """The Python reference manual's topic pages, sorted by topic name, one string each."""
    from pydoc_data.topics import topics

    return [topics[name].strip() for name in sorted(topics)]


def builtin_corpus() -> str:
    """The Python reference manual's topic pages, sorted by topic name, as one string."""
    return _DOC_SEPARATOR.join(builtin_documents())


def python_source_files(root: Path) -> list[Path]:
    """The ``.py`` files under ``root``, sorted, without tests and bundled packages."""
    return [
        path
        for path in sorted(root.rglob("*.py"))
        if not _SKIPPED_DIRS.intersection(path.relative_to(root).parts[:-1])
    ]


def stdlib_source_files() -> list[Path]:
    """The standard library's ``.py`` files, sorted, without tests and bundled packages."""
    return python_source_files(Path(sysconfig.get_path("stdlib")))


def docstring_documents(files: Iterable[Path], min_chars: int = 200) -> list[str]:
    """The docstrings of ``files``, one document per file that has any.

    Each file is parsed with :mod:`ast` (never imported); its module's, classes' and
    functions' docstrings of at least ``min_chars`` characters are joined in source order.
    """
    documents = []
    with _cyclic_gc_paused():
        for path in files:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # invalid escapes in old modules
                    tree = ast.parse(path.read_bytes(), filename=str(path))
            except (SyntaxError, ValueError, OSError):
                continue
            docs: list[str] = []
            for node in _statements(tree):
                if isinstance(node, _DOC_NODES):
                    doc = (ast.get_docstring(node, clean=True) or "").strip()
                    if len(doc) >= min_chars and doc not in docs:
                        docs.append(doc)
            if docs:
                documents.append(_DOC_SEPARATOR.join(docs))
    return documents


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause the cycle collector while parsing, and restore its state after.

    Each ``ast.parse`` allocates thousands of nodes, which trigger collections that walk
    the whole heap; in a process that has torch and Streamlit loaded, that is 40 % of the
    time. Syntax trees hold no reference cycles (nodes do not point to their parents), so
    reference counting frees every tree as soon as its file is done.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _statements(tree: ast.AST) -> Iterable[ast.AST]:
    """The nodes of ``tree`` that can hold a docstring, in :func:`ast.walk`'s order.

    Breadth first like ``ast.walk``, but never into expressions (a def or class cannot be
    inside one): an eighth of the nodes, the same order for the ones that matter.
    """
    todo: deque[ast.AST] = deque([tree])
    while todo:
        node = todo.popleft()
        yield node
        todo.extend(c for c in ast.iter_child_nodes(node) if isinstance(c, _STATEMENT_NODES))


def stdlib_docstring_documents(min_chars: int = 200) -> list[str]:
    """Docstrings of the running interpreter's standard library, one document per module.

    About 1.3 million characters on Python 3.11 (PSF licence). The text depends on the
    Python version, like :func:`builtin_documents`.
    """
    return docstring_documents(stdlib_source_files(), min_chars)


def torch_docstring_documents(min_chars: int = 200) -> list[str]:
    """Docstrings of the installed PyTorch package, one document per module (BSD licence).

    About 4.8 million characters for the pinned ``torch==2.13.0``; the pin makes the text
    the same on every machine that installs the project.
    """
    import torch

    return docstring_documents(python_source_files(Path(torch.__file__).parent), min_chars)


def dependency_docstring_documents(min_chars: int = 200) -> list[str]:
    """Docstrings of NumPy, pandas, SQLAlchemy and Streamlit, one document per module.

    About 8 million characters (NumPy 2.4, pandas 3.1, SQLAlchemy 2.1, Streamlit 1.67);
    the text follows the installed versions, which :func:`dependency_versions` reports.
    """
    import importlib

    documents: list[str] = []
    for name in DEPENDENCY_DOC_PACKAGES:
        package = Path(importlib.import_module(name).__file__).parent
        documents += docstring_documents(python_source_files(package), min_chars)
    return documents


def dependency_versions() -> dict[str, str]:
    """Installed versions of the packages behind :func:`dependency_docstring_documents`."""
    from importlib.metadata import version

    return {name: version(name) for name in DEPENDENCY_DOC_PACKAGES}


def named_corpora() -> dict[str, tuple[str, Callable[[], list[str]]]]:
    """Offline corpora by command-line name: ``{name: (corpus id, documents function)}``."""
    return {
        "builtin": (BUILTIN_CORPUS_NAME, builtin_documents),
        "stdlib-docs": (STDLIB_DOCS_CORPUS_NAME, stdlib_docstring_documents),
        "torch-docs": (TORCH_DOCS_CORPUS_NAME, torch_docstring_documents),
        "deps-docs": (DEPENDENCY_DOCS_CORPUS_NAME, dependency_docstring_documents),
    }


def read_text_file(path: str | Path, *, max_bytes: int = 200_000_000) -> str:
    """Read a user's ``.txt`` corpus as UTF-8, refusing binary or oversized files clearly."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"corpus file {path} does not exist")
    size = path.stat().st_size
    if size > max_bytes:
        raise CorpusError(f"corpus file {path} is {size:,} bytes; the limit is {max_bytes:,}")
    return decode_text(path.read_bytes(), source=str(path))


def decode_text(data: bytes, *, source: str = "upload") -> str:
    """Decode uploaded bytes as UTF-8 text; invalid UTF-8 or NUL bytes raise CorpusError."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"{source} is not valid UTF-8 text (bad byte at offset {exc.start}); "
            "save it as UTF-8 and try again"
        ) from exc
    if "\x00" in text:
        raise CorpusError(f"{source} contains NUL bytes: it looks like a binary file, not text")
    return text
