"""Small C kernels for decoding one token on the CPU, compiled on first use.

Decoding one token multiplies every weight matrix by one vector, so its speed is the speed
at which the weights stream from memory. PyTorch 2.13's CPU kernels for that shape leave
bandwidth unused: ``F.linear`` runs on one thread, and for bfloat16 weights no kernel
streams faster than float32 does (``bench/bench_decode.py`` measures them side by side).
``decode.c`` is about 400 lines of C with OpenMP. Its matrix-vector product lets each
thread stream its own block of rows; with bfloat16 weights it multiplies bfloat16 pairs
(AVX512-BF16's ``vdpbf16ps``, the vector rounded to bfloat16 as PyTorch's bfloat16 products
round it) or, on CPUs without that instruction, widens the weight to float32 in registers,
so half the bytes give float32 sums. Its token step runs a whole GPT decoding step for one
token in one parallel region: the embedding, every pre-LayerNorm block (LayerNorms, QKV,
writing the new key and value into the KV cache and attending over it, projections, GELU),
the final LayerNorm and the output head, replacing about twenty small PyTorch operations per
layer whose fixed costs add up when a token takes a few milliseconds. This module builds
and loads the library; :mod:`.abi` names its interface, and the decoders beside the models
(:mod:`core.model.gpt_decoder`, :mod:`core.model.llama_decoder`) call it.

The C file is compiled once per machine with the system's C compiler (``cc -O3
-march=native -fopenmp``) into ``~/.cache/glassbox/kernels`` (or ``$GLASSBOX_KERNEL_DIR``;
if the default folder cannot be written or loaded from, a folder of mode 0700 under the
system temp dir) and loaded with :mod:`ctypes`, which releases the GIL during the call.
Without a compiler, or with ``GLASSBOX_NATIVE_KERNELS=0``, :func:`native_kernels` returns
``None`` and the samplers decode with the plain model: same results, slower decoding. The library links
``libgomp.so.1`` by name; loaded after ``torch``, it shares PyTorch's OpenMP runtime and
thread count.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import torch

from core.model.kernels import abi

SOURCE = Path(__file__).with_name("decode.c")
FLAGS = ("-O3", "-march=native", "-fopenmp", "-shared", "-fPIC")
DISABLE_ENV = "GLASSBOX_NATIVE_KERNELS"
DIR_ENV = "GLASSBOX_KERNEL_DIR"

_lock = threading.Lock()  # guards the one-time build; the loaded library is read-only
_loaded: dict[str, NativeKernels | None] = {}  # by cache directory
_reason: dict[str, str] = {}
_UNSET = object()
_default: object = _UNSET  # the kernels from the default directory, once looked up


class NativeKernels:
    """The loaded kernel library: :meth:`matvec`, and the functions the decoders call."""

    def __init__(self, path: Path, compiler: str, build_seconds: float, lib: ctypes.CDLL):
        self.path = path
        self.compiler = compiler
        self.build_seconds = build_seconds  # 0.0 when the library came from the cache
        self._lib = lib  # keeps the library loaded while its functions are in use
        self._functions = {
            torch.float32: lib.glassbox_matvec_f32,
            torch.bfloat16: lib.glassbox_matvec_bf16,
        }
        self.decode_token = lib.glassbox_decode_token  # see core.model.gpt_decoder
        # With AVX512-BF16, products with bfloat16 weights round the vector to bfloat16 too
        # (for widths that are multiples of 64), as PyTorch's bfloat16 products do.
        self.bf16_pairs = bool(lib.glassbox_bf16_pairs())

    def __repr__(self) -> str:
        return f"NativeKernels(path={str(self.path)!r}, compiler={self.compiler!r})"

    def matvec(
        self, weight: torch.Tensor, x: torch.Tensor, bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``weight @ x (+ bias)`` in float32 for a contiguous CPU weight (rows, cols).

        weight is float32 or bfloat16; x (cols values) and bias (rows) are read as float32.
        Returns a new float32 tensor (rows,).
        """
        if not weight.is_contiguous() or weight.device.type != "cpu" or weight.dim() != 2:
            raise ValueError("native matvec needs a contiguous 2-D CPU weight")
        rows, cols = weight.shape
        if x.numel() != cols:
            raise ValueError(f"x has {x.numel()} values, the weight has {cols} columns")
        if bias is not None and bias.numel() != rows:
            raise ValueError(f"bias has {bias.numel()} values, the weight has {rows} rows")
        fn = self._functions.get(weight.dtype)
        if fn is None:
            raise ValueError(f"native matvec supports float32 and bfloat16, not {weight.dtype}")
        # the C function reads float32 copies of x and bias (no copy when already so)
        x32 = x.reshape(cols).to(torch.float32).contiguous()
        b32 = None if bias is None else bias.to(torch.float32).contiguous()
        out = torch.empty(rows, dtype=torch.float32)
        fn(
            weight.data_ptr(),
            x32.data_ptr(),
            None if b32 is None else b32.data_ptr(),
            out.data_ptr(),
            rows,
            cols,
        )
        return out


def _cpu_signature() -> str:
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


def _cache_dir() -> Path:
    configured = os.environ.get(DIR_ENV)
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "glassbox" / "kernels"


def _compiler() -> str | None:
    for candidate in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if candidate and shutil.which(candidate):
            return candidate
    return None


def _build(compiler: str, target: Path) -> None:
    """Compile decode.c to ``target`` atomically (a half-written library is never loaded)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        result = subprocess.run(
            [compiler, *FLAGS, str(SOURCE), "-o", tmp, "-lm"],
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


def _load(path: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(path))
    abi.declare(lib)
    return lib


def native_kernels(*, cache_dir: Path | None = None) -> NativeKernels | None:
    """The compiled kernels, building them on the first call; ``None`` when unavailable.

    Thread-safe; the build runs once per process and its result (or failure) is kept.
    :func:`native_status` says why the kernels are unavailable.
    """
    global _default
    if cache_dir is None and _default is not _UNSET:
        return _default  # type: ignore[return-value]
    directory = cache_dir or _cache_dir()
    key = str(directory)
    if key not in _loaded:
        with _lock:
            if key not in _loaded:
                _loaded[key] = _build_or_load(directory, key, fallback=cache_dir is None)
    if cache_dir is None:
        _default = _loaded[key]
    return _loaded[key]


def _build_or_load(directory: Path, key: str, fallback: bool) -> NativeKernels | None:
    if os.environ.get(DISABLE_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        _reason[key] = f"disabled by {DISABLE_ENV}"
        return None
    compiler = _compiler()
    if compiler is None:
        _reason[key] = "no C compiler (cc, gcc or clang) on PATH"
        return None
    digest = hashlib.sha256(
        b"\0".join(
            [SOURCE.read_bytes(), " ".join(FLAGS).encode(), compiler.encode()]
            + [_cpu_signature().encode()]
        )
    ).hexdigest()[:16]
    name = f"decode-{digest}.so"
    directories: list[Path | None] = [directory]
    if fallback and not os.environ.get(DIR_ENV):
        directories.append(None)  # a private temp folder, if ~/.cache is unwritable or noexec
    problems = []
    for folder in directories:
        started = time.perf_counter()
        built = False
        target = directory / name
        try:
            target = (folder or _private_temp_dir()) / name
            if not target.exists():
                _build(compiler, target)
                built = True
            lib = _load(target)
        except OSError as exc:  # the folder: not writable, not a folder, noexec, ...
            problems.append(f"{target}: {exc}")
            continue
        except (RuntimeError, subprocess.SubprocessError) as exc:  # the compiler failed
            _reason[key] = f"could not build {name}: {exc}"
            return None
        seconds = time.perf_counter() - started if built else 0.0
        _reason[key] = f"loaded {target}"
        return NativeKernels(target, compiler, seconds, lib)
    _reason[key] = "could not build or load the kernels: " + "; ".join(problems)
    return None


def _private_temp_dir() -> Path:
    """A folder under the system temp dir that only this user can write (mode 0700)."""
    folder = Path(tempfile.gettempdir()) / f"glassbox-kernels-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    info = folder.lstat()
    if folder.is_symlink() or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise OSError(f"{folder} is not a private folder of this user")  # never load from it
    return folder


def native_status(*, cache_dir: Path | None = None) -> str:
    """One line: where the kernels were loaded from, or why they are not used."""
    native_kernels(cache_dir=cache_dir)
    return _reason.get(str(cache_dir or _cache_dir()), "not built yet")
