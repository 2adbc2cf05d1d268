"""ui.uploads: the widget's megabytes never exceed the feature's byte limit."""

from __future__ import annotations

from ui.uploads import widget_mb


def test_whole_megabytes_at_or_below_the_limit():
    assert widget_mb(20 * 2**20) == 20
    assert widget_mb(20 * 2**20 - 1) == 19
    assert widget_mb(200 * 2**20) == 200
    assert widget_mb(2**19) == 1  # Streamlit's smallest; the server-side check refuses more
