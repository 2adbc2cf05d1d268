"""The Tokenization page under AppTest: views, URL state, bad input, BPE lab, saving a run."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.store import get_run, open_database
from core.tokenization import get_encoding
from core.tokenization.bpe import MAX_TRAIN_CHARS, corpus_refusal
from core.tokenization.examples import EXAMPLES
from tests.app.rendered import live_markup, plain

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "tokenization.py")


def make_app(**query: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def html_bodies(at: AppTest) -> list[str]:
    return [h.proto.body for h in at.get("html")]


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def test_default_view_counts_prose_with_gpt2():
    at = make_app()
    no_exception(at)
    text = EXAMPLES["Prose"]
    ids = get_encoding("gpt2").encode(text)
    assert metrics(at) == {
        "Tokens": f"{len(ids)}",
        "Characters": f"{len(text)}",
        "UTF-8 bytes": f"{len(text.encode())}",
        "Chars / token": f"{len(text) / len(ids):.2f}",
    }
    body = html_bodies(at)[0]
    assert body.count("data-id=") == len(ids)
    assert f"data-id='{ids[0]}'" in body and f"id {ids[0]} |" in body


def test_state_comes_from_and_goes_to_the_url():
    at = make_app(text="12345 hello", enc="cl100k_base", ws="1", view="Explore")
    no_exception(at)
    assert at.text_area(key="tok_text").value == "12345 hello"
    assert at.selectbox(key="tok_enc").value == "cl100k_base"
    assert metrics(at)["Tokens"] == str(len(get_encoding("cl100k_base").encode("12345 hello")))
    assert "123</span>" in html_bodies(at)[0] and "·hello" in html_bodies(at)[0]
    at.selectbox(key="tok_enc").set_value("o200k_base").run()
    at.text_area(key="tok_text").input("new text").run()
    assert at.query_params["enc"] == "o200k_base" and at.query_params["text"] == "new text"


def test_user_html_is_escaped():
    payload = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    at = make_app(text=payload)
    no_exception(at)
    body = html_bodies(at)[0]
    assert "<script" not in body and "<img" not in body
    # Removing our own tags and unescaping gives the payload back: it was only ever text.
    assert html.unescape(re.sub(r"<[^>]+>", "", body)) == payload


def test_special_token_is_text_unless_allowed():
    text = "a<|endoftext|>b"
    at = make_app(text=text)
    assert "ordinary text" in at.info[0].value
    as_text = get_encoding("gpt2").encode(text, disallowed_special=())
    assert metrics(at)["Tokens"] == str(len(as_text))
    at.toggle(key="tok_special").set_value(True).run()
    no_exception(at)
    assert metrics(at)["Tokens"] == "3"
    assert "data-id='50256'" in html_bodies(at)[0]
    assert "only allow it for text you wrote yourself" in at.warning[0].value


def test_empty_and_huge_text():
    at = make_app(text="")
    assert "The text is empty" in at.info[0].value
    assert metrics(at)["Tokens"] == "0"
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["tok_text"] = "ab " * 350_000  # 1,050,000 characters
    at.run()
    no_exception(at)
    assert metrics(at)["Characters"] == "1,050,000"
    assert metrics(at)["Tokens"] == f"{len(get_encoding('gpt2').encode('ab ' * 350_000)):,}"
    assert "Showing the first 2,000 of" in at.warning[0].value
    assert "text" not in at.query_params  # too long for a link


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"caf\xe9", "not valid UTF-8"), (b"a\x00b", "NUL bytes")],
)
def test_bad_upload_shows_error(data, message):
    at = make_app()
    at.file_uploader(key="tok_upload").upload("bad.txt", data, "text/plain").run()
    no_exception(at)
    assert message in plain(at.error[0].value)


def test_compare_view_counts_each_encoding():
    at = make_app(view="Compare", text=EXAMPLES["Numbers"], cmp="gpt2,o200k_base")
    no_exception(at)
    assert at.multiselect(key="tok_cmp").value == ["gpt2", "o200k_base"]
    body = html_bodies(at)[0]
    assert body.count("flex:0 0 8em") == 2 * EXAMPLES["Numbers"].count("\n") + 2
    assert "inset 2px 0 0 #d62728" in body  # boundaries differ somewhere on digits
    at.multiselect(key="tok_cmp").set_value([]).run()
    assert "Pick at least one encoding" in at.info[0].value


def test_bpe_lab_train_replay_and_save(tmp_path):
    at = make_app(view="BPE lab")
    no_exception(at)
    at.number_input(key="tok_bpe_vocab").set_value(300).run()
    at.button[0].click().run()
    no_exception(at)
    assert metrics(at)["Merges"] == "43" and metrics(at)["Vocabulary"] == "300"
    at.slider(key="tok_bpe_k").set_value(1).run()
    no_exception(at)
    assert any("Merge 1:" in b and "<code>··</code>" in b for b in html_bodies(at))
    assert len(at.dataframe[0].value) == 43
    save = next(b for b in at.button if b.label == "Save as a run")
    save.click().run()
    no_exception(at)
    run_id = at.session_state["tok_saved_run"]
    assert f"Saved as run {run_id}" in at.success[-1].value
    with open_database().begin() as s:
        assert get_run(s, run_id).kind == "tokenizer"
    # The trained tokenizer is now an encoding of the Explore and Compare views.
    trained = at.session_state["tok_bpe"].encoding()
    at.segmented_control[0].set_value("Explore").run()
    box = at.selectbox(key="tok_enc")
    assert box.options[-1].startswith("Trained in the BPE lab")
    box.select_index(len(box.options) - 1).run()
    no_exception(at)
    assert metrics(at)["Tokens"] == str(len(trained.encode(EXAMPLES["Prose"])))
    at.selectbox(key="tok_enc").select_index(0).run()  # AppTest cannot re-send a label value
    at.segmented_control[0].set_value("Compare").run()
    pick = at.multiselect(key="tok_cmp")
    pick.set_value([]).select(pick.options[0]).select(pick.options[-1]).run()
    no_exception(at)
    assert "trained" in html_bodies(at)[0] and at.query_params["cmp"] == "gpt2"


@pytest.mark.parametrize(
    ("vocab", "min_freq", "message"),
    [(100, 2, "vocab size 100 is too small"), (4000, 1000, "the corpus supports only")],
)
def test_bpe_lab_bad_settings(vocab, min_freq, message):
    at = make_app(view="BPE lab")
    at.number_input(key="tok_bpe_vocab").set_value(vocab)
    at.number_input(key="tok_bpe_minfreq").set_value(min_freq)
    at.button[0].click().run()
    no_exception(at)
    assert message in plain(at.error[0].value)


def test_bpe_lab_repeated_character_corpus():
    at = make_app(view="BPE lab")
    at.radio(key="tok_bpe_source").set_value("Upload .txt").run()
    at.file_uploader(key="tok_bpe_upload").upload("a.txt", b"a" * 5000, "text/plain").run()
    at.button[0].click().run()
    no_exception(at)
    assert "supports only 11 merges" in plain(at.error[0].value)


def test_bpe_lab_stopping_early_with_no_merge_keeps_the_page_working():
    # Was StreamlitInvalidMinMaxError from a 0..0 slider, and the session broken until reload.
    at = make_app(view="BPE lab")
    at.radio(key="tok_bpe_source").set_value("Upload .txt").run()
    at.file_uploader(key="tok_bpe_upload").upload("ab.txt", b"ab", "text/plain").run()
    at.number_input(key="tok_bpe_vocab").set_value(300)
    at.checkbox(key="tok_bpe_smaller").check()
    at.button[0].click().run()
    no_exception(at)
    assert metrics(at)["Merges"] == "0"
    assert any("stopped before the first merge" in i.value for i in at.info)
    at.text_area(key="tok_bpe_sample").input("abc").run()
    no_exception(at)


def test_bpe_lab_refuses_a_corpus_too_large_before_training():
    assert corpus_refusal(MAX_TRAIN_CHARS) is None
    assert "has 10,000,001 characters; a page trains on at most 10,000,000" in corpus_refusal(
        MAX_TRAIN_CHARS + 1
    )
    at = make_app(view="BPE lab")
    at.radio(key="tok_bpe_source").set_value("Upload .txt").run()
    big = b"ab " * (MAX_TRAIN_CHARS // 3 + 1)
    at.file_uploader(key="tok_bpe_upload").upload("big.txt", big, "text/plain").run()
    no_exception(at)
    assert "a page trains on at most 10,000,000" in plain(at.error[0].value)
    assert not any(b.label == "Train tokenizer" for b in at.button)


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"view": "²"}, "view='²'"),
        ({"ws": "yes"}, "ws='yes'"),
        ({"text": "x" * 2001}, "text='xxxx"),  # links carry at most 2,000 characters
        ({"cmp": "gpt2,[x](http://example.invalid)"}, "cmp: ignored '[x](http://example"),
        ({"enc": "![t](http://example.invalid/x.png)"}, "enc='![t](http://example"),
    ],
)
def test_bad_link_entries_warn_and_fall_back(query, named):
    at = make_app(**query)
    no_exception(at)
    assert any(named in plain(w.value) for w in at.warning)
    assert live_markup(at) == []
    assert at.text_area(key="tok_text").value == EXAMPLES["Prose"]
