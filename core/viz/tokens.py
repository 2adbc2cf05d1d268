"""Token views: coloured token HTML (single and side-by-side aligned) and token charts.

Pure functions: spans and numbers in, an HTML string or a ``go.Figure`` out. All user text
goes through ``html.escape`` here, once, so the page never builds HTML from raw text.

The side-by-side view aligns encodings *by character offset*: every row prints the same
characters in a monospace font with no padding, one row per encoding, so a character sits
in the same column in every row, and only the colours (token boundaries) differ. A token
start that not every encoding shares gets a red bar: that is where the tokenizers
disagree. Background colours are translucent so text stays readable in light and dark
themes.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from core.tokenization.analysis import TokenCounts, TokenSpan, describe_char, span_text
from core.tokenization.display import show_whitespace, token_label
from core.viz.runs import run_colour

# Translucent backgrounds (Okabe–Ito hues at 35%): distinct neighbours, theme-neutral text.
TOKEN_BACKGROUNDS = (
    "rgba(0,114,178,0.28)",
    "rgba(230,159,0,0.32)",
    "rgba(0,158,115,0.28)",
    "rgba(204,121,167,0.32)",
    "rgba(86,180,233,0.32)",
    "rgba(213,94,0,0.26)",
)
SPECIAL_BACKGROUND = "rgba(120,120,120,0.45)"
DIFF_MARK = "inset 2px 0 0 #d62728"
HIGHLIGHT = "box-shadow:inset 0 -3px 0 #d62728;font-weight:700;"  # tokens of the current merge  # red bar at a boundary not all encodings share
# Each token is laid out on its own (bidi isolation): an Arabic or Hebrew token then stays
# in its place in token order, and an emoji's byte chips stay beside their neighbours.
ISOLATE = "unicode-bidi:isolate;"
MONO = "font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace"
# Hovering a token outlines it (its id and bytes appear as the tooltip). Streamlit keeps a
# <style> only in an st.html call of its own, so pages draw this once, separately.
HOVER_CSS = (
    "<style>.gb-tokens span[data-id],.gb-compare span[data-id]{position:relative}"
    ".gb-tokens span[data-id]:hover,.gb-compare span[data-id]:hover"
    "{outline:2px solid #d62728;outline-offset:0;cursor:help}"
    ".gb-tokens span[data-id]:hover::after,.gb-compare span[data-id]:hover::after"
    "{content:attr(data-tip);position:absolute;left:0;bottom:100%;z-index:20;"
    "background:#262730;color:#fff;font:11px/1.4 sans-serif;padding:1px 5px;"
    "border-radius:3px;white-space:nowrap;pointer-events:none}</style>"
)


def _tooltip(text: str, span: TokenSpan) -> str:
    parts = [f"token #{span.index} · id {span.token_id}", f"{len(span.data)} bytes: {span.hex}"]
    if span.special:
        parts.append("special token (allowed by you)")
    if span.partial:
        chars = span_text(text, span) or text[span.start : span.start + 1]
        where = describe_char(chars[-1]) if chars else "a multi-byte character"
        parts.append(f"splits a character: holds only part of {where}")
    return html.escape(" | ".join(parts), quote=True)


def _span_html(text: str, span: TokenSpan, visible_ws: bool, style: str = "") -> str:
    colour = (
        SPECIAL_BACKGROUND
        if span.special
        else TOKEN_BACKGROUNDS[span.index % len(TOKEN_BACKGROUNDS)]
    )
    shown = span_text(text, span)
    if not shown:  # continuation bytes only: show them, not a replacement character
        body = f"<small style='{MONO};opacity:.8'>‹{html.escape(span.hex)}›</small>"
    else:
        body = html.escape(show_whitespace(shown, visible_ws))
    border = "outline:1px dashed #d62728;outline-offset:-1px;" if span.partial else ""
    return (
        f"<span title='{_tooltip(text, span)}' data-id='{span.token_id}' "
        f"data-tip='id {span.token_id}' "
        f"style='background:{colour};{border}border-radius:2px;{ISOLATE}{style}'>{body}</span>"
    )


def tokens_html(
    text: str,
    spans: Sequence[TokenSpan],
    *,
    visible_whitespace: bool = False,
    highlight: frozenset[int] = frozenset(),
) -> str:
    """Coloured token view: one span per token, id and bytes on hover, text escaped.

    Tokens whose id is in ``highlight`` are underlined in red (the BPE lab marks the
    token the current merge created).
    """
    inner = "".join(
        _span_html(
            text,
            s,
            visible_whitespace,
            "padding:1px 0;" + (HIGHLIGHT if s.token_id in highlight else ""),
        )
        for s in spans
    )
    return (
        f"<div class='gb-tokens' style='white-space:pre-wrap;word-break:break-word;"
        f"line-height:1.9;{MONO};font-size:0.92rem'>{inner}</div>"
    )


def merge_html(left: bytes, right: bytes, new: bytes, token_id: int, count: int, step: int) -> str:
    """One merge as ``left + right -> new``, bytes shown readably and escaped."""

    def code(data: bytes) -> str:
        return f"<code>{html.escape(token_label(data))}</code>"

    return (
        f"<div>Merge {step:,}: {code(left)} + {code(right)} → {code(new)} "
        f"(id {token_id:,}; the pair occurred {count:,} times)</div>"
    )


def _segments(text: str, upto: int, width: int) -> list[tuple[int, int]]:
    """Cut ``text[:upto]`` into rows of at most ``width`` characters, breaking at newlines."""
    rows, start = [], 0
    while start < upto:
        newline = text.find("\n", start, min(upto, start + width))
        end = newline + 1 if newline != -1 else min(upto, start + width)
        rows.append((start, end))
        start = end
    return rows


def compare_html(
    text: str,
    spans_by_name: Mapping[str, Sequence[TokenSpan]],
    *,
    upto: int,
    diff: set[int],
    width: int = 72,
    visible_whitespace: bool = True,
) -> str:
    """Encodings side by side, one row each per line of text, aligned by character."""
    blocks = []
    label_css = "flex:0 0 8em;font-size:0.8rem;opacity:.75;padding-right:.6em;text-align:right"
    for start, end in _segments(text, upto, width):
        rows = []
        for name, spans in spans_by_name.items():
            cells = []
            for span in spans:
                a, b = max(span.start, start), min(span.end, end)
                if a >= b:
                    continue
                clipped = TokenSpan(span.index, span.token_id, span.data, a, b, span.partial,
                                    span.special)  # fmt: skip
                mark = f"box-shadow:{DIFF_MARK};" if a == span.start and a in diff else ""
                cells.append(_span_html(text, clipped, visible_whitespace, mark))
            row = "".join(cells).replace("\n", "")
            rows.append(
                f"<div style='display:flex;align-items:baseline'>"
                f"<div style='{label_css}'>{html.escape(name)}</div>"
                f"<div style='white-space:pre;{MONO};font-size:1.02rem;line-height:1.75'>{row}"
                "</div></div>"
            )
        blocks.append(f"<div style='margin-bottom:.7em'>{''.join(rows)}</div>")
    return f"<div class='gb-compare' style='overflow-x:auto'>{''.join(blocks)}</div>"


def tokens_per_encoding_figure(counts: Mapping[str, TokenCounts]) -> go.Figure:
    """Bar chart: tokens needed for the same text by each encoding (fewer = denser)."""
    names = list(counts)
    fig = go.Figure(
        go.Bar(
            x=names,
            y=[counts[n].tokens for n in names],
            marker_color=[run_colour(i) for i in range(len(names))],
            text=[f"{counts[n].tokens:,}" for n in names],
            textposition="outside",
            customdata=[[counts[n].chars_per_token, counts[n].bytes_per_token] for n in names],
            hovertemplate="%{x}<br>%{y:,} tokens<br>%{customdata[0]:.2f} chars/token"
            "<br>%{customdata[1]:.2f} bytes/token<extra></extra>",
        )
    )
    fig.update_layout(
        title="Tokens for this text, by encoding",
        xaxis_title="encoding",
        yaxis_title="tokens",
        height=320,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
    )
    return fig


def compression_figure(
    vocab_sizes: Sequence[int],
    chars_per_token: Sequence[float],
    *,
    marker: tuple[int, float] | None = None,
    references: Mapping[str, tuple[int, float]] | None = None,
) -> go.Figure:
    """Chars/token vs vocab size while BPE learns; optional slider marker and real encodings.

    ``references`` maps an encoding name to (its vocab size, its chars/token on the same
    corpus), drawn as points so the trained curve can be read against GPT-2/GPT-4.
    """
    fig = go.Figure(
        go.Scatter(
            x=list(vocab_sizes),
            y=list(chars_per_token),
            mode="lines",
            name="trained BPE",
            line={"color": run_colour(0), "width": 2},
            hovertemplate="vocab %{x:,}<br>%{y:.3f} chars/token<extra></extra>",
        )
    )
    if marker is not None:
        fig.add_trace(
            go.Scatter(
                x=[marker[0]],
                y=[marker[1]],
                mode="markers",
                name="slider position",
                marker={"color": "#d62728", "size": 11},
                hovertemplate="vocab %{x:,}<br>%{y:.3f} chars/token<extra>slider</extra>",
            )
        )
    for i, (name, (size, ratio)) in enumerate((references or {}).items()):
        fig.add_trace(
            go.Scatter(
                x=[size],
                y=[ratio],
                mode="markers",
                name=name,
                marker={"color": run_colour(i + 1), "size": 9, "symbol": "diamond"},
                hovertemplate=f"{name}<br>vocab %{{x:,}}<br>%{{y:.3f}} chars/token<extra></extra>",
            )
        )
    fig.update_layout(
        title="Compression of the training corpus as the vocabulary grows",
        xaxis={"title": "vocabulary size (ids, log scale)", "type": "log"},
        yaxis_title="characters per token",
        height=360,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        legend={"orientation": "h", "y": -0.2},
    )
    return fig
