"""Training data preparation and the learning-rate schedule."""

from __future__ import annotations

import pytest
import torch

from core.corpus import CorpusError, builtin_documents
from core.tokenization import get_encoding
from core.training import (
    TrainConfig,
    TrainConfigError,
    lr_at,
    prepare_data,
    random_batch,
)
from core.training.data import encode_documents, eval_windows


def test_schedule_warms_up_then_decays_to_min_lr():
    cfg = TrainConfig(lr=1.0, min_lr=0.1, warmup_steps=10, steps=110)
    assert [round(lr_at(s, cfg), 4) for s in (0, 4, 9)] == [0.1, 0.5, 1.0]
    assert lr_at(60, cfg) == pytest.approx(
        0.1 + 0.45 * (1 + torch.cos(torch.tensor(torch.pi * 50 / 99)).item())
    )
    assert lr_at(109, cfg) == pytest.approx(0.1)
    lrs = [lr_at(s, cfg) for s in range(10, 110)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))


def test_train_config_round_trip_and_validation():
    cfg = TrainConfig(steps=7, precision="bf16")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(TrainConfigError, match="precision"):
        TrainConfig(precision="fp8")
    with pytest.raises(TrainConfigError, match="min_lr"):
        TrainConfig(lr=1e-3, min_lr=1e-2)
    with pytest.raises(TrainConfigError, match="unknown"):
        TrainConfig.from_dict({"stepz": 3})


def test_documents_are_separated_by_end_of_text():
    enc = get_encoding("gpt2")
    ids, eot = encode_documents(["Hello", "", "world"], enc)
    assert eot == 50256
    assert ids.tolist() == [15496, 50256, 6894, 50256]


def test_split_keeps_the_tail_for_validation():
    enc = get_encoding("gpt2")
    data = prepare_data(builtin_documents()[:10], enc, context_length=32, val_fraction=0.1)
    ids, _ = encode_documents(builtin_documents()[:10], enc)
    assert data.n_tokens == len(ids)
    assert len(data.val) == int(len(ids) * 0.1)
    assert torch.equal(torch.cat([data.train, data.val]), ids)


@pytest.mark.parametrize(
    ("docs", "message"), [([], "empty"), (["   "], "empty"), (["a short text"], "at least")]
)
def test_unusable_corpora_are_refused(docs, message):
    with pytest.raises(CorpusError, match=message):
        prepare_data(docs, get_encoding("gpt2"), context_length=16)


def test_batches_are_shifted_windows_and_seeded():
    ids = torch.arange(100)
    x, y = random_batch(ids, 4, 8, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 8)
    assert torch.equal(y, x + 1)
    x2, _ = random_batch(ids, 4, 8, torch.Generator().manual_seed(0))
    assert torch.equal(x, x2)
    ex, ey = eval_windows(ids, 8, 5)
    assert ex[:, 0].tolist() == [0, 22, 45, 68, 91] and torch.equal(ey, ex + 1)


def test_windows_with_a_start_token_begin_with_it_and_predict_the_text():
    ids = torch.arange(100)
    x, y = random_batch(ids, 4, 8, torch.Generator().manual_seed(0), start_token=999)
    assert x.shape == y.shape == (4, 8)
    assert x[:, 0].tolist() == [999] * 4  # the start token, then 7 text tokens
    assert torch.equal(x[:, 1:], y[:, :-1]) and torch.equal(y[:, 1:], y[:, :-1] + 1)
    assert int(y.max()) <= 99  # the last window may end at the last token, not beyond
    ex, ey = eval_windows(ids, 8, 5, start_token=999)
    assert ex[:, 0].tolist() == [999] * 5 and ey[:, 0].tolist() == [0, 23, 46, 69, 92]
    assert ey[-1, -1] == 99
    # the windows without a start token are what they always were
    plain = random_batch(ids, 4, 8, torch.Generator().manual_seed(0))
    assert torch.equal(plain[1], plain[0] + 1)
