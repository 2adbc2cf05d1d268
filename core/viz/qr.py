"""A link as a QR code (ISO/IEC 18004), drawn as inline SVG for a room to scan.

``qr_svg("http://host:8501/sampling?n=20")`` returns an ``<svg>`` element with a viewBox (it
scales to whatever width its container gives it), black modules on a white square with
the standard four-module quiet zone, whatever the page's theme: phone cameras read dark on
light. The text is only encoded into modules, never written into the SVG, so nothing in it
can become markup. Built with ``segno`` (pure Python, no image library).

A room scans a code from metres away: past :data:`MAX_QR_CHARS` characters the modules get
too small to read off a projector, so :func:`qr_svg` refuses longer texts (``QRTooLong``)
and the caller shows a shorter link instead.
"""

from __future__ import annotations

import html

import segno

MAX_QR_CHARS = 600  # at most version 19 at level M: 93 modules a side, readable off a projector


class QRTooLong(ValueError):
    """The text is too long for a QR code that a room can scan."""


def qr_svg(text: str, title: str = "QR code of the link") -> str:
    """``text`` as an inline ``<svg>`` QR code (error correction M, 4-module border).

    Raises :class:`QRTooLong` past :data:`MAX_QR_CHARS` characters, and ``ValueError`` for
    an empty text.
    """
    if not text:
        raise ValueError("an empty text has no QR code")
    if len(text) > MAX_QR_CHARS:
        raise QRTooLong(
            f"a link of {len(text):,} characters is too long for a QR code a room can scan "
            f"(at most {MAX_QR_CHARS:,})"
        )
    code = segno.make(text, error="m", micro=False, boost_error=False)
    svg = code.svg_inline(
        dark="#000000", light="#ffffff", border=4, omitsize=True, svgclass="gb-qr", lineclass=None
    )
    # An accessible name for screen readers: a fixed text (never the link itself).
    return svg.replace("<svg ", f'<svg role="img" aria-label="{html.escape(title)}" ', 1)


def qr_version(text: str) -> int:
    """The QR version (size: 17 + 4 × version modules a side) that :func:`qr_svg` draws."""
    return int(segno.make(text, error="m", micro=False, boost_error=False).version)
