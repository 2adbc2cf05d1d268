"""``--help`` that reads well: examples keep their lines, every option shows its default.

Every command line (``python -m core.<package>``, ``python -m bench.<name>``) builds its
parsers with ``formatter_class=HelpFormatter`` (subparsers too: argparse does not pass it
on), and gives every option a help line.
"""

from __future__ import annotations

import argparse


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Description and epilog printed as written (example commands stay one per line);
    ``(default: …)`` after each option's help, except where a default says nothing (an
    unset ``None``, a flag's ``False``, an empty string) or the help already names it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help_text = action.help or ""
        if (
            "%(default)" in help_text
            or "(default" in help_text
            or action.default is None
            or action.default is False
            or action.default == ""
            or action.default is argparse.SUPPRESS
            or isinstance(action, argparse._HelpAction)
            or not (action.option_strings or action.nargs in (argparse.OPTIONAL, "*"))
        ):
            return action.help
        return f"{help_text} (default: %(default)s)"
