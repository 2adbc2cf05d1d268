"""A stepwise sampler: one trajectory of autoregressive generation, one token per call.

The book's ch. 5.3 ``generate`` loop (Raschka) runs to completion; here the loop is turned
inside out so a user can watch, force, rewind and branch. A `Sampler` owns everything that
belongs to one trajectory and nothing shared: its own `KVCache` (the model holds only
weights), its own seeded ``torch.Generator`` and its list of `StepRecord`. The model is only read, so any
number of samplers (browser sessions, branches) can share one loaded model.

Reproducibility: a sampled step draws exactly one uniform number from the generator,
greedy and forced steps draw none, and `rewind` restores the generator state of the step it
returns to. So a trajectory is a pure function of (model, prompt, config, forced steps), and
`replay` re-creates it token for token. With and without the KV cache the tokens are the
same; only the latency differs. Beyond the model's context length the sampler slides a
window over the last ``context_length`` tokens and recomputes (positions shift, so a cache
cannot be reused there), exactly like the book's no-cache loop.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Set

import tiktoken
import torch

from core.model import GPT, KVCache, crop_to_context
from core.model.decoding import Decoder, pick_decoder
from core.model.llama import Llama
from core.sampling.config import SamplingConfig
from core.sampling.processors import (
    PipelineOutput,
    build_pipeline,
    choose_token,
    entropy,
    run_pipeline,
)
from core.sampling.records import Candidate, StageRecord, StepRecord

EOT = "<|endoftext|>"


class SamplingError(ValueError):
    """The sampler cannot do what was asked; the message says what to do instead."""


class GenerationFinished(SamplingError):
    """The model emitted end-of-text and ``stop_at_eos`` is on."""


def token_text(tokenizer: tiktoken.Encoding, token_id: int) -> str:
    """The text of one token; a piece of a multi-byte character shows its bytes (``"\\xe2"``)."""
    try:
        raw = tokenizer.decode_single_token_bytes(token_id)
        return raw.decode("utf-8", errors="backslashreplace")
    except KeyError:
        return f"<{token_id}>"


def encode_prompt(
    tokenizer: tiktoken.Encoding,
    prompt: str,
    context_length: int,
    start_token: int | None = None,
    allowed_special: Set[str] | None = None,
) -> tuple[list[int], list[str]]:
    """Token ids of ``prompt`` for a model, with notices about what was changed.

    A model trained with a start token (``GPTConfig.start_token``) gets it first, as in every
    window it was trained on. Without one, an empty prompt becomes ``[<|endoftext|>]`` (the
    token GPT-2 saw between documents). A prompt longer than the context keeps its last
    tokens (the start token stays in front). ``allowed_special`` are the special tokens read
    as such when they appear in the prompt (default: ``<|endoftext|>`` alone).
    """
    notices: list[str] = []
    special = {EOT} & set(tokenizer.special_tokens_set)
    if allowed_special is not None:
        special = set(allowed_special) & set(tokenizer.special_tokens_set)
    ids = tokenizer.encode(prompt, allowed_special=special, disallowed_special=())
    room = context_length - (start_token is not None)
    if not ids and start_token is None:
        if not special:
            raise SamplingError(
                "The prompt is empty and this tokenizer has no <|endoftext|> token to start "
                "from: type a prompt."
            )
        ids = [tokenizer.eot_token]
        notices.append("The prompt is empty: starting from <|endoftext|> (a new document).")
    elif not ids:
        notices.append(
            f"The prompt is empty: the model starts from its start token "
            f"{token_text(tokenizer, start_token)!r} alone."
        )
    if len(ids) > room:
        notices.append(
            f"The prompt has {len(ids)} tokens but the model reads at most {room}"
            + (" after its start token" if start_token is not None else "")
            + f": only its last {room} tokens are used."
        )
        ids = ids[-room:]
    if start_token is not None:
        ids = [start_token, *ids]
    return ids, notices


class Sampler:
    """One trajectory: ``step()``, ``run(n)``, ``force(id)``, ``rewind(k)``, ``branch()``."""

    def __init__(
        self,
        model: GPT | Llama,
        tokenizer: tiktoken.Encoding,
        prompt: str,
        config: SamplingConfig,
        *,
        use_cache: bool = True,
        top_n: int = 10,
        native: bool = True,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.prompt = prompt
        self.requested_config = config
        self.context_length = model.config.context_length
        # Ids beyond the tokenizer (a padded embedding table) can never be decoded: drop them.
        self.vocab_size = min(model.config.vocab_size, tokenizer.n_vocab)
        self.config, self.notices = config.resolve(self.vocab_size)
        self.pipeline = build_pipeline(self.config)
        self.start_token = model.config.start_token  # fed first, before the prompt's tokens
        # A model that names its own end token (an instruction-tuned Llama from a GGUF file,
        # SmolLM2: <|im_end|>) stops there and reads every special token of its tokenizer in
        # a prompt: its chat template's markers (<|im_start|>, ...). A GPT reads and stops at
        # <|endoftext|> only.
        model_eos: int | None = getattr(model.config, "eos_token_id", None)
        self.prompt_ids, prompt_notices = encode_prompt(
            tokenizer,
            prompt,
            self.context_length,
            self.start_token,
            allowed_special=None if model_eos is None else tokenizer.special_tokens_set,
        )
        self.notices += prompt_notices
        self.top_n = top_n
        self.eos_id: int | None = (
            model_eos
            if model_eos is not None
            else tokenizer.eot_token
            if EOT in tokenizer.special_tokens_set
            else None
        )
        self.records: list[StepRecord] = []
        self._tokens: list[int] = list(self.prompt_ids)  # prompt + continuation
        self._rng_before: list[torch.Tensor] = []  # generator state before each step
        self.generator = torch.Generator(device="cpu")
        self.generator.manual_seed(self.config.seed)
        self._use_cache = use_cache
        self._cache: KVCache | None = None  # allocated at the first step that needs it
        # One-token cached steps run on the decoder picked for the cache (the native CPU
        # kernels, CUDA graphs; None: the plain model): same tokens, faster. ``native=False``
        # keeps the plain model's forward (benchmarks compare the two).
        self._native = native
        self._decoder: Decoder | None = None  # made with each cache, for that cache
        self._window_notice_given = False

    # ------------------------------------------------------------------ state
    @property
    def use_cache(self) -> bool:
        return self._use_cache

    def set_use_cache(self, enabled: bool) -> None:
        """Turn the KV cache on (filled lazily at the next step) or off; tokens are unaffected."""
        self._use_cache = enabled
        if not enabled:
            self._cache = self._decoder = None

    def release_cache(self) -> None:
        """Free the cache's memory (an inactive branch); the next step rebuilds it."""
        self._cache = self._decoder = None

    @property
    def eos_text(self) -> str:
        """The end token's text (``<|endoftext|>``, SmolLM2's ``<|im_end|>``)."""
        return EOT if self.eos_id is None else token_text(self.tokenizer, self.eos_id)

    @property
    def token_ids(self) -> list[int]:
        """Generated token ids (without the prompt)."""
        return [r.token_id for r in self.records]

    @property
    def finished(self) -> bool:
        return bool(self.records and self.records[-1].eos and self.config.stop_at_eos)

    @property
    def text(self) -> str:
        """The generated continuation as text."""
        return self.tokenizer.decode(self.token_ids)

    @property
    def prompt_text(self) -> str:
        """The prompt as the model reads it, without the start token."""
        return self.tokenizer.decode(self.prompt_ids[self.start_token is not None :])

    def __len__(self) -> int:
        return len(self.records)

    # ------------------------------------------------------------------ model
    def _next_logits(self) -> tuple[torch.Tensor, int, bool]:
        """Raw logits (V,) for the next position, tokens fed, and whether the cache was used."""
        seq = self._tokens
        device = self.model.device
        with torch.inference_mode():
            if len(seq) > self.context_length:
                # The last tokens that fit, behind the start token when the model has one.
                window, _ = crop_to_context(
                    torch.tensor(seq, device=device)[None], self.context_length, self.start_token
                )  # (1, C)
                keep = self.context_length - (self.start_token is not None)
                if self._cache is not None:
                    self._cache.truncate(0)  # positions shift each step: nothing reusable
                if not self._window_notice_given:
                    self._window_notice_given = True
                    self.notices.append(
                        f"The text is longer than the model's context ({self.context_length} "
                        f"tokens): each step now reads only the last {keep} tokens"
                        + (" behind the start token" if self.start_token is not None else "")
                        + " and recomputes them (no cache reuse)."
                    )
                logits = self.model(window, last_only=True)  # (1, 1, V)
                return logits[0, -1], window.shape[1], False
            if not self._use_cache:
                idx = torch.tensor(seq, device=device)[None]  # (1, T)
                return self.model(idx, last_only=True)[0, -1], len(seq), False
            if self._cache is None:
                self._set_cache(self.model.new_kv_cache(1))
            if self._cache.length >= len(seq):
                self._cache.truncate(len(seq) - 1)  # re-feed the last token to get its logits
            new = torch.tensor(seq[self._cache.length :], device=device)[None]  # (1, T_new)
            if self._decoder is not None and new.shape[1] == 1:
                logits = self._decoder.step(new)  # (1, V)
            else:
                logits = self.model(new, kv_cache=self._cache, last_only=True)[:, -1]  # (1, V)
            return logits[0], new.shape[1], True

    def _set_cache(self, cache: KVCache | None) -> None:
        """Use ``cache`` (or none) for the next steps, with the decoder picked for it."""
        self._cache = cache
        use_decoder = cache is not None and self._native
        self._decoder = pick_decoder(self.model, cache) if use_decoder else None

    # ------------------------------------------------------------------ stepping
    def _advance(self, forced: int | None) -> StepRecord:
        if forced is not None and not 0 <= forced < self.vocab_size:
            raise SamplingError(
                f"Token id {forced} is outside the vocabulary [0, {self.vocab_size})."
            )
        start = time.perf_counter()
        raw, n_new, cached = self._next_logits()
        raw = raw[: self.vocab_size].float().cpu()  # (V,)
        forward_ms = (time.perf_counter() - start) * 1000
        history = torch.tensor(self._tokens, dtype=torch.long)  # (T,)
        out = run_pipeline(raw, history, self.pipeline)
        final = out.final.probs  # (V,) float64
        rng_before = self.generator.get_state()
        if forced is not None:
            token, draw = forced, None
        else:
            token, draw = choose_token(final, self.generator, greedy=self.config.greedy)
        latency_ms = (time.perf_counter() - start) * 1000
        record = self._record(raw, out, token, draw, forced is not None, latency_ms, forward_ms)
        record = dataclasses.replace(record, new_tokens=n_new, cached=cached)
        self._rng_before.append(rng_before)
        self.records.append(record)
        self._tokens.append(token)
        return record

    def _record(
        self,
        raw: torch.Tensor,  # (V,) raw logits
        out: PipelineOutput,
        token: int,
        draw: float | None,
        forced: bool,
        latency_ms: float,
        forward_ms: float,
    ) -> StepRecord:
        """The JSON-ready record: candidates = raw top-n, final top-n and the chosen token."""
        raw_probs = out.stages[0].probs  # (V,)
        final = out.final.probs  # (V,)
        k = min(self.top_n, raw.numel())
        ids = set(torch.topk(raw, k).indices.tolist()) | {token}
        ids |= set(torch.topk(final, min(k, int((final > 0).sum()))).indices.tolist())
        # Values of the few candidates read in one go each (a tensor per element costs more).
        unordered = list(ids)
        raw_of = dict(zip(unordered, raw[torch.tensor(unordered)].tolist(), strict=True))
        ordered = sorted(ids, key=lambda i: (-raw_of[i], i))
        index = torch.tensor(ordered)  # (N,)
        candidates = tuple(
            Candidate(i, token_text(self.tokenizer, i), raw_of[i], p)
            for i, p in zip(ordered, raw_probs[index].tolist(), strict=True)
        )
        stages = tuple(
            StageRecord(
                name=s.name,
                label=s.label,
                probs=tuple(s.probs[index].tolist()),
                removed=tuple(
                    i for i, gone in zip(ordered, s.removed[index].tolist(), strict=True) if gone
                ),
                removed_count=int(s.removed.sum()),
                kept_count=int((s.probs > 0).sum()),
                entropy=entropy(s.probs),
                skipped=s.skipped,
            )
            for s in out.stages
        )
        logprob = float(torch.log_softmax(raw.double(), dim=-1)[token])
        return StepRecord(
            index=len(self.records),
            position=len(self._tokens),
            candidates=candidates,
            stages=stages,
            token_id=token,
            token_text=token_text(self.tokenizer, token),
            rank=int((raw > raw[token]).sum()),
            prob=float(final[token]),
            raw_prob=float(raw_probs[token]),
            logprob=logprob,
            entropy=stages[0].entropy,  # the raw distribution's, computed once above
            sampled_entropy=stages[-1].entropy,  # the final stage's probs are `final`
            forced=forced,
            draw=draw,
            eos=token == self.eos_id,
            latency_ms=latency_ms,
            forward_ms=forward_ms,
            notices=tuple(out.notices),
        )

    def step(self) -> StepRecord:
        """Generate one token with the configured processors and record why."""
        if self.finished:
            raise GenerationFinished(
                f"The model ended the text with {self.eos_text} at step {len(self.records)}. "
                "Rewind or branch from an earlier step to continue, or turn off "
                "'stop at end-of-text'."
            )
        return self._advance(None)

    def force(self, token_id: int) -> StepRecord:
        """Append ``token_id`` (any candidate the user picks); draws no random number."""
        return self._advance(int(token_id))

    def run(self, n: int) -> list[StepRecord]:
        """Up to ``n`` steps; stops early at end-of-text when ``stop_at_eos`` is on."""
        done = []
        for _ in range(n):
            if self.finished:
                break
            done.append(self.step())
        return done

    def run_within(
        self, n: int, seconds: float, clock: Callable[[], float] = time.perf_counter
    ) -> list[StepRecord]:
        """Up to ``n`` steps, but stop once ``seconds`` have passed (after at least one step).

        A long run is cut into such slices so a page can redraw and notice a Stop between
        them; a slice never exceeds ``n`` steps nor goes past end-of-text.
        """
        done: list[StepRecord] = []
        start = clock()
        for _ in range(n):
            if self.finished:
                break
            done.append(self.step())
            if clock() - start >= seconds:
                break
        return done

    def rewind(self, k: int = 1) -> None:
        """Undo the last ``k`` steps, restoring the generator and truncating the cache."""
        if not 0 <= k <= len(self.records):
            raise SamplingError(f"Cannot rewind {k} steps: the trajectory has {len(self.records)}.")
        if k == 0:
            return
        keep = len(self.records) - k
        self.generator.set_state(self._rng_before[keep])
        del self.records[keep:]
        del self._rng_before[keep:]
        del self._tokens[len(self.prompt_ids) + keep :]
        if self._cache is not None and self._cache.length > len(self._tokens):
            self._cache.truncate(len(self._tokens))

    def branch(self, at_step: int | None = None) -> Sampler:
        """An independent copy (own cache and generator), optionally rewound to ``at_step``."""
        twin = Sampler.__new__(Sampler)
        twin.__dict__.update(self.__dict__)
        twin.notices = list(self.notices)
        twin.records = list(self.records)
        twin._tokens = list(self._tokens)
        twin._rng_before = list(self._rng_before)
        twin.generator = torch.Generator(device="cpu")
        twin.generator.set_state(self.generator.get_state())
        twin._set_cache(self._cache.clone() if self._cache is not None else None)
        if at_step is not None:
            twin.rewind(len(twin.records) - at_step)
        return twin
