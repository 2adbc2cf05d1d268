"""Naive BPE trainer (karpathy's minbpe ``RegexTokenizer.train``), the tests' reference.

Recounts every adjacent pair over every pre-token of the corpus at each merge: obviously
correct and very slow (the built-in corpus takes minutes). It applies the same documented
rules as ``core.tokenization.bpe.train_bpe``: highest count wins, ties go to the smallest
``(left, right)`` pair, a pair whose merged bytes already are a token is never merged,
training stops when the best count is below ``min_frequency``; merging is left to right.
The benchmark (bench/bench_tokenization.py) times it too.
"""

from __future__ import annotations

from collections import Counter

import regex


def naive_train(
    text: str,
    n_merges: int,
    pat_str: str,
    special_tokens: tuple[str, ...] = (),
    min_frequency: int = 2,
) -> list[tuple[tuple[int, int], bytes, int]]:
    """``[(pair, token_bytes, count), ...]`` in merge order."""
    pieces = [text]
    if special_tokens:
        pieces = regex.split("|".join(regex.escape(s) for s in special_tokens), text)
    chunks = [list(w.encode("utf-8")) for p in pieces for w in regex.findall(pat_str, p)]
    vocab = [bytes([b]) for b in range(256)]
    merges: list[tuple[tuple[int, int], bytes, int]] = []
    while len(merges) < n_merges:
        counts: Counter[tuple[int, int]] = Counter()
        for ids in chunks:
            counts.update(zip(ids, ids[1:], strict=False))
        known = set(vocab)
        candidates = [(c, p) for p, c in counts.items() if vocab[p[0]] + vocab[p[1]] not in known]
        if not candidates:
            break
        count, pair = max(candidates, key=lambda cp: (cp[0], -cp[1][0], -cp[1][1]))
        if count < min_frequency:
            break
        new_id = len(vocab)
        vocab.append(vocab[pair[0]] + vocab[pair[1]])
        merges.append((pair, vocab[new_id], count))
        chunks = [_merge(ids, pair, new_id) for ids in chunks]
    return merges


def _merge(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out
