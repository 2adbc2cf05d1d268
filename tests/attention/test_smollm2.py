"""SmolLM2 (the real file): its attention maps against transformers', one head number by
number against its own attention, and the induction probe finding its induction heads.

Skips with a how-to when the file is absent (fails under GLASSBOX_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.attention import capture_attention, explain_head, head_layout, run_induction_probe
from core.attention.explain import model_attention_output
from core.tokenization.gguf_tokenizer import gguf_encoding

pytestmark = pytest.mark.slow

TEXT = "Alice gave Bob a book. Then Alice gave Bob"


@pytest.fixture(scope="module")
def smollm2(smollm2_model, smollm2_gguf):  # shared by the session (tests/conftest.py)
    encoding = gguf_encoding(smollm2_gguf.metadata, "smollm2")
    return smollm2_model, encoding


def test_attention_maps_equal_transformers(smollm2, smollm2_reference):
    model, encoding = smollm2
    reference = smollm2_reference  # transformers' loader, eager attention
    ids = encoding.encode(TEXT)
    ours = capture_attention(model, ids)  # (30, 9, T, T)
    with torch.no_grad():
        theirs = reference(torch.tensor([ids]), output_attentions=True).attentions
    theirs = torch.stack([a[0] for a in theirs]).numpy()
    assert ours.shape == theirs.shape == (30, 9, len(ids), len(ids))
    np.testing.assert_allclose(ours, theirs, atol=2e-4)


def test_one_head_number_by_number_equals_the_model(smollm2):
    model, encoding = smollm2
    ids = encoding.encode(TEXT)[:12]
    captured = capture_attention(model, ids)
    for layer, head in ((0, 0), (17, 4), (29, 8)):
        steps = explain_head(model, ids, layer, head)
        assert steps.kv_head == head // 3 and steps.angles.shape == (len(ids), 32)
        np.testing.assert_allclose(steps.weights, captured[layer, head], atol=1e-5)
        own = model_attention_output(model, ids, layer)
        np.testing.assert_allclose(steps.output, own, atol=1e-4)


def test_probe_finds_the_induction_heads(smollm2):
    model, _ = smollm2
    assert head_layout(model).sharing(4) == (3, 4, 5)
    result = run_induction_probe(model, seed=0)
    assert result.length == 50
    scores = result.scores
    top = np.unravel_index(int(scores.argmax()), scores.shape)
    assert top == (18, 6) and scores[top] > 0.85
    # three query heads of layer 17 that read the same key/value head all do induction
    assert (scores[17, 3:6] > 0.7).all()
    assert int((scores >= 0.4).sum()) == 8
    assert float(np.median(scores)) < 0.05  # most heads do something else
