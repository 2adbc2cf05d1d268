"""Every upload widget says, and enforces in the browser, its feature's own size limit
(Streamlit's default is "200MB per file" from ``server.maxUploadSize``)."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.pool import setup as ps
from core.store.exchange import MAX_IMPORT_BYTES
from core.tokenization import page as tokp
from core.tokenization.bpe import MAX_TRAIN_CHARS
from core.training import page as trp

PAGES = Path(__file__).resolve().parents[2] / "pages"


def _limits(at: AppTest) -> dict[str, int]:
    """Label -> max_upload_size_mb of every file uploader drawn."""
    found: dict[str, int] = {}

    def walk(node) -> None:
        for child in getattr(node, "children", {}).values():
            if getattr(child, "type", None) == "file_uploader":
                found[child.proto.label] = child.proto.max_upload_size_mb
            walk(child)

    walk(at._tree)
    return found


def _page(name: str, **query: str) -> AppTest:
    at = AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=90)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception
    return at


def test_pool_trace_upload_says_20_mb():
    assert ps.MAX_UPLOAD_BYTES == 20 * 2**20
    assert _limits(_page("pool")) == {"…or a trace CSV": 20}


def test_training_upload_follows_the_server_setting(monkeypatch):
    assert _limits(_page("training")) == {"…and/or your own text (.txt, UTF-8)": 20}
    monkeypatch.setenv(trp.UPLOAD_MAX_ENV, "3")
    assert _limits(_page("training")) == {"…and/or your own text (.txt, UTF-8)": 3}


def test_runs_import_says_its_limit():
    assert _limits(_page("runs")) == {"Glassbox export (.json)": MAX_IMPORT_BYTES // 2**20}


def test_tokenization_uploads_say_their_limits():
    assert _limits(_page("tokenization", view="Explore")) == {"…or upload a .txt file": 5}
    at = _page("tokenization", view="BPE lab")
    at.radio[0].set_value("Upload .txt").run()
    assert not at.exception
    assert _limits(at) == {"Training corpus (.txt, UTF-8)": 40}
    assert tokp.BPE_UPLOAD_MAX_BYTES >= 4 * MAX_TRAIN_CHARS  # of any UTF-8 text
