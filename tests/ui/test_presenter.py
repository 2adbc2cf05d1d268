"""Presenter mode's pure parts: the room link, and the QR code read back by zxing-cpp."""

from __future__ import annotations

import re

import pytest
import zxingcpp
from PIL import Image, ImageDraw

from core.viz.qr import MAX_QR_CHARS, QRTooLong, qr_svg, qr_version
from ui.presenter import room_link

SCALE = 6  # pixels per module when the SVG is drawn for the decoder


def draw_svg(svg: str) -> Image.Image:
    """Rasterise the QR code's SVG as a browser would (its two paths: the white square, then
    the black modules as 1-unit strokes: ``M x y`` absolute, ``m dx dy`` and ``h n``
    relative), for an independent decoder: no QR library draws it."""
    size = int(re.search(r'viewBox="0 0 (\d+) \d+"', svg).group(1))
    img = Image.new("L", (size * SCALE, size * SCALE), 128)  # grey: a missing square shows
    draw = ImageDraw.Draw(img)
    (white,) = re.findall(r'<path fill="#fff" d="M0 0h(\d+)v\1h-\1z"/>', svg)
    assert int(white) == size
    draw.rectangle([0, 0, size * SCALE - 1, size * SCALE - 1], fill=255)
    (d,) = re.findall(r'<path stroke="#000" d="([^"]+)"/>', svg)
    x = y = 0.0
    for cmd, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?:\s(-?[\d.]+))?", d):
        if cmd == "M":
            x, y = float(a), float(b)
        elif cmd == "m":
            x, y = x + float(a), y + float(b)
        else:  # h: a horizontal run of modules in row y - 0.5
            x0, x = x, x + float(a)
            top = (y - 0.5) * SCALE
            draw.rectangle([x0 * SCALE, top, x * SCALE - 1, top + SCALE - 1], fill=0)
    return img


@pytest.mark.parametrize(
    "text",
    [
        "http://10.0.0.7:8501/sampling?prompt=The+quick+brown+fox&n=20&steps=3",
        "http://localhost:8501/",
        "https://glassbox.example.org/pool?view=Live&preset=paper-40x0.1&gpus=4&rate=0.15",
    ],
)
def test_the_qr_code_reads_back_as_the_link(text):
    svg = qr_svg(text)
    (read,) = zxingcpp.read_barcodes(draw_svg(svg))
    assert read.format == zxingcpp.BarcodeFormat.QRCode
    assert read.text == text


def test_the_longest_link_allowed_still_reads_back():
    text = "http://10.0.0.7:8501/sampling?prompt=" + "a" * (MAX_QR_CHARS - 37)
    assert len(text) == MAX_QR_CHARS
    assert qr_version(text) == 19  # 93 modules a side
    (read,) = zxingcpp.read_barcodes(draw_svg(qr_svg(text)))
    assert read.text == text


def test_a_longer_link_or_nothing_is_refused():
    with pytest.raises(QRTooLong, match="601 characters"):
        qr_svg("h" * (MAX_QR_CHARS + 1))
    with pytest.raises(ValueError, match="empty"):
        qr_svg("")


def test_the_svg_holds_modules_only_never_the_text():
    text = 'http://x/?a="><script>alert(1)</script>&b=<img src=x>'
    svg = qr_svg(text, title='Room "link" <b>')
    assert "script" not in svg and "<img" not in svg and "alert" not in svg
    assert 'aria-label="Room &quot;link&quot; &lt;b&gt;"' in svg
    assert re.fullmatch(r"<svg [^<>]*><path [^<>]*/><path [^<>]*/></svg>", svg)


# ---------------------------------------------------------------- room_link
def test_a_network_address_is_the_room_link_as_it_is():
    link = room_link(
        "http://10.0.0.7:8501/sampling", {"n": "5", "present": "1", "tour": "0"}, "0.0.0.0", 8501
    )
    assert link.url == "http://10.0.0.7:8501/sampling?n=5"  # app-wide flags left out
    assert link.note is None


def test_localhost_on_a_loopback_server_says_how_to_serve_the_room():
    link = room_link("http://localhost:8501/pool", {"view": "Live"}, "127.0.0.1", 8501)
    assert link.url == "http://localhost:8501/pool?view=Live"
    assert "listens on 127.0.0.1" in link.note
    assert "--server.address 0.0.0.0" in link.note and "Serving a room" in link.note


def test_localhost_on_a_server_open_to_the_network_gives_the_network_address():
    link = room_link("http://127.0.0.1:8501/", {}, "0.0.0.0", 8501, lan_address="192.168.1.20")
    assert link.url == "http://192.168.1.20:8501/"
    assert "192.168.1.20" in link.note
    six = room_link("http://[::1]:8501/runs", {"compare": "8,9"}, "", 8501, "fd00::7")
    assert six.url == "http://[fd00::7]:8501/runs?compare=8%2C9"


def test_a_server_bound_to_one_address_gives_that_address():
    link = room_link("http://localhost:8600/math", {}, "10.1.2.3", 8600)
    assert link.url == "http://10.1.2.3:8600/math"


def test_no_known_network_address_says_so():
    link = room_link("http://localhost:8501/", {}, "0.0.0.0", 8501, lan_address=None)
    assert link.url == "http://localhost:8501/"
    assert "cannot reach" in link.note


def test_outside_a_browser_the_link_uses_the_port():
    link = room_link(None, {"q": "a b&c"}, "127.0.0.1", 8615)
    assert link.url == "http://localhost:8615/?q=a+b%26c"
