"""The app uses no deprecated Streamlit argument and its server listens on loopback only."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPRECATED = {"use_container_width"}  # removal announced: use width="stretch" / "content"


def _app_files() -> list[Path]:
    return [
        ROOT / "app.py",
        *sorted((ROOT / "pages").glob("*.py")),
        *sorted((ROOT / "ui").glob("*.py")),
    ]


def test_no_deprecated_streamlit_keyword_arguments():
    found = []
    for path in _app_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg in DEPRECATED:
                found.append(f"{path.relative_to(ROOT)}:{node.value.lineno} {node.arg}")
    assert len(_app_files()) > 10 and found == []


def test_server_address_is_set_to_loopback():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["address"] == "127.0.0.1"


def test_the_theme_is_not_pinned_and_the_menu_offers_the_switch():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert "base" not in config.get("theme", {})  # light or dark, as the viewer picks
    assert config["client"]["toolbarMode"] == "viewer"  # Settings, not developer options
