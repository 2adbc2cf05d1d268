"""The command line: sample, save, replay, and bad settings as a message."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from core import registry
from core.sampling.__main__ import main
from tests.sampling.helpers import byte_encoding, tiny_gpt


@pytest.fixture
def tiny_registry(monkeypatch):
    model = tiny_gpt()
    loaded = SimpleNamespace(model=model, tokenizer=byte_encoding(), config=model.config)
    monkeypatch.setattr(registry, "default_model_id", lambda *a, **k: "tiny")
    monkeypatch.setattr(registry, "load_model", lambda model_id, *a, **k: loaded)


def test_sample_save_and_replay(tiny_registry, capsys):
    assert main(["Hi", "--steps", "4", "--temperature", "0.9", "--top-k", "40", "--save"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["step", "token", "rank", "p", "H", "nats", "ms"]
    assert len([line for line in out.splitlines() if line[:4].strip().isdigit()]) == 4
    assert "saved as run 1" in out
    assert main(["--replay", "1"]) == 0
    assert "replay: every token matched" in capsys.readouterr().out


def test_bad_settings_print_a_message(tiny_registry, capsys):
    assert main(["Hi", "--top-p", "0"]) == 2
    assert "error: top-p must be in (0, 1]" in capsys.readouterr().err
    assert main(["--replay", "99"]) == 2
    assert "Run 99 does not exist" in capsys.readouterr().err


def test_chat_uses_the_models_template(monkeypatch, capsys):
    from tests.model.tiny_llama import CHATML
    from tests.sampling.test_llama_sampling import chat_encoding, tiny_llama

    model = tiny_llama(context_length=96)
    loaded = SimpleNamespace(
        model=model, tokenizer=chat_encoding(), config=model.config, chat_template=CHATML
    )
    monkeypatch.setattr(registry, "load_model", lambda model_id, *a, **k: loaded)
    assert main(["Hi", "--chat", "--system", "Be brief.", "--model-id", "x", "--steps", "2"]) == 0
    out = capsys.readouterr().out
    assert "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>" in out


def test_chat_without_a_template_is_an_error(tiny_registry, capsys):
    assert main(["Hi", "--chat"]) == 2
    assert "has no chat template" in capsys.readouterr().err
