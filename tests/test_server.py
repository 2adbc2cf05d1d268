"""The streamlit launcher the e2e tests and benchmarks share."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from ui.server import ServerStartError, start_streamlit


def test_a_server_that_cannot_start_is_reported_with_its_log(tmp_path):
    log = tmp_path / "streamlit.log"
    with pytest.raises(ServerStartError, match="did not start") as info:
        start_streamlit("no_such_page.py", {"GLASSBOX_HOME": str(tmp_path)}, log, timeout_s=60)
    assert "no_such_page.py" in str(info.value)  # the log's tail says what went wrong


def test_the_app_listens_on_loopback_unless_told_otherwise():
    config = Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml"
    server = tomllib.loads(config.read_text())["server"]
    assert server["address"] == "127.0.0.1"  # README "Serving a room" says how to widen it


def test_no_full_garbage_collection_after_every_script_run():
    """Streamlit's default gc.collect(2) after each run costs ~0.2 s of GIL per rerun here."""
    import gc

    from streamlit import config as st_config

    config = Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml"
    assert tomllib.loads(config.read_text())["runner"]["postScriptGC"] is False
    assert "runner.postScriptGC" in st_config.get_config_options()  # an option it still reads
    assert gc.isenabled()  # Python's own collector is left on
