"""The guided tour: its stops (pure) and, under AppTest, the invitation on Home, Next and
Back across pages, Skip, the ?tour= flag, and a session of its own for every visitor."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.app.rendered import live_markup, plain
from ui import tour
from ui.nav import HOME, PAGES

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- pure
def test_the_tour_starts_at_home_and_visits_every_page_once():
    assert [s.url_path for s in tour.STOPS] == [HOME.url_path] + [p.url_path for p in PAGES]
    assert all(s.try_this.endswith(".") and len(s.try_this) < 140 for s in tour.STOPS)


def test_next_and_back_walk_the_stops():
    last = len(tour.STOPS) - 1
    assert tour.advance(0) == 1
    assert tour.advance(last - 1) == last
    assert tour.advance(last) == tour.ENDED
    assert tour.back(3) == 2
    assert tour.back(0) == 0


# ---------------------------------------------------------------- AppTest
def app(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return ok(at.run())


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> list[str]:
    """The Markdown texts as read (escapes and bold marks removed)."""
    return [plain(m.value).replace("**", "") for m in at.markdown]


def card_text(at: AppTest) -> str:
    return next((t for t in texts(at) if t.startswith("Tour, stop")), "")


def invited(at: AppTest) -> bool:
    return any(t.startswith("New here?") for t in texts(at))


def labels(at: AppTest) -> list[str]:
    return [b.label for b in at.button]


def test_home_invites_a_new_visitor_and_start_shows_the_first_stop():
    at = app()
    assert invited(at)
    assert "Start the tour" in labels(at) and "No thanks" in labels(at)
    at.button(key="gb_tour_start").click().run()
    assert card_text(at) == f"Tour, stop 1 of {len(tour.STOPS)}: Home. {tour.STOPS[0].try_this}"
    assert "Start the tour" not in labels(at)
    assert at.button(key="gb_tour_next").label == f"Next: {PAGES[0].title}"
    assert "Back" not in labels(at)  # nothing before the first stop
    assert live_markup(at) == []


def test_next_opens_the_next_page_with_its_stop():
    at = app({"tour": "1"})
    at.button(key="gb_tour_next").click().run()
    ok(at)
    assert at.title[0].value == PAGES[0].title  # Tokenization's page ran
    assert card_text(at).startswith(f"Tour, stop 2 of {len(tour.STOPS)}: {PAGES[0].title}.")
    assert tour.STOPS[1].try_this in card_text(at)
    assert at.session_state[tour.STATE_KEY] == 1


# (AppTest drops the clicks of app.py's buttons on a page reached by switch_page, so Back
# and Finish are clicked on Home here; tests/e2e/test_presenter.py clicks them on the pages.)
def test_back_goes_to_the_stop_before():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state[tour.STATE_KEY] = 2
    ok(at.run())
    assert card_text(at).startswith("Tour, stop 3 of")
    at.button(key="gb_tour_back").click().run()
    ok(at)
    assert at.session_state[tour.STATE_KEY] == 1
    assert at.title[0].value == PAGES[0].title  # stop 2's page


def test_the_card_follows_the_visitor_and_offers_the_way_back():
    at = app({"tour": "1"})
    at.switch_page("pages/runs.py").run()
    ok(at)
    assert card_text(at).startswith("Tour, stop 1 of")  # still at Home's stop
    back = [p.proto for p in at.main.get("page_link") if p.proto.label == "Back to Home"]
    assert len(back) == 1


def test_no_thanks_ends_it_for_the_session_and_home_offers_it_again():
    at = app()
    at.button(key="gb_tour_skip").click().run()
    assert not invited(at)
    assert card_text(at) == ""
    at.run()
    assert "Start the tour" not in labels(at)
    at.button(key="gb_tour_again").click().run()
    assert card_text(at).startswith("Tour, stop 1 of")


def test_end_and_finish_end_it():
    at = app({"tour": "1"})
    at.button(key="gb_tour_end").click().run()
    assert card_text(at) == "" and not invited(at)
    at.session_state[tour.STATE_KEY] = len(tour.STOPS) - 1  # the last stop: Saved runs
    at.run()
    assert at.button(key="gb_tour_next").label == "Finish"
    at.button(key="gb_tour_next").click().run()
    ok(at)
    assert card_text(at) == ""
    assert at.session_state[tour.STATE_KEY] == tour.ENDED


def test_the_flag_starts_or_ends_it_and_then_leaves_the_link():
    at = app({"tour": "0"})
    assert not invited(at)
    assert "tour" not in at.query_params
    at.query_params["tour"] = "1"
    at.run()
    assert card_text(at).startswith("Tour, stop 1 of")
    assert "tour" not in at.query_params
    at.button(key="gb_tour_next").click().run()
    at.run()  # a rerun does not restart it: the flag was taken out of the link
    assert card_text(at).startswith("Tour, stop 2 of")


def test_a_bad_flag_is_named():
    at = app({"tour": "[x](http://example.invalid)"})
    (warning,) = at.warning
    assert "tour='[x](http://example.invalid)' is not 1 (on) or 0 (off)" in plain(warning.value)
    assert live_markup(at) == []


def test_every_visitor_has_a_tour_of_their_own():
    first = app()
    first.button(key="gb_tour_start").click().run()
    second = app()  # another session in the same process: not started
    assert card_text(second) == ""
    assert invited(second)
    assert card_text(first).startswith("Tour, stop 1 of")
