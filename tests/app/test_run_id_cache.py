"""A deleted run's id never serves its cached data (issue 22, item 5), under AppTest.

Stores upgraded from revision 0001 may still hand out the id of a run deleted before the
upgrade; the probe saw a tokenizer deleted and another saved under the same id keep being
served from the cache (59 tokens instead of 31). The page caches key on the run's uid too.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core import registry
from core.store import delete_runs, glassbox_home, open_database
from core.tokenization import save_tokenizer_run
from core.tokenization.bpe import train_bpe

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "tokenization.py")
TEXT = "lower lowest lowly " * 4
CORPUS = "low lower lowest lowly slow slower " * 40


def _tokens(run_id: int) -> str:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params.update({"text": TEXT, "enc": f"run:{run_id}"})
    at.run()
    assert not at.exception
    return next(m.value for m in at.metric if m.label == "Tokens")


def _reuse_id(old: int, new: int) -> None:
    """What SQLite did before revision 0002: give a new run the id of a deleted one."""
    with sqlite3.connect(glassbox_home() / "glassbox.db") as conn:
        for table, column in (("runs", "id"), ("artifacts", "run_id"), ("run_points", "run_id"),
                              ("run_tags", "run_id")):  # fmt: skip
            conn.execute(f"UPDATE {table} SET {column} = ? WHERE {column} = ?", (old, new))


def test_a_reused_id_serves_the_new_tokenizer_not_the_cached_one():
    factory = open_database()
    big = train_bpe(CORPUS, 300, name="big", min_frequency=1, allow_smaller_vocab=True)
    small = train_bpe(CORPUS, 258, name="small", min_frequency=1)
    with factory.begin() as s:
        first = save_tokenizer_run(s, big)
    uid_before = registry.store_key(f"run:{first}")
    served_big = _tokens(first)
    assert served_big == str(len(big.encoding().encode(TEXT)))
    with factory.begin() as s:
        delete_runs(s, [first])
    assert registry.store_key(f"run:{first}") == ""
    with factory.begin() as s:
        second = save_tokenizer_run(s, small)
    assert second != first  # never reused any more...
    _reuse_id(first, second)  # ...but an old store may have done it
    assert registry.store_key(f"run:{first}") not in ("", uid_before)
    assert _tokens(first) == str(len(small.encoding().encode(TEXT))) != served_big
