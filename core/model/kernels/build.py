"""Compiling a C kernel once per machine and loading it once per process.

Both native kernels (``decode.c`` for the GPT, ``llama_decode.c`` for the Llama) are built
the same way, here: with the system's C compiler (``$CC``, ``cc``, ``gcc`` or ``clang``;
``-O3 -march=native -fopenmp``) into ``~/.cache/glassbox/kernels`` (or
``$GLASSBOX_KERNEL_DIR``; if the default folder cannot be written or loaded from, a folder
of mode 0700 under the system temp dir). The library's name carries a hash of the source
and the headers it includes from its folder (``#include "dot.h"``: the dot products both
kernels share), the flags, the compiler and the CPU's features, so a changed source or
header or another machine gets a library of its own. The compiler writes to a temporary file in the same folder that
is renamed into place only when it succeeded: a failed build leaves nothing, and a
half-written library is never loaded. ``GLASSBOX_NATIVE_KERNELS=0`` turns every kernel off.

:func:`build_or_load` does one attempt and says what happened; :class:`NativeLibrary` keeps
its result per process (built once, under a lock) and wraps the loaded :class:`ctypes.CDLL`
in the object its callers use (:mod:`.native`, :mod:`.llama`), which declares the
library's ctypes signatures. The loaded library is shared and only read.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

FLAGS = ("-O3", "-march=native", "-fopenmp", "-shared", "-fPIC")
DISABLE_ENV = "GLASSBOX_NATIVE_KERNELS"
DIR_ENV = "GLASSBOX_KERNEL_DIR"
NO_COMPILER = "no C compiler (cc, gcc or clang) on PATH"

T = TypeVar("T")


@dataclass(frozen=True)
class Built:
    """A loaded library and where it came from."""

    lib: ctypes.CDLL
    path: Path
    compiler: str
    build_seconds: float  # 0.0 when the library came from the cache


def disabled() -> bool:
    """True when ``GLASSBOX_NATIVE_KERNELS`` turns the native kernels off."""
    return os.environ.get(DISABLE_ENV, "1").strip().lower() in ("0", "false", "no", "off")


def default_cache_dir() -> Path:
    """``$GLASSBOX_KERNEL_DIR``, else ``$XDG_CACHE_HOME/glassbox/kernels`` (``~/.cache``)."""
    configured = os.environ.get(DIR_ENV)
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "glassbox" / "kernels"


def find_compiler() -> str | None:
    """``$CC``, ``cc``, ``gcc`` or ``clang``: the first on PATH, else ``None``."""
    for candidate in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if candidate and shutil.which(candidate):
            return candidate
    return None


def cpu_signature() -> str:
    """What the compiled code depends on: machine type and, on Linux, the CPU's flags."""
    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                flags = line
                break
    except OSError:
        pass
    return f"{platform.machine()}|{flags}"


_LOCAL_INCLUDE = re.compile(rb'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"', re.MULTILINE)


def source_files(source: Path) -> list[Path]:
    """``source`` and the headers it includes with quotes (``#include "x.h"``, found beside
    the file that includes them), theirs too, each once, in the order first met. A header
    that is not there is left to the compiler to report."""
    found: list[Path] = []
    pending = [source]
    while pending:
        path = pending.pop(0)
        if path in found or (found and not path.is_file()):
            continue
        found.append(path)
        pending += [
            path.parent / name.decode() for name in _LOCAL_INCLUDE.findall(path.read_bytes())
        ]
    return found


def library_name(source: Path, stem: str, compiler: str, flags: tuple[str, ...] = FLAGS) -> str:
    """``stem-<hash>.so``: the hash changes with the source and its local headers, the
    flags, the compiler and the CPU."""
    texts = [f"{path.name}\0".encode() + path.read_bytes() for path in source_files(source)]
    digest = hashlib.sha256(
        b"\0".join(texts + [" ".join(flags).encode(), compiler.encode(), cpu_signature().encode()])
    ).hexdigest()[:16]
    return f"{stem}-{digest}.so"


def compile_library(
    compiler: str, source: Path, target: Path, flags: tuple[str, ...] = FLAGS
) -> None:
    """Compile ``source`` to ``target`` atomically (a half-written library is never loaded).

    Raises RuntimeError with the compiler's last line when it fails, OSError when the
    folder cannot be written.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        result = subprocess.run(
            [compiler, *flags, str(source), "-o", tmp, "-lm"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(result.stderr.strip().splitlines()[-1:] or ["compiler failed"])
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def private_temp_dir() -> Path:
    """A folder under the system temp dir that only this user can write (mode 0700)."""
    folder = Path(tempfile.gettempdir()) / f"glassbox-kernels-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    info = folder.lstat()
    if folder.is_symlink() or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise OSError(f"{folder} is not a private folder of this user")  # never load from it
    return folder


def build_or_load(
    source: Path,
    stem: str,
    *,
    flags: tuple[str, ...] = FLAGS,
    cache_dir: Path | None = None,
) -> tuple[Built | None, str]:
    """Load ``source``'s compiled library from the cache, building it first if missing.

    ``cache_dir`` None: :func:`default_cache_dir`, falling back to :func:`private_temp_dir`
    when that folder is unusable and ``$GLASSBOX_KERNEL_DIR`` is unset. Returns the loaded
    library (or ``None``) and one line saying where it came from or why it is unavailable.
    Nothing is kept: :class:`NativeLibrary` keeps the result once per process.
    """
    if disabled():
        return None, f"disabled by {DISABLE_ENV}"
    compiler = find_compiler()
    if compiler is None:
        return None, NO_COMPILER
    name = library_name(source, stem, compiler, flags)
    directory = cache_dir or default_cache_dir()
    folders: list[Path | None] = [directory]
    if cache_dir is None and not os.environ.get(DIR_ENV):
        folders.append(None)  # a private temp folder, if ~/.cache is unwritable or noexec
    problems = []
    for folder in folders:
        started = time.perf_counter()
        built = False
        target = directory / name
        try:
            target = (folder or private_temp_dir()) / name
            if not target.exists():
                compile_library(compiler, source, target, flags)
                built = True
            lib = ctypes.CDLL(str(target))
        except OSError as exc:  # the folder: not writable, not a folder, noexec, ...
            problems.append(f"{target}: {exc}")
            continue
        except (RuntimeError, subprocess.SubprocessError) as exc:  # the compiler failed
            return None, f"could not build {name}: {exc}"
        seconds = time.perf_counter() - started if built else 0.0
        return Built(lib, target, compiler, seconds), f"loaded {target}"
    return None, f"could not build or load {name}: " + "; ".join(problems)


class NativeLibrary(Generic[T]):
    """One C source's library, built or loaded once per process and cache folder.

    ``wrap`` turns the loaded library into what callers use (declaring its ctypes
    signatures); it runs once, under the lock, and its result is shared read-only.
    """

    def __init__(self, source: Path, stem: str, wrap: Callable[[Built], T]) -> None:
        self.source = source
        self.stem = stem
        self._wrap = wrap
        self._lock = threading.Lock()  # guards the one-time build
        self._loaded: dict[str | None, T | None] = {}  # by cache folder; None: the default
        self._reason: dict[str | None, str] = {}

    def get(self, cache_dir: Path | None = None) -> T | None:
        """The wrapped library, built on the first call; ``None`` when unavailable."""
        key = None if cache_dir is None else str(cache_dir)
        if key not in self._loaded:
            with self._lock:
                if key not in self._loaded:
                    built, self._reason[key] = build_or_load(
                        self.source, self.stem, cache_dir=cache_dir
                    )
                    # last: a reader that sees the library sees its reason too
                    self._loaded[key] = None if built is None else self._wrap(built)
        return self._loaded[key]

    def status(self, cache_dir: Path | None = None) -> str:
        """One line: where the library was loaded from, or why it is not used."""
        self.get(cache_dir)
        return self._reason[None if cache_dir is None else str(cache_dir)]
