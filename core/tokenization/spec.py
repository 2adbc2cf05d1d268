"""Tokenizer identity ("spec") for checkpoints and runs, and loading a tokenizer from it.

A checkpoint must say which tokenizer produced its ids, and loading it later must
produce exactly that tokenizer or fail loudly (a model fed the wrong ids writes
nonsense without any error). The spec is a small JSON dict:

- ``{"kind": "tiktoken", "name": "gpt2"}``: one of the real OpenAI encodings;
- ``{"kind": "bpe", "name": ..., "path": ..., "sha256": ...}``: a trained tokenizer's
  JSON file, refused when its sha256 differs (the file was replaced or edited);
- ``{"kind": "bpe", "name": ..., "sha256": ..., "json": ...}``: the same, inline
  (self-contained checkpoints; a 4,096-token vocabulary is about 60 KB);
- ``{"kind": "run", "run_id": ..., "name": ..., "sha256": ...}``: a tokenizer saved in
  the run store (needs a database session to load).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import tiktoken
from sqlalchemy.orm import Session

from core.tokenization.encodings import ENCODING_NAMES, get_encoding
from core.tokenization.errors import TokenizerError
from core.tokenization.tokenizer import BPETokenizer

SPEC_KINDS: tuple[str, ...] = ("tiktoken", "bpe", "run")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tokenizer_spec(
    tokenizer: str | BPETokenizer, path: str | Path | None = None, *, inline: bool = False
) -> dict[str, Any]:
    """The JSON identity of ``tokenizer`` (an encoding name or a trained tokenizer).

    For a trained tokenizer, ``path`` is its JSON file: written there if absent, and
    checked to hold this very tokenizer if present. Without ``path`` (or with
    ``inline=True``) the JSON is embedded in the spec.
    """
    if isinstance(tokenizer, str):
        if tokenizer not in ENCODING_NAMES:
            raise TokenizerError(
                f"unknown encoding {tokenizer!r}; choose one of {', '.join(ENCODING_NAMES)}"
            )
        return {"kind": "tiktoken", "name": tokenizer}
    if not isinstance(tokenizer, BPETokenizer):
        raise TokenizerError(f"cannot describe a {type(tokenizer).__name__} as a tokenizer spec")
    text = tokenizer.to_json()
    digest = _sha256(text.encode("utf-8"))
    spec: dict[str, Any] = {"kind": "bpe", "name": tokenizer.name, "sha256": digest}
    if path is None or inline:
        spec["json"] = text
    if path is not None:
        path = Path(path)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tokenizer.save(path)
        elif _sha256(path.read_bytes()) != digest:
            raise TokenizerError(
                f"{path} already holds a different tokenizer; choose another file name"
            )
        spec["path"] = str(path.resolve())
    return spec


def load_bpe(spec: dict[str, Any], session: Session | None = None) -> BPETokenizer:
    """The trained tokenizer a ``bpe`` or ``run`` spec names, verified by sha256."""
    kind = spec.get("kind")
    expected = spec.get("sha256")
    if kind == "run":
        if session is None:
            raise TokenizerError(
                f"tokenizer run {spec.get('run_id')} is in the run store, but no database "
                "is available to load it from"
            )
        from core.tokenization.store import load_tokenizer_run

        tok = load_tokenizer_run(session, int(spec["run_id"]))
        if expected and tok.sha256() != expected:
            raise TokenizerError(
                f"tokenizer run {spec['run_id']} no longer matches the sha256 in the spec"
            )
        return tok
    if kind != "bpe":
        raise TokenizerError(f"spec kind {kind!r} is not a trained tokenizer")
    if "path" in spec and Path(spec["path"]).is_file():
        data = Path(spec["path"]).read_bytes()
        where = spec["path"]
    elif "json" in spec:
        data = str(spec["json"]).encode("utf-8")
        where = "the inline copy"
    elif "path" in spec:
        raise TokenizerError(
            f"tokenizer file {spec['path']} is missing; copy it back or retrain the tokenizer"
        )
    else:
        raise TokenizerError("a bpe tokenizer spec needs a 'path' or an inline 'json'")
    if expected and _sha256(data) != expected:
        raise TokenizerError(
            f"tokenizer file {where} has sha256 {_sha256(data)[:12]}..., but the checkpoint "
            f"expects {str(expected)[:12]}...: it was changed or replaced; restore the "
            "original file"
        )
    return BPETokenizer.from_json(data)


def load_tokenizer(spec: dict[str, Any], session: Session | None = None) -> tiktoken.Encoding:
    """The ``tiktoken.Encoding`` a spec names; TokenizerError when it cannot be had exactly."""
    if not isinstance(spec, dict) or spec.get("kind") not in SPEC_KINDS:
        raise TokenizerError(
            f"not a tokenizer spec: {spec!r} (expected a dict with kind in {SPEC_KINDS})"
        )
    if spec["kind"] == "tiktoken":
        return get_encoding(str(spec.get("name")))
    return load_bpe(spec, session).encoding()
