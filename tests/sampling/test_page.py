"""The Sampling page's model (core.sampling.page): prompt ⇄ link, chat render, small texts."""

from __future__ import annotations

import dataclasses

import pytest

from core.sampling import page as sp
from core.sampling.persist import ReplayResult
from core.tokenization.gguf_tokenizer import ChatTemplateError
from tests.model.tiny_llama import CHATML


def test_plain_prompt_and_chat_render():
    plain = sp.Prompt(mode=sp.PLAIN, prompt="Once upon")
    assert plain.text(CHATML) == "Once upon"
    chat = sp.Prompt(system="Be brief.", user="Hi")
    assert chat.messages() == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    assert chat.text(CHATML) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    # no template: the chat fields are kept but the model continues the plain prompt
    assert chat.text(None) == sp.DEFAULT_PROMPT
    assert sp.Prompt(system="  ").messages() == [{"role": "user", "content": sp.DEFAULT_QUESTION}]


def test_a_broken_template_says_so():
    with pytest.raises(ChatTemplateError):
        sp.Prompt().text("{% for %}")


@pytest.mark.parametrize(
    ("present", "mode"),
    [
        ({"chat"}, sp.CHAT),  # chat=1
        ({"prompt"}, sp.PLAIN),  # an older link, or one made on a model without a template
        ({"n"}, sp.CHAT),  # neither: the default
    ],
)
def test_mode_from_the_link(present, mode):
    values = {"chat": True, "prompt": "x", "system": "", "user": "q", "n": 5}
    assert sp.prompt_from_link(values, present).mode == mode


def test_chat_flag_off_is_plain_text():
    values = {"chat": False, "prompt": "x", "system": "s", "user": "u"}
    assert sp.prompt_from_link(values, {"chat", "prompt"}) == sp.Prompt(
        mode=sp.PLAIN, prompt="x", system="s", user="u"
    )


def test_chat_round_trips_through_the_link_values():
    chat = sp.Prompt(system="Be brief.", user="What is 2+2?")
    link = sp.link_values(chat, has_template=True)
    assert link.values == {"chat": True, "system": "Be brief.", "user": "What is 2+2?"}
    assert link.complete and link.note is None
    back = sp.prompt_from_link(dataclasses.asdict(sp.Prompt()) | link.values, set(link.values))
    assert (back.mode, back.system, back.user) == (sp.CHAT, "Be brief.", "What is 2+2?")
    # an empty system message stays out of the link
    assert sp.link_values(sp.Prompt(user="Hi"), True).values == {"chat": True, "user": "Hi"}


def test_plain_prompt_link_names_the_mode_only_where_there_is_a_choice():
    plain = sp.Prompt(mode=sp.PLAIN, prompt="Once")
    assert sp.link_values(plain, has_template=True).values == {"chat": False, "prompt": "Once"}
    assert sp.link_values(plain, has_template=False).values == {"prompt": "Once"}
    # a chat prompt on a model without a template is a plain prompt
    assert sp.link_values(sp.Prompt(prompt="x"), has_template=False).values == {"prompt": "x"}


def test_texts_over_the_bound_stay_out_of_the_link_with_a_note():
    at_bound = sp.Prompt(system="s" * 1000, user="u" * 1000)
    assert sp.link_values(at_bound, True).complete
    over = sp.Prompt(system="s" * 1000, user="u" * 1001)
    link = sp.link_values(over, True)
    assert link.values == {"chat": True} and not link.complete
    assert link.note == (
        "The messages are 2,001 characters long: links keep messages of at most 2,000 "
        "characters together, so this page's link does not include them."
    )
    long_plain = sp.link_values(sp.Prompt(mode=sp.PLAIN, prompt="p" * 3000), False)
    assert long_plain.values == {} and long_plain.note == (
        "The prompt is 3,000 characters long: links keep prompts of at most 2,000, so this "
        "page's link does not include it."
    )


def test_opening_a_saved_run_shows_its_prompt_as_plain_text():
    current = sp.Prompt(system="s", user="u")
    opened = sp.opened_prompt("<|im_start|>user\nu<|im_end|>\n", current)
    assert opened == sp.Prompt(mode=sp.PLAIN, prompt="<|im_start|>user\nu<|im_end|>\n",
                               system="s", user="u")  # fmt: skip


@pytest.mark.parametrize(
    ("p", "shown"), [(0.5, "0.500"), (0.001, "0.001"), (0.0, "0.000"), (4.2e-5, "4.2e-05")]
)
def test_fmt_p(p, shown):
    assert sp.fmt_p(p) == shown


def test_chosen_by(model, enc):
    from core.sampling import Sampler, SamplingConfig

    sampler = Sampler(model, enc, "Hi", SamplingConfig(seed=3))
    drawn = sampler.step()
    assert sp.chosen_by(drawn)[0] == "draw"
    assert sp.chosen_by(drawn)[1] == (
        f"Uniform draw u = {drawn.draw:.4f} from the seeded generator; the token is where u "
        "falls in the cumulative distribution."
    )
    assert sp.chosen_by(sampler.force(5)) == ("you", None)
    greedy = Sampler(model, enc, "Hi", SamplingConfig(greedy=True)).step()
    assert sp.chosen_by(greedy) == ("argmax", None)


def test_compare_variants_and_opened_message():
    assert sp.compare_variants(0.7, 1.0, 1.5, 0.9) == {
        "A: T=0.7": {"temperature": 0.7, "top_p": None},
        "B: T=1.5, top-p 0.9": {"temperature": 1.5, "top_p": 0.9},
    }
    exact = ReplayResult(sampler=None, first_mismatch=None)  # type: ignore[arg-type]
    assert sp.opened_message(4, exact, 12) == (
        "Opened run #4 and replayed 12 steps: every token matched ✓"
    )
    off = ReplayResult(sampler=None, first_mismatch=2)  # type: ignore[arg-type]
    assert sp.opened_message(4, off, 12) == (
        "Opened run #4 and replayed 12 steps: re-sampling diverged at step 3; the saved "
        "tokens are shown"
    )


def test_number_settings_are_form_keys_whose_bounds_the_config_accepts():
    from core.sampling import SamplingConfig, SamplingConfigError

    form = SamplingConfig().to_form()
    assert [n.setting for n in sp.NUMBER_SETTINGS] == [
        "temperature", "top_k", "top_p", "min_p", "repetition_penalty", "presence_penalty"
    ]  # fmt: skip
    for n in sp.NUMBER_SETTINGS:
        SamplingConfig.from_form(form | {n.setting: n.hi}).resolve(20_000_000)
        low = SamplingConfig.from_form(form | {n.setting: n.lo})
        refused = {"top_p": "top-p must be in", "repetition_penalty": "penalty must be > 0"}
        if n.setting in refused:  # their widgets' 0 is refused with a message the page shows
            with pytest.raises(SamplingConfigError, match=refused[n.setting]):
                low.resolve(20_000_000)
        else:
            low.resolve(20_000_000)


def test_a_chat_links_steps_wait_for_a_chat_model():
    chat = sp.Prompt(user="Hi")
    assert sp.chat_link_waits(chat, has_template=True) is None
    assert sp.chat_link_waits(sp.Prompt(mode=sp.PLAIN), has_template=False) is None
    assert sp.chat_link_waits(chat, has_template=False).startswith(
        "This link holds a chat and the steps the model wrote in reply. Pick a chat model"
    )
