"""ui.formkeep: a form's values come back when Streamlit drops its widgets' state."""

from __future__ import annotations

from ui.formkeep import remember, restore

FIELDS = ["n_layer", "n_embd", "steps", "name"]


def test_dropped_values_come_back_and_others_are_left_alone():
    state = {"tr_n_layer": 4, "tr_n_embd": 96, "tr_steps": 250, "tr_name": "", "other": 1}
    remember(state, "tr_copy", "tr_", FIELDS)
    assert state["tr_copy"] == {"n_layer": 4, "n_embd": 96, "steps": 250, "name": ""}
    # what Streamlit does to widgets the browser had not drawn when a click arrived
    del state["tr_n_layer"], state["tr_steps"]
    state["tr_n_embd"] = 128  # a value the user changed stays as it is
    assert restore(state, "tr_copy", "tr_", FIELDS) == ["n_layer", "steps"]
    assert {k: state[f"tr_{k}"] for k in FIELDS} == {
        "n_layer": 4, "n_embd": 128, "steps": 250, "name": ""}  # fmt: skip
    assert restore(state, "tr_copy", "tr_", FIELDS) == []


def test_nothing_remembered_restores_nothing():
    state: dict = {"tr_steps": 7}
    assert restore(state, "tr_copy", "tr_", FIELDS) == []
    assert state == {"tr_steps": 7}
