"""Byte-level BPE training from scratch, incremental, recording the merge history.

Algorithm (Sennrich et al. 2016; byte-level as in GPT-2; the book's §2.5 uses the
result through tiktoken): split the corpus with the GPT-2 or GPT-4 regex, start every
pre-token ("word") as its UTF-8 bytes (ids 0..255), then repeatedly replace the most
frequent adjacent pair of ids by a new id.

A naive trainer (karpathy's minbpe) recounts every pair of the whole corpus for each
merge: minutes for the built-in corpus. This one is incremental:

1. each distinct word is stored once with its frequency, and pair counts are weighted
   by it (a corpus of 465K characters has ~100K words but only ~15K distinct ones);
2. a pair -> words index lists the words that may contain each pair, so a merge only
   revisits the words it changes, and updates the counts by (new pairs - old pairs);
3. the best pair comes from a heap of ``(-count, left, right)``; an entry whose count is
   no longer current is dropped when popped ("lazy deletion"), because every count change
   pushes a fresh entry.

Tie-break rule (the naive reference in tests/tokenization uses the same rule, and their
merges are equal): the pair with the highest count wins; among equal counts, the
smallest ``(left, right)`` id pair. A pair whose merged bytes already exist as a token
(possible with overlapping repeats such as "aaa") is never merged, so every token's
bytes are unique and tiktoken's encoder reproduces the merges exactly. Merging within
a word is left to right: merging (a, a) in "a a a" gives "aa a".
"""

from __future__ import annotations

import heapq
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from itertools import pairwise
from types import MappingProxyType

import regex

from core.tokenization.analysis import utf8_safe
from core.tokenization.encodings import pattern_of
from core.tokenization.errors import BPETrainingError
from core.tokenization.tokenizer import BPETokenizer, Merge

# Pre-tokenization pattern names -> the tiktoken encoding whose regex they use.
PATTERNS: Mapping[str, str] = MappingProxyType(
    {"gpt2": "gpt2", "gpt4": "cl100k_base", "gpt4o": "o200k_base"}
)

ProgressFn = Callable[[int, int], None]


def pretokenize(text: str, pat_str: str, special_tokens: Iterable[str] = ()) -> Counter[str]:
    """Count the regex pre-tokens of ``text``; special tokens are cut out, never merged.

    >>> sorted(pretokenize("hi hi<|endoftext|>hi", pattern_of("gpt2"), ["<|endoftext|>"]).items())
    [(' hi', 1), ('hi', 2)]
    """
    specials = sorted(set(special_tokens), key=len, reverse=True)
    pieces = regex.split("|".join(regex.escape(s) for s in specials), text) if specials else [text]
    compiled = regex.compile(pat_str)
    counts: Counter[str] = Counter()
    for piece in pieces:
        counts.update(compiled.findall(piece))
    return counts


def merge_pair(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace each non-overlapping occurrence of ``pair``, left to right.

    >>> merge_pair([1, 2, 3, 1, 2], (1, 2), 4)
    [4, 3, 4]
    """
    left, right = pair
    out: list[int] = []
    i, n = 0, len(ids)
    while i < n:
        if ids[i] == left and i + 1 < n and ids[i + 1] == right:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def _check_settings(vocab_size: int, special_tokens: tuple[str, ...], min_frequency: int) -> int:
    """Validate settings; returns the number of merges to learn."""
    if len(set(special_tokens)) != len(special_tokens) or any(not s for s in special_tokens):
        raise BPETrainingError("special tokens must be distinct, non-empty strings")
    floor = 256 + len(special_tokens)
    if vocab_size < floor:
        raise BPETrainingError(
            f"vocab size {vocab_size} is too small: the 256 single bytes and "
            f"{len(special_tokens)} special token(s) already need {floor} ids"
        )
    if min_frequency < 1:
        raise BPETrainingError(f"min_frequency must be at least 1, not {min_frequency}")
    return vocab_size - floor


MAX_TRAIN_CHARS = 10_000_000  # a page trains on at most this much text (~5 s here)


def corpus_refusal(chars: int, limit: int = MAX_TRAIN_CHARS) -> str | None:
    """Why a corpus of ``chars`` characters is too large to train on in a page, or None.

    Training time grows with the corpus (splitting it into words dominates: the built-in
    465K-character corpus trains 1,024 ids in about 0.15 s on this project's 2-core machine).
    """
    if chars <= limit:
        return None
    return (
        f"The corpus has {chars:,} characters; a page trains on at most {limit:,}. Train "
        "larger corpora from a shell: `python -m core.tokenization train FILE --store`."
    )


def train_bpe(
    text: str,
    vocab_size: int = 4096,
    pattern: str = "gpt4",
    special_tokens: Iterable[str] = ("<|endoftext|>",),
    min_frequency: int = 2,
    progress: ProgressFn | None = None,
    *,
    name: str | None = None,
    allow_smaller_vocab: bool = False,
) -> BPETokenizer:
    """Learn ``vocab_size - 256 - len(special_tokens)`` merges from ``text``.

    ``vocab_size`` counts every id (bytes, merges, special tokens), so the result's
    ``n_vocab`` equals it. Training stops early when no pair occurs ``min_frequency``
    times; that raises BPETrainingError (saying how large a vocabulary the corpus
    supports) unless ``allow_smaller_vocab``. ``progress(done, total)`` is called about
    200 times, with ``done == total`` last.
    """
    specials = tuple(special_tokens)
    n_merges = _check_settings(vocab_size, specials, min_frequency)
    if pattern not in PATTERNS:
        raise BPETrainingError(f"unknown pattern {pattern!r}; choose one of {', '.join(PATTERNS)}")
    if not text:
        raise BPETrainingError("the corpus is empty: paste or upload some text to train on")
    started = time.perf_counter()
    pat_str = pattern_of(PATTERNS[pattern])
    word_counts = pretokenize(utf8_safe(text), pat_str, specials)
    words = [list(w.encode("utf-8")) for w in word_counts]
    freqs = list(word_counts.values())
    merges, corpus_tokens = _learn_merges(words, freqs, n_merges, min_frequency, progress)
    if len(merges) < n_merges and not allow_smaller_vocab:
        supported = 256 + len(merges) + len(specials)
        raise BPETrainingError(
            f"the corpus supports only {len(merges)} merges with pairs seen at least "
            f"{min_frequency} times, i.e. a vocab size of at most {supported} "
            f"(asked for {vocab_size}): choose a smaller vocab size, lower the minimum "
            "frequency, or use a larger, more varied corpus"
        )
    n_total = 256 + len(merges)
    chars = sum(len(w) * f for w, f in word_counts.items())
    return BPETokenizer(
        name=name or f"bpe-{pattern}-{n_total + len(specials)}",
        pattern=pattern,
        pat_str=pat_str,
        merges=tuple(merges),
        special_tokens={s: n_total + i for i, s in enumerate(specials)},
        corpus_tokens=tuple(corpus_tokens),
        training={
            "corpus_chars": chars,
            "distinct_words": len(words),
            "vocab_size_requested": vocab_size,
            "min_frequency": min_frequency,
            "seconds": round(time.perf_counter() - started, 4),
        },
    )


def _learn_merges(
    words: list[list[int]],
    freqs: list[int],
    n_merges: int,
    min_frequency: int,
    progress: ProgressFn | None,
) -> tuple[list[Merge], list[int]]:
    """The incremental merge loop; ``words`` are modified in place."""
    counts: defaultdict[tuple[int, int], int] = defaultdict(int)
    where: defaultdict[tuple[int, int], set[int]] = defaultdict(set)
    for i, (word, freq) in enumerate(zip(words, freqs, strict=True)):
        for pair in pairwise(word):
            counts[pair] += freq
            where[pair].add(i)
    heap = [(-c, a, b) for (a, b), c in counts.items()]
    heapq.heapify(heap)
    vocab = [bytes([b]) for b in range(256)]
    known = set(vocab)
    banned: set[tuple[int, int]] = set()  # pairs whose bytes already are a token
    merges: list[Merge] = []
    tokens = sum(len(w) * f for w, f in zip(words, freqs, strict=True))
    corpus_tokens = [tokens]
    every = max(1, n_merges // 200)
    if progress is not None:
        progress(0, n_merges)
    while len(merges) < n_merges and heap:
        neg, a, b = heapq.heappop(heap)
        count = counts.get((a, b), 0)
        if count != -neg:
            continue  # stale entry: the pair's current count was pushed separately
        if count < min_frequency:
            break
        token = vocab[a] + vocab[b]
        if token in known:
            del counts[(a, b)]  # never merge into bytes that already are a token
            banned.add((a, b))
            continue
        new_id = len(vocab)
        vocab.append(token)
        known.add(token)
        merges.append(Merge(len(merges), (a, b), new_id, token, count))
        delta: defaultdict[tuple[int, int], int] = defaultdict(int)
        for i in where.pop((a, b)):
            word = words[i]
            new_word = merge_pair(word, (a, b), new_id)
            if len(new_word) == len(word):
                continue  # stale index entry: an earlier merge removed the pair here
            freq = freqs[i]
            tokens -= (len(word) - len(new_word)) * freq
            for pair in pairwise(word):
                delta[pair] -= freq
            for pair in pairwise(new_word):
                delta[pair] += freq
                if new_id in pair:
                    where[pair].add(i)
            words[i] = new_word
        for pair, change in delta.items():
            if change and pair not in banned:
                new_count = counts[pair] + change
                if new_count:
                    counts[pair] = new_count
                    heapq.heappush(heap, (-new_count, pair[0], pair[1]))
                else:
                    del counts[pair]
        counts.pop((a, b), None)
        corpus_tokens.append(tokens)
        if progress is not None and (len(merges) % every == 0 or len(merges) == n_merges):
            progress(len(merges), n_merges)
    if progress is not None and len(merges) < n_merges:
        progress(n_merges, n_merges)  # stopped early: report completion anyway
    return merges, corpus_tokens
