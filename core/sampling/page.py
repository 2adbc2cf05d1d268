"""The Sampling page's model: what the user wrote, the settings, the link, small derivations.

Pure pieces the page calls (tested without Streamlit):

- :class:`Prompt` is the text side of the page: plain text, or (for a model with a chat
  template) system and user messages; :meth:`Prompt.text` is what the model reads.
- :class:`Form` is everything the settings panel holds (prompt, :class:`SamplingConfig`,
  KV cache, N); the page keeps one in the session so the widgets come back after a visit
  to another page.
- :func:`prompt_from_link` and :func:`link_values` are the URL ⇄ state of the prompt: a plain
  prompt as ``prompt=``, a chat as ``chat=1&system=…&user=…``. Like the prompt, a chat goes
  into the link only when its messages add up to at most ``LINK_TEXT_CHARS`` characters;
  otherwise the link leaves the text (and the trajectory) out and :attr:`LinkText.note`
  says so. The sampling settings travel as ``SamplingConfig.to_query()`` and the trajectory
  as ``core.sampling.link.trajectory_query``.
- :func:`chosen_by`, :func:`compare_variants`, :func:`opened_message`: what a step's tile,
  the comparison's two settings and the "Opened run" message say.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from core.sampling.config import MAX_PENALTY, MAX_TEMPERATURE, SamplingConfig
from core.sampling.persist import ReplayResult
from core.sampling.records import StepRecord
from core.tokenization.gguf_tokenizer import render_chat

DEFAULT_PROMPT = "The quick brown fox"
DEFAULT_QUESTION = "What is the capital of France?"
CHAT, PLAIN = "Chat", "Plain text"
MODES = (CHAT, PLAIN)
RUN_N_MAX = 200  # tokens one Run N generates at most
DEFAULT_N = 20
LINK_TEXT_CHARS = 2000  # a prompt (or a chat's messages together) longer than this stays out


@dataclass(frozen=True)
class NumberSetting:
    """One numeric setting's widget: its bounds are the config's (0 or 1 = off where noted)."""

    setting: str  # a SamplingConfig.to_form() key
    label: str
    lo: float
    hi: float
    step: float
    help: str
    slider: bool = False  # a slider (bounded fractions) rather than a number box


NUMBER_SETTINGS = (
    NumberSetting("temperature", "Temperature", 0.0, MAX_TEMPERATURE, 0.1,
                  "Divides the logits: < 1 sharper, > 1 flatter, 0 = greedy."),
    NumberSetting("top_k", "Top-k (0 = off)", 0, 10_000_000, 1,
                  "Keep only the k most likely tokens."),
    NumberSetting("top_p", "Top-p (1 = off)", 0.0, 1.0, 0.01,
                  "Keep the smallest set of tokens whose probabilities add up to p.", True),
    NumberSetting("min_p", "Min-p (0 = off)", 0.0, 1.0, 0.01,
                  "Keep tokens at least this fraction as likely as the top token.", True),
    NumberSetting("repetition_penalty", "Repetition penalty", 0.0, MAX_PENALTY, 0.05,
                  "Seen tokens' logits are divided by it (multiplied if negative); 1 = off."),
    NumberSetting("presence_penalty", "Presence penalty", -MAX_PENALTY, MAX_PENALTY, 0.1,
                  "Subtracted from the logit of every token already in the text."),
)  # fmt: skip


@dataclass(frozen=True)
class Prompt:
    """What the model is given: a plain prompt, or a chat's messages (mode ``CHAT``)."""

    mode: str = CHAT  # CHAT or PLAIN; only a model with a chat template has the choice
    prompt: str = DEFAULT_PROMPT  # plain text the model continues
    system: str = ""  # chat: the system message; empty = the template's default
    user: str = DEFAULT_QUESTION  # chat: the user's message

    def is_chat(self, has_template: bool) -> bool:
        return has_template and self.mode != PLAIN

    def messages(self) -> list[dict[str, str]]:
        """The chat's messages, the system message first when there is one."""
        out = [{"role": "user", "content": self.user}]
        if self.system.strip():
            out.insert(0, {"role": "system", "content": self.system})
        return out

    def text(self, chat_template: str | None) -> str:
        """The text the model reads: the plain prompt, or the messages through the template
        (rendered in Jinja's sandbox; ``ChatTemplateError`` says what is wrong)."""
        if not self.is_chat(chat_template is not None):
            return self.prompt
        assert chat_template is not None
        return render_chat(chat_template, self.messages())


@dataclass(frozen=True)
class Form:
    """Everything the settings panel holds."""

    prompt: Prompt = field(default_factory=Prompt)
    config: SamplingConfig = field(default_factory=SamplingConfig)
    cache: bool = True  # KV cache on: same tokens, lower latency
    n: int = DEFAULT_N  # tokens per Run N


def prompt_from_link(values: Mapping[str, Any], present: Collection[str]) -> Prompt:
    """The prompt a link asks for (``values`` parsed by the page's URL specs).

    ``chat=1``/``chat=0`` decides the mode; a link with a ``prompt`` and no ``chat`` entry
    (links made before chat mode, or on a model without a template) opens in plain text;
    a link with neither opens in chat mode, the default.
    """
    if "chat" in present:
        mode = CHAT if values["chat"] else PLAIN
    else:
        mode = PLAIN if "prompt" in present else CHAT
    d = Prompt()
    return Prompt(
        mode=mode,
        prompt=str(values.get("prompt", d.prompt)),
        system=str(values.get("system", d.system)),
        user=str(values.get("user", d.user)),
    )


@dataclass(frozen=True)
class LinkText:
    """The link entries of a prompt, and what the page says when they do not fit."""

    values: dict[str, Any]  # entries for the page's URL specs (prompt or chat/system/user)
    note: str | None  # why the text is not in the link; None when it is

    @property
    def complete(self) -> bool:
        """The link holds the text, so it may hold the trajectory too."""
        return self.note is None


def link_values(prompt: Prompt, has_template: bool) -> LinkText:
    """What goes into the link for ``prompt`` (``chat`` only where a template gives a choice)."""
    if prompt.is_chat(has_template):
        size = len(prompt.system) + len(prompt.user)
        values: dict[str, Any] = {"chat": True}
        if size > LINK_TEXT_CHARS:
            return LinkText(
                values,
                f"The messages are {size:,} characters long: links keep messages of at most "
                f"{LINK_TEXT_CHARS:,} characters together, so this page's link does not "
                "include them.",
            )
        if prompt.system:
            values["system"] = prompt.system
        return LinkText(values | {"user": prompt.user}, None)
    values = {"chat": False} if has_template else {}
    if len(prompt.prompt) > LINK_TEXT_CHARS:
        return LinkText(
            values,
            f"The prompt is {len(prompt.prompt):,} characters long: links keep prompts of at "
            f"most {LINK_TEXT_CHARS:,}, so this page's link does not include it.",
        )
    return LinkText(values | {"prompt": prompt.prompt}, None)


def chat_link_waits(prompt: Prompt, has_template: bool) -> str | None:
    """Why a link's steps are not regenerated yet: they continue a chat, and the model
    picked has no chat template (the link does not name a model)."""
    if prompt.mode != CHAT or has_template:
        return None
    return (
        "This link holds a chat and the steps the model wrote in reply. Pick a chat model "
        "(SmolLM2) in the sidebar to see them; this model continues plain text."
    )


def opened_prompt(saved_prompt: str, current: Prompt) -> Prompt:
    """A saved trajectory reopened: its prompt exactly as the model read it (plain text,
    chat markers included); the chat messages typed so far are kept for later."""
    return replace(current, mode=PLAIN, prompt=saved_prompt)


# ---------------------------------------------------------------- what the views say
def fmt_p(p: float) -> str:
    """A probability for a tile: 3 decimals, or scientific below 0.001 (``4.2e-05``)."""
    return f"{p:.3f}" if p >= 0.001 or p == 0 else f"{p:.1e}"


def chosen_by(rec: StepRecord) -> tuple[str, str | None]:
    """(who chose the step's token, the tile's help): you, argmax or a seeded draw."""
    who = "you" if rec.forced else "argmax" if rec.draw is None else "draw"
    if rec.draw is None:
        return who, None
    return who, (
        f"Uniform draw u = {rec.draw:.4f} from the seeded generator; the token is where u "
        "falls in the cumulative distribution."
    )


def compare_variants(
    t_a: float, p_a: float, t_b: float, p_b: float
) -> dict[str, dict[str, float | None]]:
    """The comparison's two settings by label (``A: T=0.7, top-p 0.9``); top-p 1 = off."""

    def one(name: str, t: float, p: float) -> tuple[str, dict[str, float | None]]:
        label = f"{name}: T={t}" + (f", top-p {p}" if p < 1 else "")
        return label, {"temperature": t, "top_p": None if p == 1 else p}

    return dict([one("A", t_a, p_a), one("B", t_b, p_b)])


def opened_message(run_id: int, result: ReplayResult, steps: int) -> str:
    """What the page says after reopening a saved trajectory and replaying it."""
    if result.exact:
        how = "every token matched ✓"
    else:
        how = (
            f"re-sampling diverged at step {(result.first_mismatch or 0) + 1}; "
            "the saved tokens are shown"
        )
    return f"Opened run #{run_id} and replayed {steps} steps: {how}"
