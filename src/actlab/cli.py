"""The actlab command line. Thin: parse, call the library, print.

Each subcommand has one ``_add_<name>(subparsers)`` function that declares its
flags and sets ``func`` to a ``_run_<name>(args)`` that calls the library.
User errors (ValueError, FileNotFoundError, ...) are printed as one clear line
with exit status 2, never as a traceback.
"""
from __future__ import annotations

import argparse
import sys


class UserError(Exception):
    """An error in what the user asked for; printed without a traceback."""


# --- catalog: list / show / plot / catalog --------------------------------- #
def _add_list(sub):
    p = sub.add_parser("list", help="one row per activation with its computed properties")
    p.set_defaults(func=_run_list)


def _run_list(args):
    raise UserError("'actlab list' is not available yet")


def _add_show(sub):
    p = sub.add_parser("show", help="formula, derivative, parameters and properties of one activation")
    p.add_argument("name")
    p.set_defaults(func=_run_show)


def _run_show(args):
    raise UserError("'actlab show' is not available yet")


def _add_plot(sub):
    p = sub.add_parser("plot", help="plot activations and their derivatives")
    p.add_argument("names", nargs="*")
    p.add_argument("--all", action="store_true")
    p.add_argument("--out", default="figs")
    p.set_defaults(func=_run_plot)


def _run_plot(args):
    raise UserError("'actlab plot' is not available yet")


# --- compare ---------------------------------------------------------------- #
def _add_compare(sub):
    p = sub.add_parser("compare", help="train the same network once per activation and seed, and rank them")
    p.set_defaults(func=_run_compare)


def _run_compare(args):
    raise UserError("'actlab compare' is not available yet")


# --- gradients -------------------------------------------------------------- #
def _add_gradients(sub):
    from .diagnose.commands import DESCRIPTION, add_subcommands

    p = sub.add_parser("gradients", help="gradient-flow experiments: chain, speed, propagate, dead, clip",
                       description=DESCRIPTION)
    add_subcommands(p)
    p.set_defaults(func=_run_gradients)


def _run_gradients(args):
    from .diagnose.commands import run

    return run(args)


# --- report / catalog site ------------------------------------------------- #
def _add_report(sub):
    p = sub.add_parser("report", help="(re)build FOLDER/report.html from a study's results store")
    p.add_argument("folder", help="the --out folder of 'actlab compare'")
    p.set_defaults(func=_run_report)


def _run_report(args):
    from .report import write_study_report

    try:
        print(write_study_report(args.folder))
    except OSError as e:
        raise UserError(f"cannot write {args.folder}/report.html: {e.strerror or e}; check the folder's permissions") from None


def _add_catalog(sub):
    p = sub.add_parser("catalog", help="write a browsable HTML catalog of every activation")
    p.add_argument("--html", metavar="DIR", required=True, help="folder for index.html and one page per activation")
    p.set_defaults(func=_run_catalog)


def _run_catalog(args):
    from .report import write_catalog_site

    try:
        print(write_catalog_site(args.html))
    except OSError as e:
        raise UserError(f"cannot write the catalog to {args.html}: {e.strerror or e}; choose a writable folder") from None


COMMANDS = [_add_list, _add_show, _add_plot, _add_compare, _add_gradients, _add_report, _add_catalog]


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="actlab",
        description="Which activation function should this network use, and why?",
    )
    parser.add_argument("--version", action="version", version=f"actlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except (UserError, ValueError, KeyError, FileNotFoundError, TypeError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"actlab {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"actlab {args.command}: interrupted; finished work is saved", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
