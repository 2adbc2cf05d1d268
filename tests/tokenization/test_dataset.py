"""Sliding-window dataset (the book's §2.6): exact windows, targets shifted by one."""

from __future__ import annotations

import pytest
import torch

from core.tokenization import (
    SlidingWindowDataset,
    TokenizerError,
    WindowConfig,
    get_encoding,
    window_starts,
)


def test_windows_and_targets():
    ds = SlidingWindowDataset([10, 11, 12, 13, 14, 15], max_length=3, stride=2)
    assert len(ds) == 2
    x, y = ds[1]
    assert x.tolist() == [12, 13, 14] and y.tolist() == [13, 14, 15]
    assert x.dtype == torch.long
    with pytest.raises(IndexError):
        ds[2]


@pytest.mark.parametrize(
    ("n", "length", "stride", "starts"),
    [(9, 4, 4, [0, 4]), (9, 4, 1, [0, 1, 2, 3, 4]), (5, 4, 4, [0]), (4, 4, 4, [])],
)
def test_window_starts(n, length, stride, starts):
    assert list(window_starts(n, length, stride)) == starts


def test_book_example_first_batch():
    enc = get_encoding("gpt2")
    text = "In the heart of the city stood the old library, a relic from a bygone era."
    ds = SlidingWindowDataset.from_text(text, enc, max_length=4, stride=4)
    ids = enc.encode(text)
    for i in range(len(ds)):
        x, y = ds[i]
        assert x.tolist() == ids[4 * i : 4 * i + 4] and y.tolist() == ids[4 * i + 1 : 4 * i + 5]
    assert ds.coverage() <= 1.0


def test_too_short_and_bad_settings():
    with pytest.raises(TokenizerError, match="needs max_length \\+ 1 = 9"):
        SlidingWindowDataset([1, 2, 3], max_length=8, stride=8)
    with pytest.raises(TokenizerError, match="at least 1"):
        window_starts(10, 0, 1)


def test_config_json_round_trip():
    cfg = WindowConfig(max_length=64, stride=32)
    assert WindowConfig.from_dict(cfg.to_dict()) == cfg
