"""Small C kernels for decoding one token on the CPU, compiled on first use.

Decoding one token multiplies every weight matrix by one vector, so its speed is the speed
at which the weights stream from memory. PyTorch 2.13's CPU kernels for that shape leave
bandwidth unused: ``F.linear`` runs on one thread, and for bfloat16 weights no kernel
streams faster than float32 does (``bench/bench_decode.py`` measures them side by side).
``decode.c`` is about 400 lines of C with OpenMP. Its matrix-vector product lets each
thread stream its own block of rows; with bfloat16 weights it multiplies bfloat16 pairs
(AVX512-BF16's ``vdpbf16ps``, the vector rounded to bfloat16 as PyTorch's bfloat16 products
round it) or, on CPUs without that instruction, widens the weight to float32 in registers,
so half the bytes give float32 sums. Its layer step runs every pre-LayerNorm block of the
model for one token (LayerNorms, QKV, writing the new key and value into the KV cache and
attending over it, projections, GELU) in one parallel region, replacing about twenty small
PyTorch operations per layer whose fixed costs add up when a token takes a few
milliseconds; its token step (:class:`TokenPlan`) adds the embedding before the blocks
and the final LayerNorm and output head after them; its attention step does the attention
part alone.

The C file is compiled once per machine with the system's C compiler (``cc -O3
-march=native -fopenmp``) into ``~/.cache/glassbox/kernels`` (or ``$GLASSBOX_KERNEL_DIR``;
if the default folder cannot be written or loaded from, a folder of mode 0700 under the
system temp dir) and loaded with :mod:`ctypes`, which releases the GIL during the call. Without a compiler,
or with ``GLASSBOX_NATIVE_KERNELS=0``, :func:`native_kernels` returns ``None`` and the
model uses PyTorch's kernels: same results, slower decoding. The library links
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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import torch

SOURCE = Path(__file__).with_name("decode.c")
FLAGS = ("-O3", "-march=native", "-fopenmp", "-shared", "-fPIC")
DISABLE_ENV = "GLASSBOX_NATIVE_KERNELS"
DIR_ENV = "GLASSBOX_KERNEL_DIR"

_F32, _BF16 = torch.float32, torch.bfloat16
_lock = threading.Lock()  # guards the one-time build; the loaded library is read-only
_loaded: dict[str, NativeKernels | None] = {}  # by cache directory
_reason: dict[str, str] = {}
_UNSET = object()
_default: object = _UNSET  # the kernels from the default directory, once looked up


class NativeKernels:
    """The loaded kernel library: call :meth:`matvec` (or :func:`native_matvec`)."""

    def __init__(self, path: Path, compiler: str, build_seconds: float, lib: ctypes.CDLL):
        self.path = path
        self.compiler = compiler
        self.build_seconds = build_seconds  # 0.0 when the library came from the cache
        self._lib = lib  # keeps the library loaded while its functions are in use
        self._functions = {
            torch.float32: lib.glassbox_matvec_f32,
            torch.bfloat16: lib.glassbox_matvec_bf16,
        }
        self._attention = lib.glassbox_decode_attention
        self._layers = lib.glassbox_decode_layers
        self._token = lib.glassbox_decode_token
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
        return self._run(fn, weight, x.reshape(cols), bias, (rows,))

    @staticmethod
    def _run(
        fn: Callable[..., None],
        weight: torch.Tensor,
        x: torch.Tensor,
        bias: torch.Tensor | None,
        shape: tuple[int, ...],
    ) -> torch.Tensor:
        """Call the C function on float32 copies of x and bias (no copy when already so)."""
        rows, cols = weight.shape
        x32 = x.to(torch.float32).contiguous()
        b32 = None if bias is None else bias.to(torch.float32).contiguous()
        out = torch.empty(shape, dtype=torch.float32)
        fn(
            weight.data_ptr(),
            x32.data_ptr(),
            None if b32 is None else b32.data_ptr(),
            out.data_ptr(),
            rows,
            cols,
        )
        return out


def _attention_applies(k_cache: torch.Tensor, v_cache: torch.Tensor, d: int) -> bool:
    """Whether the caches suit the kernel: float32, contiguous (1, heads, max_len, d/heads)."""
    return (
        k_cache.dtype == _F32
        and v_cache.dtype == _F32
        and k_cache.is_cpu
        and v_cache.is_cpu
        and k_cache.is_contiguous()
        and v_cache.is_contiguous()
        and k_cache.dim() == 4
        and k_cache.shape == v_cache.shape
        and k_cache.shape[0] == 1
        and k_cache.shape[1] * k_cache.shape[3] == d
        and k_cache.shape[2] <= 4096
    )


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
    for fn in (lib.glassbox_matvec_f32, lib.glassbox_matvec_bf16):
        fn.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_int64] * 2  # w, x, b, y, rows, cols
        fn.restype = None
    layers = lib.glassbox_decode_layers
    pointer, size = ctypes.c_void_p, ctypes.c_int64
    layers.argtypes = (
        [pointer, size, ctypes.c_float, ctypes.c_int, size, pointer]  # x, d, eps, bf16, n, table
        + [size, size, size]  # pos, heads, max_len
        + [pointer] * 3  # scratch: qkv, ctx, f
    )
    layers.restype = ctypes.c_int
    attention = lib.glassbox_decode_attention
    # qkv, k_cache, v_cache, pos, heads, head_dim, max_len, out
    attention.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int64] * 4 + [ctypes.c_void_p]
    attention.restype = ctypes.c_int
    lib.glassbox_bf16_pairs.argtypes = []
    lib.glassbox_bf16_pairs.restype = ctypes.c_int
    token = lib.glassbox_decode_token
    token.argtypes = (
        [size, size, pointer, pointer, size, size, ctypes.c_float, ctypes.c_int]
        + [size, size]  # heads, max_len
        + [pointer] * 5  # scratch: x, qkv, ctx, f; logits
    )  # token, pos, ends, table, n, d, eps, bf16, ...
    token.restype = ctypes.c_int
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


def native_decode_attention(
    qkv: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, start: int
) -> torch.Tensor | None:
    """One decoding step of attention with the native kernel, else ``None``.

    qkv: the new token's fused projection (1, 1, 3d), laid out (3, heads, head_dim);
    k_cache, v_cache: this layer's float32 caches (1, heads, max_len, head_dim). Writes the
    token's key and value at position ``start`` and returns the context (1, 1, d) over
    positions ``0..start``, heads side by side: the same numbers as the module's
    ``scaled_dot_product_attention`` path, in one call instead of about ten.
    """
    if (
        torch.is_grad_enabled()
        or qkv.dtype != _F32
        or not qkv.is_cpu
        or not qkv.is_contiguous()
        or qkv.numel() % 3
        or not _attention_applies(k_cache, v_cache, qkv.numel() // 3)
    ):
        return None
    kernels = native_kernels()
    if kernels is None:
        return None
    _, heads, max_len, head_dim = k_cache.shape
    if not 0 <= start < max_len:
        return None
    out = torch.empty(1, 1, heads * head_dim)
    failed = kernels._attention(
        qkv.data_ptr(),
        k_cache.data_ptr(),
        v_cache.data_ptr(),
        start,
        heads,
        head_dim,
        max_len,
        out.data_ptr(),
    )
    return None if failed else out


class LayerWeights(NamedTuple):
    """One pre-LayerNorm block's parameters, as :func:`native_decode_layers` reads them.

    ``ln1``/``ln2`` are LayerNorm (weight, bias) pairs; ``qkv``, ``proj``, ``fc``, ``out`` are
    (weight (out, in), bias or None) of the fused QKV projection, the attention output, the
    feed-forward expansion (4d) and its projection.
    """

    ln1: tuple[torch.Tensor, torch.Tensor | None]
    qkv: tuple[torch.Tensor, torch.Tensor | None]
    proj: tuple[torch.Tensor, torch.Tensor | None]
    ln2: tuple[torch.Tensor, torch.Tensor | None]
    fc: tuple[torch.Tensor, torch.Tensor | None]
    out: tuple[torch.Tensor, torch.Tensor | None]


def _layer_pointers(
    layer: LayerWeights, d: int, dtype: torch.dtype, caches: tuple[torch.Tensor, torch.Tensor]
) -> list[int] | None:
    """The 14 addresses of one ``glassbox_layer`` (0 for an absent bias), or None if any
    tensor is not what the kernel reads: it gets raw pointers, so every size is checked."""
    (ln1_g, ln1_b), (w_qkv, b_qkv), (w_proj, b_proj) = layer.ln1, layer.qkv, layer.proj
    (ln2_g, ln2_b), (w_fc, b_fc), (w_out, b_out) = layer.ln2, layer.fc, layer.out
    pointers = []
    # (tensor, dtype, number of values, may it be absent), in the struct's order
    for tensor, want, numel, optional in (
        (ln1_g, _F32, d, False), (ln1_b, _F32, d, False),
        (w_qkv, dtype, 3 * d * d, False), (b_qkv, _F32, 3 * d, True),
        (w_proj, dtype, d * d, False), (b_proj, _F32, d, True),
        (ln2_g, _F32, d, False), (ln2_b, _F32, d, False),
        (w_fc, dtype, 4 * d * d, False), (b_fc, _F32, 4 * d, True),
        (w_out, dtype, 4 * d * d, False), (b_out, _F32, d, True),
    ):  # fmt: skip
        if tensor is None:
            if not optional:
                return None
            pointers.append(0)
            continue
        if (
            tensor.dtype != want
            or not tensor.is_cpu
            or not tensor.is_contiguous()
            or tensor.numel() != numel
        ):
            return None
        pointers.append(tensor.data_ptr())
    k_cache, v_cache = caches
    if not _attention_applies(k_cache, v_cache, d):
        return None
    return [*pointers, k_cache.data_ptr(), v_cache.data_ptr()]


def native_decode_layers(
    x: torch.Tensor,
    layers: Sequence[LayerWeights],
    caches: Sequence[tuple[torch.Tensor, torch.Tensor]],
    *,
    eps: float,
    start: int,
) -> torch.Tensor | None:
    """Pre-LayerNorm GPT blocks for one new token in a single native call, else ``None``.

    x: the residual stream (1, 1, d), float32. ``layers`` are the blocks in order, their
    weight matrices all float32 or all bfloat16 (LayerNorms and biases float32); ``caches``
    are each layer's (keys, values), float32 (1, heads, max_len, head_dim). Each layer's key
    and value for the token are written at ``start``. Returns the last block's output
    (1, 1, d): what :class:`core.model.gpt.Block` computes layer after layer, with one fork
    and join of the threads for the whole stack instead of about twenty PyTorch operations
    per layer.
    """
    if torch.is_grad_enabled() or x.dtype != _F32 or not x.is_cpu or not x.is_contiguous():
        return None
    if not layers or len(layers) != len(caches):
        return None
    kernels = native_kernels()
    if kernels is None:
        return None
    d = x.shape[-1]
    dtype = layers[0].qkv[0].dtype
    if (dtype != _F32 and dtype != _BF16) or x.numel() != d:
        return None
    table: list[int] = []
    for layer, layer_caches in zip(layers, caches, strict=True):
        pointers = _layer_pointers(layer, d, dtype, layer_caches)
        if pointers is None:
            return None
        table += pointers
    _, heads, max_len, _ = caches[0][0].shape
    if any(k.shape[1:3] != (heads, max_len) for k, _ in caches) or not 0 <= start < max_len:
        return None
    result = x.reshape(1, 1, d).clone()  # updated in place by the kernel
    table_tensor = torch.tensor(table, dtype=torch.int64)  # (layers * 14,) addresses
    scratch = torch.empty(8 * d)  # qkv (3d), ctx (d), f (4d)
    base, step = scratch.data_ptr(), 4
    failed = kernels._layers(
        result.data_ptr(), d, eps, dtype == _BF16, len(layers), table_tensor.data_ptr(),
        start, heads, max_len, base, base + 3 * d * step, base + 4 * d * step,
    )  # fmt: skip
    return None if failed else result


class ModelEnds(NamedTuple):
    """What a whole decoding step reads besides the blocks (see :class:`TokenPlan`)."""

    tok_emb: torch.Tensor  # (vocab, d), float32 or bfloat16 (tied: the head's weight)
    pos_emb: torch.Tensor  # (context, d) float32
    ln_f: tuple[torch.Tensor, torch.Tensor]  # final LayerNorm (weight, bias), float32
    head: torch.Tensor  # (vocab, d), the dtype of the blocks' matrices; no bias


class TokenPlan:
    """A whole decoding step of one model into one KV cache, laid out for one native call.

    ``glassbox_decode_token`` embeds the token, runs every block, the final LayerNorm and
    the output head in one parallel region and writes the logits. Building the call's
    address table checks every tensor, and that Python costs more than it seems: its
    objects have just been evicted from the CPU caches by the weights streaming past (about
    0.2 ms per GPT-2 token where the same code takes 0.1 ms warm). So a plan is built once
    per sequence and model state, and kept by the caller (``GPT`` keeps it on the
    :class:`KVCache`, which belongs to one sequence, and rebuilds it when the model's
    weights are replaced). It holds aliases of every tensor in its table, so every address
    it passes stays valid memory while the plan lives, whatever happens to the model.
    """

    def __init__(
        self,
        table: torch.Tensor,
        ends: torch.Tensor,
        tensors: list[torch.Tensor],
        *,
        bf16: bool,
        d: int,
        heads: int,
        max_len: int,
        vocab: int,
    ) -> None:
        self._table, self._ends, self._aliases = table, ends, tensors
        self.n_layers = len(table) // 14  # 14 addresses per layer
        self.bf16, self.d, self.heads, self.max_len, self.vocab = bf16, d, heads, max_len, vocab
        self._scratch = torch.empty(9 * self.d)  # x (d), qkv (3d), ctx (d), f (4d)

    @classmethod
    def build(
        cls,
        layers: Sequence[LayerWeights],
        ends: ModelEnds,
        keys: torch.Tensor,
        values: torch.Tensor,
    ) -> TokenPlan | None:
        """A plan for these blocks and ends, decoding into the caches ``keys``/``values``
        (n_layer, 1, heads, max_len, head_dim); None if the kernel cannot run them (no
        compiler, dtypes, shapes). Every tensor is checked here, once."""
        if native_kernels() is None or keys.dim() != 5 or keys.shape != values.shape:
            return None
        n, _, heads, max_len, head_dim = keys.shape
        d = heads * head_dim
        if not layers or len(layers) != n:
            return None
        dtype = layers[0].qkv[0].dtype
        if dtype not in (_F32, _BF16):
            return None
        table: list[int] = []
        for i, layer in enumerate(layers):
            pointers = _layer_pointers(layer, d, dtype, (keys[i], values[i]))
            if pointers is None:
                return None
            table += pointers
        tok, pos, (lnf_g, lnf_b), head = ends
        vocab = head.shape[0] if head.dim() == 2 else 0
        rows = pos.shape[0] if pos.dim() == 2 else 0
        for tensor, dtypes, numel in (
            (tok, (_F32, _BF16), vocab * d),
            (pos, (_F32,), rows * d),
            (lnf_g, (_F32,), d),
            (lnf_b, (_F32,), d),
            (head, (dtype,), vocab * d),
        ):
            if (
                tensor.dtype not in dtypes
                or not tensor.is_cpu
                or not tensor.is_contiguous()
                or tensor.numel() != numel
            ):
                return None
        if vocab == 0 or rows < max_len:
            return None
        addresses = [tok.data_ptr(), int(tok.dtype == _BF16), pos.data_ptr(), lnf_g.data_ptr()]
        addresses += [lnf_b.data_ptr(), head.data_ptr(), vocab]
        tensors = [t.detach() for layer in layers for pair in layer for t in pair if t is not None]
        tensors += [t.detach() for t in (keys, values, tok, pos, lnf_g, lnf_b, head)]
        return cls(
            torch.tensor(table, dtype=torch.int64),
            torch.tensor(addresses, dtype=torch.int64),
            tensors,
            bf16=dtype == _BF16,
            d=d,
            heads=heads,
            max_len=max_len,
            vocab=vocab,
        )

    def run(self, token: int, pos: int, *, eps: float) -> torch.Tensor | None:
        """Logits (1, 1, vocab) of ``token`` at position ``pos``, its key and value written
        into the caches; None if the kernel declines (position or token out of range)."""
        kernels = native_kernels()
        if kernels is None or torch.is_grad_enabled():
            return None
        logits = torch.empty(1, 1, self.vocab)
        d, base, step = self.d, self._scratch.data_ptr(), 4
        failed = kernels._token(
            token, pos, self._ends.data_ptr(), self._table.data_ptr(), self.n_layers, d, eps,
            self.bf16, self.heads, self.max_len,
            base, base + d * step, base + 4 * d * step, base + 5 * d * step, logits.data_ptr(),
        )  # fmt: skip
        return None if failed else logits


def native_decode_block(
    x: torch.Tensor,
    layer: LayerWeights,
    *,
    eps: float,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    start: int,
) -> torch.Tensor | None:
    """One block for one new token (:func:`native_decode_layers` with a single layer)."""
    return native_decode_layers(x, [layer], [(k_cache, v_cache)], eps=eps, start=start)


def native_matvec(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor | None:
    """``x @ weight.T + bias`` for one row x (..., in) with the native kernel, else ``None``.

    Used by :class:`core.model.layers.Dense` when decoding: CPU tensors, no autograd, a
    contiguous float32 or bfloat16 weight (out, in). The result has x's dtype and shape
    (..., out); the sum is float32 whatever the weight's dtype (with bfloat16 weights x may be
    rounded to bfloat16 first: ``NativeKernels.bf16_pairs``). Kept lean: it runs 49 times
    per GPT-2 token.
    """
    if torch.is_grad_enabled() or x.device.type != "cpu" or not weight.is_contiguous():
        return None
    kernels = native_kernels()
    if kernels is None:
        return None
    fn = kernels._functions.get(weight.dtype)
    if fn is None or not weight.is_cpu or weight.dim() != 2 or x.numel() != weight.shape[1]:
        return None
    if bias is not None and (bias.numel() != weight.shape[0] or not bias.is_cpu):
        return None
    out = kernels._run(fn, weight, x, bias, (*x.shape[:-1], weight.shape[0]))
    return out if x.dtype == torch.float32 else out.to(x.dtype)
