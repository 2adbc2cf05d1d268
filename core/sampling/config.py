"""Sampling settings: a typed, validated, JSON-serializable `SamplingConfig`.

The knobs follow the decoding literature the playground teaches:

- temperature scaling and top-k, as in the book's ``generate(temperature, top_k)``
  (Raschka, *Build a Large Language Model (From Scratch)*, ch. 5.3);
- nucleus (top-p) sampling (Holtzman et al., 2020, "The Curious Case of Neural Text
  Degeneration");
- min-p sampling (Nguyen et al., 2024, "Turning Up the Heat: Min-p Sampling");
- the CTRL repetition penalty (Keskar et al., 2019) and an OpenAI-style presence penalty.

`SamplingConfig.resolve(vocab_size)` turns raw user settings into the settings that are
actually applied plus human-readable notices (temperature 0 means greedy, a top-k larger
than the vocabulary keeps everything), and raises `SamplingConfigError` with an actionable
message for settings that cannot mean anything (top-p 0, a negative temperature, ...).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class SamplingConfigError(ValueError):
    """A sampling setting is invalid; the message says which one and what to use instead."""


class ProcessorName(StrEnum):
    """The logits processors a user can put into the pipeline, in any order."""

    REPETITION_PENALTY = "repetition_penalty"
    PRESENCE_PENALTY = "presence_penalty"
    TEMPERATURE = "temperature"
    TOP_K = "top_k"
    TOP_P = "top_p"
    MIN_P = "min_p"


PROCESSOR_LABELS: dict[str, str] = {
    ProcessorName.REPETITION_PENALTY: "repetition penalty",
    ProcessorName.PRESENCE_PENALTY: "presence penalty",
    ProcessorName.TEMPERATURE: "temperature",
    ProcessorName.TOP_K: "top-k",
    ProcessorName.TOP_P: "top-p",
    ProcessorName.MIN_P: "min-p",
}

#: Upper bounds: beyond them a setting no longer changes anything visible (and the page's
#: widgets stop there).
MAX_TEMPERATURE = 100.0
MAX_PENALTY = 100.0
MAX_SEED = 2**32 - 1

#: The conventional order (penalties on raw logits, then temperature, then the filters).
DEFAULT_ORDER: tuple[str, ...] = tuple(p.value for p in ProcessorName)


@dataclass(frozen=True)
class SamplingConfig:
    """Everything that decides which token a trajectory picks (with the prompt and model)."""

    temperature: float = 1.0  # divides the logits; < 1 sharpens, > 1 flattens, 0 means greedy
    top_k: int | None = None  # keep only the k most likely tokens; None = off
    top_p: float | None = None  # keep the smallest set with cumulative prob >= p; None = off
    min_p: float | None = None  # keep tokens with prob >= min_p * max prob; None = off
    repetition_penalty: float = 1.0  # CTRL: seen tokens' logits /= penalty (x penalty if < 0)
    presence_penalty: float = 0.0  # subtract this from the logit of every token already seen
    greedy: bool = False  # pick the most likely remaining token instead of drawing one
    seed: int = 0  # seeds the trajectory's own torch.Generator: same seed => same draws
    order: tuple[str, ...] = field(default=DEFAULT_ORDER)  # which processors run, in order
    stop_at_eos: bool = True  # stop when the model emits <|endoftext|>

    def __post_init__(self) -> None:
        # JSON gives lists back; keep the frozen dataclass hashable and comparable.
        object.__setattr__(self, "order", tuple(str(p) for p in self.order))

    # ------------------------------------------------------------------ validation
    def resolve(self, vocab_size: int) -> tuple[SamplingConfig, list[str]]:
        """Return the effective config for a vocabulary and notices about what was changed.

        Example: ``SamplingConfig(temperature=0).resolve(50257)`` gives a config with
        ``greedy=True, temperature=1.0`` and the notice that temperature 0 means greedy.
        Raises `SamplingConfigError` for settings that cannot be applied.
        """
        notices: list[str] = []
        known = {p.value for p in ProcessorName}
        unknown = [p for p in self.order if p not in known]
        if unknown:
            raise SamplingConfigError(
                f"Unknown processor(s) {unknown} in the order; choose from {sorted(known)}."
            )
        if len(set(self.order)) != len(self.order):
            raise SamplingConfigError(
                f"Each processor may appear once in the order, got {list(self.order)}."
            )
        if not math.isfinite(self.temperature) or not 0 <= self.temperature <= MAX_TEMPERATURE:
            raise SamplingConfigError(
                f"Temperature must be a number from 0 (greedy) to {MAX_TEMPERATURE:g}, "
                f"got {self.temperature}."
            )
        changes: dict[str, Any] = {}
        if self.temperature == 0:
            changes.update(greedy=True, temperature=1.0)
            notices.append(
                "Temperature 0 means always taking the most likely token: using greedy decoding."
            )
        if self.top_k is not None:
            if self.top_k < 1:
                raise SamplingConfigError(
                    f"top-k must be at least 1 (or off), got {self.top_k}; "
                    "top-k 1 is the same as greedy decoding."
                )
            if self.top_k > vocab_size:
                changes["top_k"] = None
                notices.append(
                    f"top-k {self.top_k} is larger than the vocabulary ({vocab_size} tokens): "
                    "it keeps every token, so top-k is off."
                )
        if self.top_p is not None and not (0.0 < self.top_p <= 1.0):
            raise SamplingConfigError(
                f"top-p must be in (0, 1], got {self.top_p}: top-p 0 would keep no token and "
                "values above 1 mean nothing. Use top-p 1 (or off) to keep all tokens, or "
                "temperature 0 for greedy decoding."
            )
        if self.min_p is not None and not (0.0 <= self.min_p <= 1.0):
            raise SamplingConfigError(
                f"min-p must be in [0, 1] (a fraction of the top token's probability), "
                f"got {self.min_p}."
            )
        if not 0 < self.repetition_penalty <= MAX_PENALTY:  # also rejects NaN
            raise SamplingConfigError(
                f"The repetition penalty must be > 0 and <= {MAX_PENALTY:g} (1 = off, 1.1-1.3 "
                f"is typical), got {self.repetition_penalty}."
            )
        if not -MAX_PENALTY <= self.presence_penalty <= MAX_PENALTY:
            raise SamplingConfigError(
                f"The presence penalty must be between -{MAX_PENALTY:g} and {MAX_PENALTY:g}, "
                f"got {self.presence_penalty}."
            )
        if not 0 <= self.seed <= MAX_SEED:
            raise SamplingConfigError(f"The seed must be in [0, 2^32), got {self.seed}.")
        return dataclasses.replace(self, **changes), notices

    # ------------------------------------------------------------------ serialization
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``order`` as a list)."""
        data = dataclasses.asdict(self)
        data["order"] = list(self.order)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SamplingConfig:
        """Inverse of `to_dict`; unknown keys raise `SamplingConfigError`."""
        names = {f.name for f in dataclasses.fields(cls)}
        extra = set(data) - names
        if extra:
            raise SamplingConfigError(f"Unknown sampling setting(s): {sorted(extra)}.")
        return cls(**dict(data))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SamplingConfig:
        return cls.from_dict(json.loads(text))

    # ------------------------------------------------------------------ URL form
    def to_query(self) -> dict[str, str]:
        """Short string form for ``st.query_params``: only values that differ from default."""
        default = SamplingConfig()
        out: dict[str, str] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value == getattr(default, f.name):
                continue
            if f.name == "order":
                out["order"] = ",".join(value)
            elif isinstance(value, bool):
                out[f.name] = "1" if value else "0"
            else:
                out[f.name] = "" if value is None else str(value)
        return out

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> SamplingConfig:
        """Parse `to_query` output (unknown keys are ignored; bad numbers raise)."""
        kwargs: dict[str, Any] = {}
        converters = {
            "temperature": float,
            "top_k": int,
            "top_p": float,
            "min_p": float,
            "repetition_penalty": float,
            "presence_penalty": float,
            "seed": int,
        }
        try:
            for name, conv in converters.items():
                if name in params:
                    raw = params[name]
                    kwargs[name] = None if raw in ("", "None") else conv(raw)
            for name in ("greedy", "stop_at_eos"):
                if name in params:
                    kwargs[name] = params[name] in ("1", "true", "True")
            if "order" in params:
                kwargs["order"] = tuple(p for p in params["order"].split(",") if p)
        except ValueError as exc:
            raise SamplingConfigError(
                f"A sampling setting in the link is not a number: {exc}"
            ) from exc
        return cls(**kwargs)

    # ------------------------------------------------------------------ form (widgets)
    def to_form(self) -> dict[str, Any]:
        """Values for form widgets, with "off" as a number: top-k 0, top-p 1, min-p 0."""
        return {
            "temperature": float(self.temperature),
            "top_k": int(self.top_k or 0),
            "top_p": 1.0 if self.top_p is None else float(self.top_p),
            "min_p": float(self.min_p or 0.0),
            "repetition_penalty": float(self.repetition_penalty),
            "presence_penalty": float(self.presence_penalty),
            "greedy": bool(self.greedy),
            "seed": int(self.seed),
            "stop_at_eos": bool(self.stop_at_eos),
            "order": list(self.order),
        }

    @classmethod
    def from_form(cls, values: Mapping[str, Any]) -> SamplingConfig:
        """Inverse of `to_form` (top-k 0, top-p 1 and min-p 0 become None = off)."""
        return cls(
            temperature=float(values["temperature"]),
            top_k=int(values["top_k"]) or None,
            top_p=None if float(values["top_p"]) == 1.0 else float(values["top_p"]),
            min_p=float(values["min_p"]) or None,
            repetition_penalty=float(values["repetition_penalty"]),
            presence_penalty=float(values["presence_penalty"]),
            greedy=bool(values["greedy"]),
            seed=int(values["seed"]),
            stop_at_eos=bool(values["stop_at_eos"]),
            order=tuple(values["order"]),
        )

    def active_processors(self) -> list[str]:
        """The processors in `order` whose settings change anything (for display)."""
        neutral = {
            ProcessorName.REPETITION_PENALTY: self.repetition_penalty == 1.0,
            ProcessorName.PRESENCE_PENALTY: self.presence_penalty == 0.0,
            ProcessorName.TEMPERATURE: self.temperature in (0.0, 1.0),
            ProcessorName.TOP_K: self.top_k is None,
            ProcessorName.TOP_P: self.top_p is None or self.top_p == 1.0,
            ProcessorName.MIN_P: self.min_p is None or self.min_p == 0.0,
        }
        return [p for p in self.order if not neutral[ProcessorName(p)]]
