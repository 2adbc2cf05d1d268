"""The Tokenization page's model (core.tokenization.page): state ⇄ link, menus, lab texts."""

from __future__ import annotations

import dataclasses

import pytest

from core.corpus import CorpusError
from core.tokenization import page as tp
from core.tokenization.analysis import TokenCounts


def test_default_view_goes_into_the_link_whole():
    link = tp.link_values(tp.TokView())
    assert link.values == {
        "view": "Explore",
        "enc": "gpt2",
        "cmp": ("gpt2", "cl100k_base", "o200k_base"),
        "ws": False,
        "special": False,
        "text": tp.DEFAULT_TEXT,
    }
    assert link.note is None and link.drop == ()
    assert tp.TokView(**link.values) == tp.TokView()  # and comes back


def test_the_trained_tokenizer_is_shared_as_gpt2_and_left_out_of_compare():
    state = tp.TokView(view="Compare", enc=tp.TRAINED, cmp=("o200k_base", tp.TRAINED, "gpt2"))
    link = tp.link_values(state)
    assert link.values["enc"] == "gpt2"
    assert link.values["cmp"] == ("o200k_base", "gpt2")


def test_a_text_over_the_bound_stays_out_with_a_note():
    assert "text" in tp.link_values(tp.TokView(text="a" * 2000)).values
    link = tp.link_values(tp.TokView(text="a" * 2001, ws=True))
    assert "text" not in link.values and link.drop == ("text",) and link.values["ws"] is True
    assert link.note == (
        "The text is 2,001 characters long: links keep texts of at most 2,000, so this "
        "page's link does not include it."
    )


def test_menus_keep_valid_choices():
    known = {"gpt2": "GPT-2", "cl100k_base": "cl100k", "run:4": "my bpe"}
    assert tp.menu(known, trained=False) == ["gpt2", "cl100k_base", "run:4"]
    options = tp.menu(known, trained=True)
    assert options[-1] == tp.TRAINED
    assert tp.explored("run:9", options) == "gpt2"  # a deleted run's tokenizer
    assert tp.explored("run:4", options) == "run:4"
    assert tp.compared(["o200k_base", "run:4", "gpt2"], options) == ["run:4", "gpt2"]
    assert tp.option_label("run:4", known, None) == "my bpe"
    assert tp.option_label("other", known, None) == "other"
    assert tp.option_label(tp.TRAINED, known, "bpe-gpt4-512-x") == (
        "Trained in the BPE lab (bpe-gpt4-512-x)"
    )
    assert tp.option_label(tp.TRAINED, known, None) == "Trained tokenizer"


def test_specials_written_in_a_text():
    specials = {"<|endoftext|>", "<|fim_prefix|>"}
    assert tp.specials_in("a <|fim_prefix|> b <|endoftext|>", specials) == [
        "<|endoftext|>",
        "<|fim_prefix|>",
    ]
    assert tp.specials_in("<|endoftext", specials) == []


@pytest.mark.parametrize(
    ("text_len", "covered", "upto", "notice"),
    [
        (100, [100, 100], 100, None),
        (5000, [5000, 5000], 3000, "first 3,000 of 5,000 characters"),
        (2500, [2500, 1800], 1800, "first 1,800 of 2,500 characters"),
    ],
)
def test_aligned_chars_are_bounded(text_len, covered, upto, notice):
    assert tp.aligned_chars(text_len, covered) == upto
    got = tp.aligned_notice(upto, text_len)
    assert got is None if notice is None else notice in got


def test_lab_name_curve_and_caption():
    assert tp.bpe_name("gpt4", 1024, "x" * 50) == "bpe-gpt4-1024-" + "x" * 40
    sizes, ratios, marker = tp.lab_curve([1.0, 1.5, 2.0], n_special=1, k=2)
    assert sizes == [257, 258, 259] and ratios == [1.0, 1.5, 2.0] and marker == (259, 2.0)
    counts = TokenCounts(tokens=1200, chars=3000, bytes=3000)
    assert tp.merge_caption(counts, 1000) == (
        "1,200 tokens for 3,000 characters (2.50 chars/token) after 1,000 merges. Underlined "
        "in red: the token merge k created."
    )


def test_view_fields_are_the_link_entries():
    assert [f.name for f in dataclasses.fields(tp.TokView)] == [
        "view", "text", "enc", "cmp", "ws", "special"
    ]  # fmt: skip


def test_upload_text_refuses_over_the_limit_and_non_utf8():
    assert tp.upload_text("a.txt", "héllo".encode(), 6) == "héllo"
    with pytest.raises(CorpusError, match=r"^a\.txt is 1\.5 MB; this page takes files up to 1 MB$"):
        tp.upload_text("a.txt", b"x" * (3 * 2**19), 2**20)
    with pytest.raises(CorpusError, match="not valid UTF-8"):
        tp.upload_text("b.txt", b"\xff\xfe", 100)
