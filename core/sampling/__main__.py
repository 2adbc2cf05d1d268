"""Command line: sample from a model step by step and print why each token was chosen.

    python -m core.sampling "The for statement" --steps 20 --temperature 0.8 --top-p 0.9
    python -m core.sampling "x = " --greedy --save            # also save it as a run
    python -m core.sampling --replay 12                        # re-sample saved run 12

Each line shows the step, the token, its rank in the model's distribution, the probability it
had after the processors, the model's entropy (nats) and the step latency. The same page
logic is used as in the browser (`core.sampling.Sampler`), so a saved run opens there too.
"""

from __future__ import annotations

import argparse
import sys

from core import registry
from core.helpformat import HelpFormatter
from core.sampling.config import DEFAULT_ORDER, SamplingConfig, SamplingConfigError
from core.sampling.persist import load_trajectory, replay, save_trajectory
from core.sampling.sampler import Sampler, SamplingError
from core.store import DatabaseUnavailable, open_database
from core.tokenization.display import display_token
from core.tokenization.gguf_tokenizer import render_chat


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m core.sampling", description=__doc__, formatter_class=HelpFormatter
    )
    p.add_argument("prompt", nargs="?", default="", help="empty = start from <|endoftext|>")
    p.add_argument("--model-id", default=None, help="registry id (default: the built-in model)")
    p.add_argument("--steps", type=int, default=20, help="tokens to sample")
    p.add_argument("--temperature", type=float, default=1.0, help="divides the logits")
    p.add_argument("--top-k", type=int, default=None, help="keep the k most likely tokens")
    p.add_argument("--top-p", type=float, default=None, help="keep the smallest set with mass p")
    p.add_argument("--min-p", type=float, default=None, help="drop tokens below p × the best")
    p.add_argument(
        "--repetition-penalty", type=float, default=1.0, help="divides seen tokens' logits"
    )
    p.add_argument(
        "--presence-penalty", type=float, default=0.0, help="subtracted from seen tokens' logits"
    )
    p.add_argument("--order", default=",".join(DEFAULT_ORDER), help="processors, in order")
    p.add_argument("--greedy", action="store_true", help="always take the most likely token")
    p.add_argument("--seed", type=int, default=0, help="random seed of the draws")
    p.add_argument(
        "--chat", action="store_true",
        help="the prompt is a user message, put through the model's chat template (SmolLM2)",
    )  # fmt: skip
    p.add_argument("--system", default="", help="with --chat: a system message")
    p.add_argument("--no-cache", action="store_true", help="recompute the prefix every step")
    p.add_argument("--save", action="store_true", help="save the trajectory as a run")
    p.add_argument("--replay", type=int, default=None, metavar="RUN_ID", help="replay a run")
    return p


def _print_steps(sampler: Sampler) -> None:
    print(f"{'step':>4}  {'token':<20} {'rank':>4} {'p':>7} {'H nats':>7} {'ms':>7}")
    for r in sampler.records:
        how = " (forced)" if r.forced else ""
        print(
            f"{r.index + 1:>4}  {display_token(r.token_text)[:20]:<20} {r.rank + 1:>4} "
            f"{r.prob:>7.4f} {r.entropy:>7.3f} {r.latency_ms:>7.2f}{how}"
        )
    bold, plain = ("\033[1m", "\033[0m") if sys.stdout.isatty() else ("", "")
    print(f"\n{sampler.prompt_text}{bold}{sampler.text}{plain}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.replay is not None:
            session_factory = open_database()
            with session_factory() as session:
                saved = load_trajectory(session, args.replay)
            loaded = registry.load_model(saved.model_id or registry.default_model_id() or "")
            result = replay(loaded.model, loaded.tokenizer, saved)
            _print_steps(result.sampler)
            print("replay: " + ("every token matched" if result.exact else
                                f"diverged at step {result.first_mismatch + 1}"))  # fmt: skip
            return 0 if result.exact else 1
        model_id = args.model_id or registry.default_model_id()
        if model_id is None:
            print("no model is available: train the built-in model first", file=sys.stderr)
            return 2
        loaded = registry.load_model(model_id)
        config = SamplingConfig(
            temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, min_p=args.min_p,
            repetition_penalty=args.repetition_penalty, presence_penalty=args.presence_penalty,
            greedy=args.greedy, seed=args.seed, order=tuple(args.order.split(",")),
        )  # fmt: skip
        prompt = args.prompt
        if args.chat:
            template = getattr(loaded, "chat_template", None)
            if template is None:
                print(f"error: model {model_id!r} has no chat template", file=sys.stderr)
                return 2
            system = [{"role": "system", "content": args.system}] if args.system else []
            prompt = render_chat(template, [*system, {"role": "user", "content": prompt}])
        sampler = Sampler(loaded.model, loaded.tokenizer, prompt, config,
                          use_cache=not args.no_cache)  # fmt: skip
        for notice in sampler.notices:
            print(f"note: {notice}", file=sys.stderr)
        sampler.run(args.steps)
        _print_steps(sampler)
        if args.save:
            session_factory = open_database()
            with session_factory.begin() as session:
                run_id = save_trajectory(session, sampler, model_id=model_id, tags=("cli",))
            print(f"saved as run {run_id}")
        return 0
    except (SamplingConfigError, SamplingError, DatabaseUnavailable, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
