"""Presenter mode under AppTest: the switch and its link flag, the stylesheet, the room link's
QR code, and the step button of Sampling and the GPU pool."""

from __future__ import annotations

import base64
from pathlib import Path

import zxingcpp
from streamlit.testing.v1 import AppTest

from tests.app.rendered import plain
from tests.app.test_pool_page import SMALL
from tests.app.test_sampling import tiny_registry  # noqa: F401 (a fixture)
from tests.ui.test_presenter import draw_svg
from ui.presenter import PRESENT_KEY, SCALE

ROOT = Path(__file__).resolve().parents[2]
CSS = f":root {{ --gb-zoom: {SCALE}; }}"


def app(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def html(at: AppTest) -> str:
    return "\n".join(h.proto.body for h in at.get("html"))


def toggle(at: AppTest):
    return at.sidebar.toggle(key=PRESENT_KEY)


def test_off_by_default_nothing_injected():
    at = app()
    assert toggle(at).value is False
    assert CSS not in html(at)
    assert "present" not in at.query_params
    assert not [b for b in at.button if b.label == "Room link"]


def test_the_link_flag_turns_it_on_and_off():
    at = app({"present": "1"})
    assert toggle(at).value is True
    assert CSS in html(at)
    assert [b.label for b in at.button][:2] == ["Room link", "Leave presenter mode"]
    at.query_params["present"] = "0"
    at.run()
    assert toggle(at).value is False
    assert CSS not in html(at)


def test_the_toggle_writes_the_flag_into_the_link():
    at = app()
    toggle(at).set_value(True).run()
    assert at.query_params["present"] == "1"
    assert CSS in html(at)
    at.run()  # the flag in the link keeps it on
    assert toggle(at).value is True
    toggle(at).set_value(False).run()
    assert "present" not in at.query_params
    assert CSS not in html(at)


def test_leave_turns_it_off_and_takes_the_flag_out():
    at = app({"present": "1"})
    next(b for b in at.button if b.label == "Leave presenter mode").click().run()
    assert toggle(at).value is False
    assert "present" not in at.query_params
    assert CSS not in html(at)


def test_a_bad_flag_is_named_and_changes_nothing():
    at = app({"present": "yes<b>"})
    assert toggle(at).value is False
    (warning,) = at.sidebar.warning
    assert "present='yes<b>' is not 1 (on) or 0 (off)" in plain(warning.value)


def test_room_link_shows_the_view_as_a_qr_code_and_text():
    at = app({"present": "1", "tour": "0"})
    at.button(key="gb_room_link").click().run()
    assert not at.exception
    (code,) = at.code
    assert code.value == "http://localhost:8501/"  # no browser: the server's port
    (image,) = at.get("image")
    url = image.proto.imgs[0].url
    svg = base64.b64decode(url.removeprefix("data:image/svg+xml;base64,")).decode()
    (read,) = zxingcpp.read_barcodes(draw_svg(svg))
    assert read.text == code.value
    (note,) = [w for w in at.warning if "Serving a room" in plain(w.value)]
    assert "--server.address 0.0.0.0" in plain(note.value)


# ---------------------------------------------------------------- the step key on pages
SAMPLING = str(ROOT / "pages" / "sampling.py")
POOL = str(ROOT / "pages" / "pool.py")
MARKER = '<span data-glassbox-step="{}" hidden></span>'


def page(path: str, query: dict[str, str], present: bool) -> AppTest:
    at = AppTest.from_file(path, default_timeout=60)
    at.session_state[PRESENT_KEY] = present
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_sampling_names_next_token_as_the_step_button(tiny_registry):  # noqa: F811
    at = page(SAMPLING, {}, present=True)
    assert MARKER.format("smp_next") in html(at)
    assert "__glassboxStepKeys" in html(at)  # the listener
    assert at.button(key="smp_next").label == "Next token"
    assert MARKER.format("smp_next") not in html(page(SAMPLING, {}, present=False))


def test_a_step_key_the_listener_cannot_name_is_refused():
    at = AppTest.from_function(_step_key_script, default_timeout=30)
    at.session_state[PRESENT_KEY] = True
    at.run()
    assert "not a button key the step listener can name" in at.exception[0].message


def _step_key_script() -> None:
    from ui import presenter

    presenter.step_key('x" onmouseover="alert(1)')


def test_pool_next_frame_pauses_and_steps_one_frame():
    at = page(POOL, {"view": "Live"} | SMALL, present=True)
    at.button(key="pl_start").click().run()
    sim_time = lambda: {m.label: m.value for m in at.metric}["Sim time"]  # noqa: E731
    assert sim_time() == "5.0 s"  # speed 10 × 0.5 s frame, playing
    assert MARKER.format("pl_next_frame") in html(at)
    at.button(key="pl_next_frame").click().run()
    assert at.button(key="pl_play").label == "Play"  # paused
    assert sim_time() == "10.0 s"
    at.button(key="pl_next_frame").click().run()
    assert sim_time() == "15.0 s"
    assert not at.exception
