"""Tokenization: see text become tokens, compare encodings, and learn a BPE vocabulary.

Three views (kept in the URL with the text and settings, so a view can be shared):
Explore one encoding (coloured tokens, bytes, ids, training pairs), Compare encodings
aligned by character, and the BPE lab (train, replay merge by merge, save as a run).
The page lays out ``core.tokenization.page`` (the state, the link, the menus) and the rows
of ``core.tokenization.tables``; figures and token HTML come from ``core.viz.tokens``.
"""

from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st
import tiktoken
from sqlalchemy.exc import SQLAlchemyError

from core import registry
from core.corpus import CorpusError, builtin_corpus
from core.store import DatabaseUnavailable
from core.tokenization import (
    ENCODING_LABELS,
    ENCODING_NAMES,
    PATTERNS,
    BPETokenizer,
    SlidingWindowDataset,
    TokenizerError,
    get_encoding,
    save_tokenizer_run,
    train_bpe,
)
from core.tokenization import page as tp
from core.tokenization.analysis import boundary_diff, covered_chars, tokenize
from core.tokenization.bpe import corpus_refusal
from core.tokenization.examples import EXAMPLES
from core.tokenization.tables import (
    bytes_rows,
    count_rows,
    merge_rows,
    reference_compression,
    special_token_message,
    truncation_message,
    window_rows,
)
from core.viz.tokens import (
    HOVER_CSS,
    compare_html,
    compression_figure,
    merge_html,
    tokens_html,
    tokens_per_encoding_figure,
)
from ui.boot import ensure_app_shell
from ui.db import guard, session_factory
from ui.jobs import Report, run_job
from ui.shell import choices, refresh_store_lists
from ui.text import md
from ui.uploads import widget_mb
from ui.urlstate import Choice, Flag, Items, Param, Text, read_url, warn, write_url

ensure_app_shell()

VIEWS = tp.VIEWS
RENDER_TOKENS = tp.RENDER_TOKENS
TRAINED = tp.TRAINED

st.title("Tokenization")
st.html(HOVER_CSS)
st.caption(
    "A language model never sees characters: text is cut into tokens, and each token is an "
    "integer id. Hover a token for its id and bytes."
)


@st.cache_data(ttl=30, show_spinner=False)
def tokenizer_options() -> dict[str, str]:
    """Registry tokenizers (encodings, built-in BPE, saved runs): id -> label."""
    try:
        return {t.id: t.label for t in registry.list_tokenizers(session_factory(quiet=True))}
    except (SQLAlchemyError, DatabaseUnavailable):  # the store went away: encodings still work
        return dict(ENCODING_LABELS)


# Keyed by the run's uid as well as its id: a deleted run's id must not serve its tokenizer.
@st.cache_resource(show_spinner="Loading tokenizer…", ttl=600, max_entries=16)
def _registry_encoding(tokenizer_id: str, uid: str) -> tiktoken.Encoding:
    return registry.load_tokenizer(tokenizer_id, session_factory(quiet=True))


def registry_encoding(tokenizer_id: str) -> tiktoken.Encoding:
    uid = registry.store_key(tokenizer_id, session_factory(quiet=True))
    return _registry_encoding(tokenizer_id, uid)


def current_encoding(option: str) -> tiktoken.Encoding:
    """The encoding of a menu option; falls back to GPT-2 after an error message."""
    if option == TRAINED and st.session_state.tok_bpe is not None:
        return st.session_state.tok_bpe.encoding()
    try:
        return registry_encoding(option)
    except (TokenizerError, SQLAlchemyError) as exc:
        st.error(f"Could not load tokenizer {md(repr(option))}: {md(exc)}. Showing GPT-2 instead.")
        return get_encoding("gpt2")


def options() -> list[str]:
    return tp.menu(tokenizer_options(), trained=st.session_state.tok_bpe is not None)


def option_label(option: str) -> str:
    # Session state only for the trained option: AppTest calls this outside a script run.
    tok = st.session_state.tok_bpe if option == TRAINED else None
    return tp.option_label(option, tokenizer_options(), tok.name if tok else None)


# ---- state: once per session, from the URL when it has it ----------------------------
def link_params(known: dict[str, str], sidebar: str) -> dict[str, Param]:
    """The link's entries: view, text (≤ LINK_TEXT_CHARS), encodings, toggles."""
    d = tp.TokView()
    tokenizer = Choice(sidebar, tuple(known))
    return {
        "view": Choice(d.view, tp.VIEWS),
        "text": Text(d.text, tp.LINK_TEXT_CHARS),
        "enc": tokenizer,
        "cmp": Items(d.cmp, tokenizer, max_items=len(known)),
        "ws": Flag(d.ws),
        "special": Flag(d.special),
    }


def init_state(sidebar: str) -> None:
    """The view from the link on the first visit; the session's keys once."""
    if "tok_text" not in st.session_state:
        url, st.session_state.tok_url_problems = read_url(PARAMS)
    else:
        url = {k: spec.default for k, spec in PARAMS.items()}
    view = tp.TokView(**url)
    for key in tp.TokView.__dataclass_fields__:  # tok_view, tok_text, tok_enc…
        value = getattr(view, key)
        st.session_state.setdefault(
            f"tok_{key}", list(value) if isinstance(value, tuple) else value
        )
    for key, value in {
        "tok_sidebar": sidebar,  # the sidebar's tokenizer when last seen
        "tok_bpe": None,  # BPETokenizer trained in this session
        "tok_bpe_corpus": "",  # name of its training corpus
        "tok_bpe_refs": {},  # real encodings' (vocab, chars/token) on that corpus
        "tok_bpe_table": None,  # its merge table
        "tok_saved_run": None,  # run id once saved
        "tok_upload_error": None,  # message about the last uploaded text file
        "tok_url_problems": [],  # bad link entries, shown once
    }.items():
        st.session_state.setdefault(key, value)
    warn(st.session_state.tok_url_problems)
    st.session_state.tok_url_problems = []
    if sidebar != st.session_state.tok_sidebar:  # picked in the sidebar just now: follow it
        st.session_state.tok_sidebar = st.session_state.tok_enc = sidebar
    # Widget values survive views that do not draw their widget (Streamlit drops them).
    for key in ("tok_text", "tok_enc", "tok_cmp", "tok_ws", "tok_special"):
        st.session_state[key] = st.session_state[key]


def current_view(view: str, text: str) -> tp.TokView:
    s = st.session_state
    return tp.TokView(view=view, text=text, enc=s.tok_enc, cmp=tuple(s.tok_cmp), ws=s.tok_ws,
                      special=s.tok_special)  # fmt: skip


PARAMS = link_params(tokenizer_options(), choices().tokenizer_id)
init_state(choices().tokenizer_id)


def _load_example() -> None:
    name = st.session_state.tok_example
    if name in EXAMPLES:
        st.session_state.tok_text = EXAMPLES[name]


def _load_upload() -> None:
    upload = st.session_state.tok_upload
    st.session_state.tok_upload_error = None
    if upload is not None:
        try:
            st.session_state.tok_text = tp.upload_text(
                upload.name, upload.getvalue(), tp.TEXT_UPLOAD_MAX_BYTES
            )
        except CorpusError as exc:
            st.session_state.tok_upload_error = str(exc)


def text_input() -> str:
    """Example picker, .txt upload and the text box; returns the text."""
    left, right = st.columns([1, 2])
    left.selectbox(
        "Example",
        list(EXAMPLES),
        index=None,
        placeholder="Load an example…",
        key="tok_example",
        on_change=_load_example,
        help="Each example shows one behaviour: code indentation, digit grouping, "
        "multi-byte characters, whitespace, special tokens.",
    )
    right.file_uploader(
        "…or upload a .txt file",
        type=["txt"],
        key="tok_upload",
        on_change=_load_upload,
        max_upload_size=widget_mb(tp.TEXT_UPLOAD_MAX_BYTES),
    )
    if st.session_state.tok_upload_error:
        st.error(md(st.session_state.tok_upload_error, 1000))
    st.text_area("Text", key="tok_text", height=160)
    c1, c2 = st.columns(2)
    c1.toggle("Show whitespace", key="tok_ws", help="Marks spaces as ·, tabs as →, newlines as ↵.")
    c2.toggle(
        "Allow special tokens",
        key="tok_special",
        help="Encode <|endoftext|> as one special id instead of as text.",
    )
    return st.session_state.tok_text


def special_token_notice(text: str, enc: tiktoken.Encoding) -> None:
    found = tp.specials_in(text, enc.special_tokens_set)
    if found and st.session_state.tok_special:
        st.warning(special_token_message(found, allowed=True), icon=":material/warning:")
    elif found:
        st.info(special_token_message(found, allowed=False), icon=":material/info:")


def explore(text: str) -> None:
    choices_ = options()
    st.session_state.tok_enc = tp.explored(st.session_state.tok_enc, choices_)
    name = st.selectbox(
        "Encoding",
        choices_,
        key="tok_enc",
        format_func=option_label,
        help="The OpenAI encodings, the built-in model's BPE, tokenizers saved as runs, and "
        "the one you trained in the BPE lab.",
    )
    enc = current_encoding(name)
    special_token_notice(text, enc)
    result = tokenize(enc, text, allow_special=st.session_state.tok_special, limit=RENDER_TOKENS)
    counts = result.counts
    m = st.columns(4)
    m[0].metric("Tokens", f"{counts.tokens:,}")
    m[1].metric("Characters", f"{counts.chars:,}")
    m[2].metric("UTF-8 bytes", f"{counts.bytes:,}")
    m[3].metric("Chars / token", f"{counts.chars_per_token:.2f}")
    if not text:
        st.info("The text is empty: type or paste something, or pick an example.")
        return
    if result.truncated:
        notice = truncation_message(result, covered_chars(result.spans))
        st.warning(notice, icon=":material/content_cut:")
    st.html(tokens_html(text, result.spans, visible_whitespace=st.session_state.tok_ws))
    st.caption(
        "Dashed outline: the token splits a multi-byte character; ‹a0› shows a token "
        "made only of the remaining bytes."
    )
    tab_bytes, tab_ids, tab_windows = st.tabs(["Bytes per token", "Ids", "Training pairs"])
    with tab_bytes:
        rows = bytes_rows(text, result.spans)
        st.dataframe(pd.DataFrame(rows), hide_index=True, height=300)
    with tab_ids:
        shown = result.ids[:20000]
        st.code(
            ", ".join(map(str, shown)) + (" …" if len(result.ids) > len(shown) else ""),
            language=None,
            wrap_lines=True,
        )
    with tab_windows:
        training_pairs(result.ids, enc)


def training_pairs(ids: list[int], enc) -> None:
    st.caption(
        "How a model trains on these ids (the book's §2.6): windows of `max_length` "
        "ids, every `stride` ids; the target is the input shifted by one token."
    )
    c1, c2 = st.columns(2)
    max_length = c1.number_input("max_length", 1, 1024, 4, key="tok_win_len")
    stride = c2.number_input("stride", 1, 1024, 4, key="tok_win_stride")
    try:
        ds = SlidingWindowDataset(ids, max_length=int(max_length), stride=int(stride))
    except TokenizerError as exc:
        st.info(md(exc, 1000))
        return
    st.dataframe(pd.DataFrame(window_rows(ds, enc)), hide_index=True)
    st.caption(f"{len(ds):,} training pairs from {len(ids):,} ids.")


def compare(text: str) -> None:
    choices_ = options()
    st.session_state.tok_cmp = tp.compared(st.session_state.tok_cmp, choices_)
    chosen = st.multiselect("Encodings", choices_, key="tok_cmp", format_func=option_label)
    if not chosen:
        st.info("Pick at least one encoding to compare.")
        return
    if not text:
        st.info("The text is empty: type or paste something, or pick an example.")
        return
    results = {
        n: tokenize(
            current_encoding(n),
            text,
            allow_special=st.session_state.tok_special,
            limit=RENDER_TOKENS,
        )
        for n in chosen
    }
    special_token_notice(text, current_encoding(chosen[0]))
    left, right = st.columns([3, 2], vertical_alignment="center")
    left.plotly_chart(tokens_per_encoding_figure({n: r.counts for n, r in results.items()}))
    right.dataframe(pd.DataFrame(count_rows(results)), hide_index=True)
    upto = tp.aligned_chars(len(text), (covered_chars(r.spans) for r in results.values()))
    if notice := tp.aligned_notice(upto, len(text)):
        st.warning(notice, icon=":material/content_cut:")
    spans = {n: r.spans for n, r in results.items()}
    diff = boundary_diff(spans, upto)
    st.caption(
        f"Same characters in the same column in every row. A red bar marks a token "
        f"boundary not all encodings share ({len(diff):,} here)."
    )
    st.html(
        compare_html(text, spans, upto=upto, diff=diff, visible_whitespace=st.session_state.tok_ws)
    )


@st.cache_data(show_spinner="Measuring the real encodings on this corpus…", max_entries=4)
def reference_points(corpus_sha: str, _corpus: str) -> dict[str, tuple[int, float]]:
    """(vocab size, chars/token) of each real encoding on the training corpus."""
    return reference_compression(_corpus, {n: get_encoding(n) for n in ENCODING_NAMES})


def lab_corpus() -> tuple[str, str] | None:
    """(name, text) of the chosen training corpus, or None after an error message."""
    source = st.radio(
        "Corpus",
        ["Built-in: Python reference manual (465K chars)", "Upload .txt"],
        key="tok_bpe_source",
        horizontal=True,
    )
    if source.startswith("Built-in"):
        return "python-reference-manual", builtin_corpus()
    upload = st.file_uploader(
        "Training corpus (.txt, UTF-8)",
        type=["txt"],
        key="tok_bpe_upload",
        max_upload_size=widget_mb(tp.BPE_UPLOAD_MAX_BYTES),
    )
    if upload is None:
        st.info("Upload a UTF-8 .txt file to train on, or use the built-in corpus.")
        return None
    try:
        return upload.name, tp.upload_text(upload.name, upload.getvalue(), tp.BPE_UPLOAD_MAX_BYTES)
    except CorpusError as exc:
        st.error(md(exc, 1000))
        return None


def train(corpus_name: str, corpus: str) -> None:
    c1, c2, c3 = st.columns(3)
    vocab = c1.number_input(
        "Vocab size (ids, incl. <|endoftext|>)", 1, 100_000, 1024, 256, key="tok_bpe_vocab"
    )
    pattern = c2.selectbox(
        "Pre-tokenization regex",
        list(PATTERNS),
        index=1,
        key="tok_bpe_pat",
        help="gpt2: GPT-2's pattern; gpt4: cl100k's (digits in groups of "
        "three, whitespace runs kept); gpt4o: o200k's.",
    )
    min_freq = c3.number_input("Min pair frequency", 1, 1000, 2, key="tok_bpe_minfreq")
    smaller = st.checkbox(
        "If the corpus cannot fill the vocabulary, stop early instead of failing",
        key="tok_bpe_smaller",
    )
    refusal = corpus_refusal(len(corpus))
    if refusal:
        st.error(refusal)  # our text: the limit and the command line (no user text)
        return
    if not st.button("Train tokenizer", type="primary", icon=":material/model_training:"):
        return

    def work(report: Report) -> BPETokenizer:
        def progress(done: int, total: int) -> None:
            report(done / total if total else 1.0, f"merge {done:,} of {total:,}")

        return train_bpe(
            corpus,
            int(vocab),
            pattern,
            min_frequency=int(min_freq),
            progress=progress,
            allow_smaller_vocab=smaller,
            name=tp.bpe_name(pattern, int(vocab), corpus_name),
        )

    try:
        tok = run_job("Training the tokenizer", work)
    except TokenizerError as exc:
        st.error(md(exc, 1000))
        return
    st.session_state.tok_bpe = tok
    st.session_state.tok_bpe_corpus = corpus_name
    sha = hashlib.sha256(corpus.encode("utf-8")).hexdigest()
    st.session_state.tok_bpe_refs = reference_points(sha, corpus)
    st.session_state.tok_bpe_table = pd.DataFrame(merge_rows(tok))
    st.session_state.tok_bpe_k = len(tok.merges)
    st.session_state.tok_saved_run = None
    st.success(f"Learned {len(tok.merges):,} merges in {tok.training['seconds']:.2f} s.")


def save_run(tok: BPETokenizer) -> None:
    """Download, and Save as a run: a fragment, so a Save click redraws this row alone (not
    the lab's chart and table); the confirmation takes the button's place."""
    row = st.container(horizontal=True, vertical_alignment="center")  # wraps when narrow
    slot = row.empty()
    row.download_button("Download JSON", tok.to_json(), f"{tok.name}.json", "application/json")
    if not st.session_state.tok_saved_run and slot.button("Save as a run", icon=":material/save:"):
        factory = session_factory()
        if factory is None:
            return
        with guard("save the tokenizer") as outcome, factory.begin() as s:
            run_id = save_tokenizer_run(
                s, tok, corpus_name=st.session_state.tok_bpe_corpus, tags=("tokenizer", "bpe-lab")
            )
        if outcome.ok:
            st.session_state.tok_saved_run = run_id
            tokenizer_options.clear()  # the new run is a tokenizer in every menu now
            refresh_store_lists()  # the sidebar's too, from the page's next full run
    if st.session_state.tok_saved_run:
        slot.success(
            f"Saved as run {st.session_state.tok_saved_run}. Train a model with it: "
            f"`python -m core.training --tokenizer run:{st.session_state.tok_saved_run}`; "
            "compare it with other runs on the Saved runs page."
        )


def bpe_lab() -> None:
    st.caption(
        "Byte-pair encoding from scratch: start from the 256 bytes, then repeatedly "
        "merge the most frequent adjacent pair into a new token."
    )
    chosen = lab_corpus()
    if chosen is not None:
        train(*chosen)
    tok: BPETokenizer | None = st.session_state.tok_bpe
    if tok is None:
        st.info("Train a tokenizer to replay its merges here.")
        return
    st.caption(f"{md(tok.name)}, trained on {md(st.session_state.tok_bpe_corpus)}")
    m = st.columns(4)
    m[0].metric("Vocabulary", f"{tok.n_vocab:,}")
    m[1].metric("Merges", f"{len(tok.merges):,}")
    m[2].metric("Training time", f"{tok.training['seconds']:.2f} s")
    m[3].metric("Corpus chars / token", f"{tok.chars_per_token()[-1]:.2f}")
    if tok.merges:
        k = st.slider(
            "Merge step",
            0,
            len(tok.merges),
            key="tok_bpe_k",
            help="Re-tokenize the sample as the tokenizer was after k merges.",
        )
    else:  # stopped early before the first merge: a slider needs two ends
        st.info(
            "Training stopped before the first merge: no pair of bytes occurs often enough "
            "(lower the minimum pair frequency or use a larger corpus). The tokenizer is the "
            "256 bytes alone.",
            icon=":material/info:",
        )
        k = 0
    if k:
        mk = tok.merges[k - 1]
        left, right = (tok.token_bytes(i) for i in mk.pair)
        st.html(merge_html(left, right, mk.token_bytes, mk.token_id, mk.count, k))
    sample = st.text_area("Sample text", EXAMPLES["Code"], key="tok_bpe_sample", height=120)
    res = tokenize(tok.encoding(k), sample, limit=RENDER_TOKENS)
    st.caption(tp.merge_caption(res.counts, k))
    new_id = frozenset({tok.merges[k - 1].token_id}) if k else frozenset()
    st.html(
        tokens_html(sample, res.spans, visible_whitespace=st.session_state.tok_ws, highlight=new_id)
    )
    sizes, ratios, marker = tp.lab_curve(tok.chars_per_token(), len(tok.special_tokens), k)
    st.plotly_chart(
        compression_figure(sizes, ratios, marker=marker, references=st.session_state.tok_bpe_refs)
    )
    st.dataframe(st.session_state.tok_bpe_table, hide_index=True, height=300)
    st.fragment(save_run)(tok)


def sync_url(view: str, text: str) -> None:
    """The view, its settings and (when short enough) the text into the link."""
    link = tp.link_values(current_view(view, text))
    if link.note:
        st.caption(link.note)
    write_url(PARAMS, link.values, drop=link.drop)


view = st.segmented_control("View", VIEWS, key="tok_view", label_visibility="collapsed")
view = view or VIEWS[0]
text = st.session_state.tok_text
if view == "BPE lab":
    bpe_lab()
else:
    text = text_input()
    (explore if view == "Explore" else compare)(text)
sync_url(view, text)
