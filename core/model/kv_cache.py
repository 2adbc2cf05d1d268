"""KVCache: the keys and values one generated sequence has computed so far.

The book's ch. 4-5 generate text by re-running the model over the whole prefix for each new
token. A KV cache keeps each layer's keys and values for positions already seen, so a step
computes only the new token's row: O(T) work per token instead of O(T^2). The cache is an
explicit object created per sequence and passed to ``GPT.forward``; the model holds only
weights, so one loaded model can serve every browser session at once. Memory is allocated
once, up to the model's context length, so decoding never reallocates or concatenates.
"""

from __future__ import annotations

import torch


class CacheFullError(ValueError):
    """Appending would run past the cache's capacity (the model's context length)."""


class KVCache:
    """Preallocated keys/values of every layer for one batch of sequences.

    ``keys`` and ``values`` have shape (n_layer, batch, n_head, max_length, head_dim);
    positions ``[0, length)`` are valid. Example::

        cache = model.new_kv_cache()
        model(prompt_ids, kv_cache=cache)      # cache.length == len(prompt)
        branch = cache.clone()                 # try a different continuation
        cache.truncate(3)                      # rewind to the first 3 positions
    """

    def __init__(
        self,
        *,
        n_layer: int,
        batch_size: int,
        n_head: int,
        max_length: int,
        head_dim: int,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        shape = (n_layer, batch_size, n_head, max_length, head_dim)
        self.keys = torch.zeros(shape, device=device, dtype=dtype)  # (L, B, H, Tmax, hd)
        self.values = torch.zeros(shape, device=device, dtype=dtype)  # (L, B, H, Tmax, hd)
        self._length = 0

    @property
    def length(self) -> int:
        """Number of positions already stored (the next token's position)."""
        return self._length

    @property
    def max_length(self) -> int:
        """Capacity in positions (the model's context length)."""
        return self.keys.shape[3]

    @property
    def batch_size(self) -> int:
        return self.keys.shape[1]

    @property
    def n_layer(self) -> int:
        return self.keys.shape[0]

    @property
    def remaining(self) -> int:
        """Positions that can still be appended."""
        return self.max_length - self._length

    def nbytes(self) -> int:
        """Memory held by the preallocated keys and values."""
        return 2 * self.keys.numel() * self.keys.element_size()

    def layer(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Full-capacity key and value buffers of one layer, each (B, H, Tmax, hd)."""
        return self.keys[index], self.values[index]

    def check_room(self, n_new: int) -> None:
        """Raise :class:`CacheFullError` unless ``n_new`` more positions fit."""
        if self._length + n_new > self.max_length:
            raise CacheFullError(
                f"the KV cache holds {self._length} of {self.max_length} positions and cannot "
                f"take {n_new} more; crop the sequence to the model's context length or "
                "start a new cache"
            )

    def advance(self, n_new: int) -> None:
        """Mark ``n_new`` positions (already written by every layer) as valid."""
        self.check_room(n_new)
        self._length += n_new

    def truncate(self, n: int) -> None:
        """Keep only the first ``n`` positions (rewind); later writes overwrite the rest."""
        if not 0 <= n <= self._length:
            raise ValueError(f"cannot truncate a cache of length {self._length} to {n}")
        self._length = n

    def clone(self) -> KVCache:
        """An independent deep copy (for branching a generation)."""
        twin = KVCache.__new__(KVCache)
        twin.keys = self.keys.clone()
        twin.values = self.values.clone()
        twin._length = self._length
        return twin

    def __repr__(self) -> str:
        n_layer, batch, n_head, max_length, head_dim = self.keys.shape
        return (
            f"KVCache(length={self._length}/{max_length}, layers={n_layer}, batch={batch}, "
            f"heads={n_head}, head_dim={head_dim}, dtype={self.keys.dtype})"
        )
