"""A GGUF file's byte-level BPE tokenizer as a ``tiktoken.Encoding``, and its chat template.

A GGUF model carries its tokenizer in the metadata: ``tokenizer.ggml.tokens`` (every token's
text in GPT-2's byte-to-character alphabet, e.g. ``"Ġthe"`` for ``b" the"``), ``merges``
(``"Ġ t"``: the pairs in the order BPE learned them), ``token_type`` (1 normal, 3 control,
4 user-defined) and ``pre`` (which regex splits text into words before BPE). tiktoken's BPE
merges, inside each word, the adjacent pair whose merged token has the lowest rank. When
each merge makes a different token and token ids grow with the merge order (true of
SmolLM2), "lowest id" is "earliest merge", so the token ids serve as tiktoken ranks and
the fast Rust encoder gives exactly the tokens of Hugging Face's BPE.
(Raschka, "Build a Large Language Model (From Scratch)", 2.5: byte pair encoding.)

Pre-tokenizer ``smollm`` (SmolLM/SmolLM2's ``tokenizer.json``; llama.cpp's
``LLAMA_VOCAB_PRE_TYPE_SMOLLM``): every digit is a word of its own, then GPT-2's regex.
One difference remains: SmolLM2's vocabulary lacks 21 of the 256 byte tokens (6 control
characters such as U+0004, lead bytes of unassigned planes, bytes that never occur in
UTF-8). Hugging Face drops those bytes; here the characters are left out of every regex
match, so tiktoken drops them too (a neighbouring punctuation run may split differently).

The chat template is Jinja, rendered in ``jinja2.sandbox.ImmutableSandboxedEnvironment``
as Hugging Face renders it (``trim_blocks``, ``lstrip_blocks``): a template from a file
cannot reach Python objects or change the messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import tiktoken

from core.tokenization.errors import TokenizerError

# GPT-2's regex (tiktoken_ext.openai_public.gpt2) with one change: {EXCLUDED} marks where
# characters of bytes the vocabulary lacks are left out.
_GPT2 = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}{EXCLUDED}]+|\s+(?!\S)|\s+"""
# Digits first, one per word; whitespace before a digit stays a word of its own (the
# lookahead treats a digit like the end of the text, as a separate pre-tokenizer pass does).
_SMOLLM = (
    r"""\p{N}|'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?[^\s\p{L}\p{N}{EXCLUDED}]+|\s+(?![^\s\p{N}])|\s+"""
)
PRE_TOKENIZERS = {"smollm": _SMOLLM, "gpt-2": _GPT2, "default": _GPT2}

NORMAL, CONTROL, USER_DEFINED = 1, 3, 4
MAX_TEMPLATE_CHARS = 20_000
MAX_CHAT_CHARS = 100_000
CHAT_ROLES = ("system", "user", "assistant")


class ChatTemplateError(TokenizerError):
    """A chat template that cannot be rendered, or messages it cannot take."""


def _byte_alphabet() -> dict[str, int]:
    """GPT-2's printable stand-in character for each byte -> the byte (``"Ġ"`` -> 32)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    printable += range(ord("®"), ord("ÿ") + 1)
    chars = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + extra)
            extra += 1
    return {c: b for b, c in chars.items()}


def _excluded_class(missing: set[int]) -> str:
    """Regex class items for the characters whose UTF-8 needs a byte the vocabulary lacks."""
    items = []
    for b in sorted(missing):
        if b < 0x80:
            items.append(f"\\x{{{b:x}}}")
        elif 0xC2 <= b <= 0xDF:  # lead byte of a 2-byte character
            lo = (b & 0x1F) << 6
            items.append(f"\\x{{{lo:x}}}-\\x{{{lo + 0x3F:x}}}")
        elif 0xE0 <= b <= 0xEF:  # 3-byte
            lo = (b & 0x0F) << 12
            items.append(f"\\x{{{max(lo, 0x800):x}}}-\\x{{{lo + 0xFFF:x}}}")
        elif 0xF0 <= b <= 0xF4:  # 4-byte
            lo = (b & 0x07) << 18
            items.append(f"\\x{{{max(lo, 0x10000):x}}}-\\x{{{min(lo + 0x3FFFF, 0x10FFFF):x}}}")
        elif 0x80 <= b <= 0xBF:
            raise TokenizerError(
                f"the vocabulary has no token for the UTF-8 continuation byte 0x{b:02x}: "
                "text cannot be encoded with it"
            )
        # 0xC0, 0xC1, 0xF5..0xFF never occur in UTF-8: nothing to exclude
    return "".join(items)


def _meta(metadata: Mapping[str, Any], key: str) -> Any:
    if key not in metadata:
        raise TokenizerError(f"the GGUF metadata has no {key!r}: the file carries no tokenizer")
    return metadata[key]


def gguf_encoding(metadata: Mapping[str, Any], name: str) -> tiktoken.Encoding:
    """A ``tiktoken.Encoding`` from a GGUF file's tokenizer metadata.

    Raises :class:`TokenizerError` when the tokenizer is not byte-level BPE, its
    pre-tokenizer is unknown, or its merges cannot be expressed as tiktoken ranks.
    """
    kind = metadata.get("tokenizer.ggml.model")
    if kind != "gpt2":
        raise TokenizerError(
            f"the GGUF tokenizer is {kind!r}; only byte-level BPE ('gpt2') is supported"
        )
    pre = str(metadata.get("tokenizer.ggml.pre", "default"))
    if pre not in PRE_TOKENIZERS:
        raise TokenizerError(
            f"pre-tokenizer {pre!r} is not supported; supported: {', '.join(PRE_TOKENIZERS)}"
        )
    tokens: Sequence[str] = _meta(metadata, "tokenizer.ggml.tokens")
    types = metadata.get("tokenizer.ggml.token_type") or [NORMAL] * len(tokens)
    merges: Sequence[str] = metadata.get("tokenizer.ggml.merges") or []  # none: bytes only
    if len(types) != len(tokens):
        raise TokenizerError("the GGUF tokenizer has a token_type list of another length")
    alphabet = _byte_alphabet()
    ranks: dict[bytes, int] = {}
    special: dict[str, int] = {}
    for i, (text, kind_) in enumerate(zip(tokens, types, strict=True)):
        if kind_ in (CONTROL, USER_DEFINED):
            special[text] = i
            continue
        try:
            ranks[bytes(alphabet[c] for c in text)] = i
        except KeyError as exc:
            raise TokenizerError(f"token {i} ({text!r}) is not in the byte alphabet") from exc
    _check_merge_order(tokens, merges)
    missing = {b for b in range(256) if bytes([b]) not in ranks}
    pattern = PRE_TOKENIZERS[pre].replace("{EXCLUDED}", _excluded_class(missing))
    return tiktoken.Encoding(
        name=name,
        pat_str=pattern,
        mergeable_ranks=ranks,
        special_tokens=special,
        explicit_n_vocab=len(tokens),
    )


def _check_merge_order(tokens: Sequence[str], merges: Sequence[str]) -> None:
    """Raise unless merge k makes a new token whose id grows with k (ids work as ranks)."""
    index = {t: i for i, t in enumerate(tokens)}
    previous = -1
    for k, merge in enumerate(merges):
        left, sep, right = merge.partition(" ")
        made = index.get(left + right)
        if not sep or made is None or made <= previous:
            raise TokenizerError(
                f"merge {k} ({merge!r}) does not make a token with a higher id than the merge "
                "before it: this vocabulary's ranks cannot drive tiktoken"
            )
        previous = made


# ------------------------------------------------------------------ chat template


def validate_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Plain ``{"role", "content"}`` dicts; :class:`ChatTemplateError` for anything else."""
    clean, total = [], 0
    for i, m in enumerate(messages):
        role, content = m.get("role"), m.get("content")
        if role not in CHAT_ROLES:
            raise ChatTemplateError(f"message {i + 1} has role {role!r}; use one of {CHAT_ROLES}")
        if not isinstance(content, str):
            raise ChatTemplateError(f"message {i + 1} has no text")
        total += len(content)
        clean.append({"role": role, "content": content})
    if total > MAX_CHAT_CHARS:
        raise ChatTemplateError(
            f"the messages hold {total:,} characters; at most {MAX_CHAT_CHARS:,} fit"
        )
    return clean


def render_chat(
    template: str,
    messages: Sequence[Mapping[str, Any]],
    *,
    add_generation_prompt: bool = True,
    special_tokens: Mapping[str, str] | None = None,
) -> str:
    """The prompt text a chat model reads: ``template`` applied to ``messages``.

    ``special_tokens`` are the template's variables such as ``bos_token``/``eos_token``.
    Example (ChatML): ``[{"role": "user", "content": "Hi"}]`` ->
    ``"<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n"`` (plus a system turn
    when the template adds a default one).
    """
    from jinja2 import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    if len(template) > MAX_TEMPLATE_CHARS:
        raise ChatTemplateError(f"the chat template is longer than {MAX_TEMPLATE_CHARS} chars")
    clean = validate_messages(messages)

    def raise_exception(message: str) -> None:
        raise ChatTemplateError(f"the chat template refused the messages: {message}")

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
    env.globals["raise_exception"] = raise_exception
    try:
        compiled = env.from_string(template)
        return compiled.render(
            messages=clean,
            add_generation_prompt=add_generation_prompt,
            **dict(special_tokens or {}),
        )
    except ChatTemplateError:
        raise
    except (TemplateError, TypeError, ValueError) as exc:  # SecurityError is a TemplateError
        raise ChatTemplateError(f"the chat template cannot be rendered: {exc}") from exc
