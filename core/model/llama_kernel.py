"""The C kernel that decodes one Llama token in one call: building, loading, calling it.

``kernels/llama_decode.c`` runs a whole decoding step of :class:`core.model.llama.Llama`
(every layer's RMSNorm, q/k/v products, rotary embedding, grouped-query attention over the
KV cache, o, SwiGLU and the residual adds; the final norm and the output head) in one
OpenMP parallel region, each thread streaming its own rows of every matrix. It is compiled
once per machine the way :mod:`core.model.kernels.native` compiles ``decode.c`` (``cc -O3
-march=native -fopenmp``, into ``~/.cache/glassbox/kernels`` or ``$GLASSBOX_KERNEL_DIR``,
atomically; ``GLASSBOX_NATIVE_KERNELS=0`` turns it off) and loaded with :mod:`ctypes`,
which releases the GIL during the call. Without a compiler :func:`llama_kernel` returns
``None`` and the decoder is not used (:func:`core.model.llama_decoder.llama_decoder`).

:class:`LlamaModelStruct` and :class:`LlamaLayerStruct` mirror the C structures: the
model's shape and the addresses of its parameters, built once per model by the decoder.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

SOURCE = Path(__file__).with_name("kernels") / "llama_decode.c"
FLAGS = ("-O3", "-march=native", "-fopenmp", "-shared", "-fPIC")
DISABLE_ENV = "GLASSBOX_NATIVE_KERNELS"  # the switch of the other native kernels too
DIR_ENV = "GLASSBOX_KERNEL_DIR"
# What a profiled step times (each phase up to the end of its barrier): the order of the
# kernel's profile values.
PHASES = ("q/k/v", "attention", "o", "gate/up", "down", "head")

_lock = threading.Lock()  # guards the one-time build; the loaded library is read-only
_state: dict[str, object] = {}  # "kernel": LlamaKernel | None, "reason": str


class LlamaLayerStruct(ctypes.Structure):
    """``llama_layer``: one layer's parameter addresses (float32 norms; weights (out, in))."""

    _fields_ = [
        (name, ctypes.c_void_p)
        for name in ("attn_norm", "w_q", "w_k", "w_v", "w_o", "ffn_norm", "w_gate", "w_up")
        + ("w_down",)
    ]


class LlamaModelStruct(ctypes.Structure):
    """``llama_model``: the shape, the rest of the parameters and the layers' array."""

    _fields_ = [
        *((name, ctypes.c_int64) for name in ("n_layer", "d", "n_head", "n_kv_head")),
        *((name, ctypes.c_int64) for name in ("head_dim", "hidden", "vocab", "max_len", "bf16")),
        ("eps", ctypes.c_double),
        *((name, ctypes.c_void_p) for name in ("tok_emb", "norm", "w_head", "cos", "signed_sin")),
        ("layers", ctypes.POINTER(LlamaLayerStruct)),
    ]


class LlamaKernel:
    """The loaded library; :meth:`decode_token` is the one call per token."""

    def __init__(self, path: Path, lib: ctypes.CDLL) -> None:
        self.path = path
        self._lib = lib  # keeps the library loaded while its function is in use
        self._decode = lib.glassbox_llama_decode_token
        # With AVX512-BF16, products with bfloat16 weights round their vector to bfloat16.
        self.bf16_pairs = bool(lib.glassbox_llama_bf16_pairs())

    def decode_token(
        self,
        model: LlamaModelStruct,
        k_cache: int,
        v_cache: int,
        token: int,
        pos: int,
        out: int,
        profile: int | None = None,
    ) -> int:
        """Run one step (addresses as ints); 0 on success, 1 bad arguments, 2 no memory.

        ``profile``: the address of :data:`PHASES` float64 values to which the kernel adds
        the seconds its first thread spent in each phase, summed over the layers.
        """
        return self._decode(ctypes.byref(model), k_cache, v_cache, token, pos, out, profile)

    def __repr__(self) -> str:
        return f"LlamaKernel(path={str(self.path)!r})"


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


def _library_name(compiler: str) -> str:
    """A name that changes with the source, the flags, the compiler and the CPU's features."""
    flags = ""
    with contextlib.suppress(OSError):  # no /proc: the machine type alone
        flags = next(
            (line for line in Path("/proc/cpuinfo").read_text().splitlines() if "flags" in line),
            "",
        )
    digest = hashlib.sha256(
        b"\0".join(
            [SOURCE.read_bytes(), " ".join(FLAGS).encode(), compiler.encode()]
            + [f"{platform.machine()}|{flags}".encode()]
        )
    ).hexdigest()[:16]
    return f"llama-decode-{digest}.so"


def _build(compiler: str, target: Path) -> None:
    """Compile the source to ``target`` atomically (a half-written library is never loaded)."""
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


def _load(path: Path) -> LlamaKernel:
    lib = ctypes.CDLL(str(path))
    fn = lib.glassbox_llama_decode_token
    pointer, size = ctypes.c_void_p, ctypes.c_int64
    # model, k_cache, v_cache, token, pos, logits, profile
    fn.argtypes = [ctypes.POINTER(LlamaModelStruct), pointer, pointer, size, size, pointer, pointer]
    fn.restype = ctypes.c_int
    lib.glassbox_llama_bf16_pairs.argtypes = []
    lib.glassbox_llama_bf16_pairs.restype = ctypes.c_int
    return LlamaKernel(path, lib)


def _private_temp_dir() -> Path:
    """A folder under the system temp dir that only this user can write (mode 0700)."""
    folder = Path(tempfile.gettempdir()) / f"glassbox-kernels-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    info = folder.lstat()
    if folder.is_symlink() or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise OSError(f"{folder} is not a private folder of this user")  # never load from it
    return folder


def _build_or_load() -> tuple[LlamaKernel | None, str]:
    if os.environ.get(DISABLE_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return None, f"disabled by {DISABLE_ENV}"
    compiler = _compiler()
    if compiler is None:
        return None, "no C compiler (cc, gcc or clang) on PATH"
    name = _library_name(compiler)
    folders: list[Path | None] = [_cache_dir()]
    if not os.environ.get(DIR_ENV):
        folders.append(None)  # a private temp folder, if ~/.cache is unwritable or noexec
    problems = []
    for folder in folders:
        target = _cache_dir() / name
        try:
            target = (folder or _private_temp_dir()) / name
            if not target.exists():
                _build(compiler, target)
            return _load(target), f"loaded {target}"
        except OSError as exc:  # the folder: not writable, not a folder, noexec, ...
            problems.append(f"{target}: {exc}")
        except (RuntimeError, subprocess.SubprocessError) as exc:  # the compiler failed
            return None, f"could not build {name}: {exc}"
    return None, "could not build or load the Llama kernel: " + "; ".join(problems)


def llama_kernel() -> LlamaKernel | None:
    """The compiled kernel, built on the first call; ``None`` when unavailable.

    Thread-safe; the build runs once per process and its result (or failure) is kept.
    """
    if "kernel" not in _state:
        with _lock:
            if "kernel" not in _state:
                kernel, _state["reason"] = _build_or_load()
                _state["kernel"] = kernel  # last: a reader that sees it sees the reason
    return _state["kernel"]  # type: ignore[return-value]


def llama_kernel_status() -> str:
    """One line: where the kernel was loaded from, or why it is not used."""
    llama_kernel()
    return str(_state["reason"])
