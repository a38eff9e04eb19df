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
    p.add_argument("--format", default="table", choices=["table", "markdown", "csv", "json"],
                   help="output format (default: an aligned text table)")
    p.add_argument("--no-cost", action="store_true",
                   help="skip the cost column (forward+backward time relative to ReLU; measured once, then cached)")
    p.set_defaults(func=_run_list)


def _run_list(args):
    from .catalog.text import properties, table

    print(table(properties(cost=not args.no_cost), args.format))


def _add_show(sub):
    p = sub.add_parser("show", help="formula, derivative, parameters and properties of one activation")
    p.add_argument("name", help="an activation name or spec string, e.g. gelu or 'elu:alpha=0.2'")
    p.add_argument("--no-cost", action="store_true", help="do not measure (or look up) the relative cost")
    p.set_defaults(func=_run_show)


def _run_show(args):
    from .catalog.text import describe, properties

    print(describe(args.name, props=properties([args.name], cost=not args.no_cost)[0]))


def _add_plot(sub):
    p = sub.add_parser("plot", help="plot activations and their derivatives")
    p.add_argument("names", nargs="*", help="activation names or spec strings, e.g. gelu 'elu:alpha=0.2'")
    p.add_argument("--all", action="store_true",
                   help="every activation, plus a gallery grid and an animated slideshow (GIF)")
    p.add_argument("--out", default="figs", help="output folder (default: figs)")
    p.add_argument("--style", default="light", choices=["light", "dark"])
    p.add_argument("--format", default="png", help="comma-separated figure formats: png, svg (default: png)")
    p.add_argument("--dpi", type=int, default=110, help="resolution of PNG files (default: 110)")
    p.set_defaults(func=_run_plot)


def _run_plot(args):
    from pathlib import Path

    from .catalog import names, parse
    from .plots.catalog import formats, gallery, plot_activations, slideshow

    if not args.names and not args.all:
        raise UserError("name the activations to plot (e.g. 'actlab plot gelu elu') or pass --all")
    if args.dpi < 10:
        raise UserError(f"--dpi must be at least 10 (got {args.dpi})")
    fmts = formats(args.format)
    chosen = names() if args.all else args.names
    for text in chosen:
        parse(text)  # every name checked before any file is written
    out = Path(args.out)
    paths = plot_activations(chosen, out, style=args.style, fmts=fmts, dpi=args.dpi)
    if args.all:
        paths += gallery(chosen, out / "gallery", style=args.style, fmts=fmts, dpi=args.dpi)
        paths.append(slideshow(chosen, out / "slideshow.gif", style=args.style))
    print(f"wrote {len(paths)} files to {out}/")
    for path in paths:
        print(f"  {path}")


# --- compare ---------------------------------------------------------------- #
def _add_compare(sub):
    p = sub.add_parser(
        "compare", help="train the same network once per activation and seed, and rank them",
        description="Train the same network once per activation and seed (validation split for every choice, "
                    "test set for the final numbers only), store every epoch in results.sqlite, and print a "
                    "ranking with 95% confidence intervals and Holm-corrected Welch tests. Without flags: the "
                    "seed experiment on the embedded mnist-small data. Rerun with the same --out to resume.")
    p.add_argument("--profile", default="default", choices=["default", "paper", "test"],
                   help="default: quick study on mnist-small (minutes on a laptop), or the --task's default budget; "
                        "paper: full MNIST, 12 epochs, 5 seeds; test: the task's small test profile (seconds). "
                        "Flags below override the profile.")
    p.add_argument("--activations", metavar="LIST",
                   help="comma-separated catalog names with optional parameters, e.g. relu,gelu,elu:alpha=0.2")
    p.add_argument("--model", metavar="KIND", help="cnn (the seed CNN), mlp, or PKG.MODULE:FUNC")
    p.add_argument("--task", metavar="NAME|PKG.MODULE:FUNC",
                   help="what to train: seed-cnn (default), deep-mlp, or your own task (see 'actlab tasks'); "
                        "the task gives dataset, model and budget, the flags below override them")
    p.add_argument("--dataset", metavar="NAME",
                   help="mnist-small (embedded), mnist, fashion-mnist, or your own: npz:FILE (arrays x, y), "
                        "csv:FILE[#column=NAME] (a label column, numeric features; trains an MLP) or "
                        "imagefolder:DIR (one folder per class; any size, grey or colour)")
    p.add_argument("--data-dir", metavar="DIR", help="folder holding the dataset's four IDX .gz files")
    p.add_argument("--epochs", type=int, metavar="N")
    p.add_argument("--seeds", type=int, metavar="N", help="runs per activation (seeds 0..N-1)")
    p.add_argument("--train-limit", metavar="N|all",
                   help="train on a stratified subset of N training images ('all': no limit)")
    p.add_argument("--val-fraction", type=float, metavar="X", help="share of the training data held out for validation")
    p.add_argument("--batch-size", type=int, metavar="N")
    p.add_argument("--lr", type=float, metavar="X", help="Adam learning rate")
    p.add_argument("--clip-value", metavar="X|none", help="clip every gradient element to [-X, X] (seed: 0.5)")
    p.add_argument("--clip-norm", metavar="X|none", help="rescale the gradient to total norm at most X")
    p.add_argument("--init", metavar="SCHEME", help="weight initialisation (auto picks one per activation)")
    p.add_argument("--batchnorm", action=argparse.BooleanOptionalAction, default=None,
                   help="batch normalisation before every hidden activation")
    p.add_argument("--width", type=int, metavar="N", help="hidden width (dense layer of the CNN, every MLP layer)")
    p.add_argument("--depth", metavar="N[,N...]",
                   help="hidden layers of the MLP; a list (4,16,32,64) sweeps over depth")
    p.add_argument("--grid", action="append", metavar="KEY=V1|V2",
                   help="also sweep a hyperparameter, e.g. --grid lr=0.001|0.0003 (repeatable)")
    p.add_argument("--workers", type=_workers_flag, default="auto", metavar="N|auto",
                   help="train in N worker processes sharing the cores (1: in this process, with every core); "
                        "auto (default): one process per core, at most one per run (one thread each when "
                        "there are at least as many runs as cores)")
    p.add_argument("--backend", default="local", choices=["local", "ray"],
                   help="where the runs train: local processes (default) or Ray (pip install 'actlab[ray]')")
    p.add_argument("--address", metavar="auto|HOST:PORT",
                   help="with --backend ray: join this Ray cluster (default: start a private local Ray)")
    p.add_argument("--early-stop", metavar="asha[:eta=N,first=N,async]",
                   help="stop clearly losing configurations early: every configuration trains to each rung, then "
                        "the whole rung is ranked (synchronous successive halving); 'asha:async' promotes as runs "
                        "arrive (results depend on arrival order). Stopped runs are listed in stopped.csv and "
                        "never ranked")
    p.add_argument("--out", metavar="DIR", help="output folder (default runs/compare-<time>); an existing "
                                                "study folder is resumed")
    p.add_argument("--diagnostics", action="store_true", default=None,
                   help="also record per-layer gradient and activation statistics every epoch")
    p.add_argument("--until-decided", nargs="?", const="ranking", metavar="ranking|best",
                   help="racing: start with --seeds seeds (default 3) per activation, then add seeds only to "
                        "activations whose place is still open, with the error rate controlled across looks "
                        "(docs/racing.md); stops when the ranking is decided, at --max-seeds or at --budget. "
                        "'--until-decided best' only looks for the best: an activation stops once another is "
                        "decided better")
    p.add_argument("--budget", metavar="DURATION",
                   help="with --until-decided: this invocation's time, e.g. 90s, 30m, 2h; rounds then train epoch "
                        "by epoch and a step the time left cannot pay for (from the stored epoch times) is not "
                        "started")
    p.add_argument("--max-seeds", metavar="N",
                   help="with --until-decided: the most seeds any activation receives (default 10)")
    p.add_argument("--tolerance", metavar="D",
                   help="with --until-decided: decide a pair 'equivalent' when its interval lies inside [-D, D], "
                        "in the metric's units (accuracy points: 0.3 = 0.3 points); off by default")
    p.add_argument("--spending", metavar="pocock|peto|obf",
                   help="with --until-decided: how alpha is spent over the looks (default pocock: spends early, "
                        "clear losers stop soon; peto: strict interim looks, 90%% of alpha at the last, nearly "
                        "the fixed protocol's verdict; docs/racing.md)")
    p.add_argument("--futility", metavar="P",
                   help="with --until-decided: an open pair with less than this chance to be decided by the last "
                        "look stops drawing seeds (default 0.1; 0: off)")
    p.add_argument("--quiet", action="store_true", help="no progress bar; print only the ranking")
    p.set_defaults(func=_run_compare)


def _race_flags(args):
    """--until-decided [ranking|best], --budget, --max-seeds, --tolerance, --spending, --futility checked together:
    ``{max_seeds, budget (seconds or None), tolerance (in the shown units), goal, spending, futility (None: the
    default)}``, or None without --until-decided. Racing starts from --seeds (3 when not given)."""
    import math

    from .compare.race import FIRST_SEEDS, GOALS, MAX_SEEDS, check_max_seeds, parse_budget
    from .results.verdict.racing import SPENDING, spent

    if not args.until_decided:
        given = [f for f, v in (("--budget", args.budget), ("--max-seeds", args.max_seeds),
                                ("--tolerance", args.tolerance), ("--spending", args.spending),
                                ("--futility", args.futility)) if v is not None]
        if given:
            raise UserError(f"{' and '.join(given)} apply to racing; add --until-decided (or drop them)")
        return None
    if args.until_decided not in GOALS:
        raise UserError(f"--until-decided {args.until_decided!r} is not a goal; give 'ranking' (the default: settle "
                        "every pair) or 'best' (only find the best)")
    if args.early_stop:
        raise UserError("--until-decided and --early-stop are alternatives: racing adds seeds where the ranking "
                        "is open, ASHA stops losing configurations early; choose one")
    if args.seeds is None:
        args.seeds = FIRST_SEEDS
    try:
        max_seeds = int(args.max_seeds) if args.max_seeds is not None else max(MAX_SEEDS, args.seeds)
    except ValueError:
        raise UserError(f"--max-seeds {args.max_seeds!r} is not a whole number; give e.g. --max-seeds 10") from None
    check_max_seeds(max_seeds, args.seeds)
    try:
        tolerance = 0.0 if args.tolerance is None else float(args.tolerance)
    except ValueError:
        tolerance = math.nan
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise UserError(f"--tolerance {args.tolerance!r} is not a number >= 0; give the indifference zone in the "
                        "metric's units, e.g. --tolerance 0.3 (accuracy points)")
    spending = args.spending or SPENDING
    try:
        spent(1.0, 0.05, spending)
    except ValueError:
        raise UserError(f"--spending {args.spending!r} is not a spending function; give pocock (the default), peto "
                        "or obf (docs/racing.md)") from None
    try:
        futility = None if args.futility is None else float(args.futility)
    except ValueError:
        futility = math.nan
    if futility is not None and not 0 <= futility < 1:
        raise UserError(f"--futility {args.futility!r} is not a chance in [0, 1); give e.g. --futility 0.1, or 0 to "
                        "keep every open pair sampled")
    return dict(max_seeds=max_seeds, budget=None if args.budget is None else parse_budget(args.budget),
                tolerance=tolerance, goal=args.until_decided, spending=spending, futility=futility)


def _depths(text: str):
    """--depth: '8' -> 8; '4,16,32' -> (4, 16, 32), a sweep over depth (a grid the study records)."""
    from .compare.sweep import parse_value

    values = tuple(dict.fromkeys(parse_value("depth", t) for t in text.split(",")))
    return values[0] if len(values) == 1 else values


def _workers_flag(text: str):
    """--workers: 'auto' or a whole number (checked for >= 1 by _run_compare, with a clear message)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a whole number nor 'auto'") from None


def _run_compare(args):
    import shlex
    import time

    from .compare import build_study, format_ranking, parse_activations, parse_grid, run_study
    from pathlib import Path

    from .compare.asha import parse_early_stop
    from .compare.executors import resolve_workers, threads_per_worker
    from .compare.executors import make_executor
    from .compare.scaleout import format_stopped
    from .report import write_study_report
    from .store import Store
    from .compare.sweep import parse_train_limit, parse_value

    if args.workers != "auto" and args.workers < 1:
        raise UserError(f"--workers must be at least 1 (got {args.workers})")
    race = _race_flags(args)  # the race's settings with --until-decided, else None
    def optional(parse, value):
        return None if value is None else parse(value)

    study = build_study(
        args.profile,
        activations=optional(parse_activations, args.activations), grid=optional(parse_grid, args.grid),
        clip_value=optional(lambda v: parse_value("clip_value", v), args.clip_value),
        clip_norm=optional(lambda v: parse_value("clip_norm", v), args.clip_norm),
        train_limit=optional(parse_train_limit, args.train_limit),
        model=args.model, dataset=args.dataset, data_dir=args.data_dir, epochs=args.epochs, seeds=args.seeds,
        val_fraction=args.val_fraction, batch_size=args.batch_size, lr=args.lr, init=args.init,
        batchnorm=args.batchnorm, width=args.width, depth=optional(_depths, args.depth),
        diagnostics=args.diagnostics, task=args.task)
    args.out = args.out or f"runs/compare-{time.strftime('%Y%m%d-%H%M%S')}"
    # The command as parsed (every given flag, the chosen --out), so config.json can reproduce the study.
    command = ["actlab", "compare"]
    for key, value in vars(args).items():
        flag = "--" + key.replace("_", "-")
        # --backend and --address say where the study trains, not what it is.
        if key in ("command", "func", "backend", "address") or value is None or \
                (key, value) in (("profile", "default"), ("workers", "auto")):
            continue
        if isinstance(value, bool):
            command += [flag] if value else ([f"--no-{key}"] if key == "batchnorm" else [])
        else:
            command += [x for v in (value if isinstance(value, list) else [value]) for x in (flag, str(v))]
    runs = len(study.runs())
    workers = resolve_workers(args.workers, runs)
    if not args.quiet:
        where = ("in this process" if workers == 1 else
                 f"in {workers} worker processes x {threads_per_worker(workers)} thread(s)")
        print(f"actlab compare: {runs} runs {where} (--workers {args.workers}; --workers 1 trains in this "
              "process, N in N processes)", file=sys.stderr)
    early_stop = parse_early_stop(args.early_stop)
    executor = make_executor(workers, args.backend, args.address) if (
        args.backend != "local" or args.address) else None
    outcome = None
    try:
        if race is not None:
            from .compare.race import run_race
            from .results.metric import metric_of

            # --tolerance is in the units differences are shown in (accuracy points); the race takes the metric's own
            race["tolerance"] /= metric_of(study.config()).scale
            summary, outcome = run_race(study, args.out, workers=workers, executor=executor, quiet=args.quiet,
                                        command=shlex.join(command), **race)
        else:
            summary = run_study(study, args.out, workers=workers, executor=executor, early_stop=early_stop,
                                quiet=args.quiet, command=shlex.join(command))
    finally:
        if hasattr(executor, "close"):
            executor.close()
    write_study_report(args.out)
    if outcome is not None:
        # The race's decisions hold their error rate over every look; the table below tests the final seeds
        # once, as if they had been planned, so after a race it describes, and the race decides.
        # The look's statement is not repeated here: the Verdict under the table leads with it.
        print("Verdict of the race (family-wise error controlled over all pairs and looks): it leads the "
              "Verdict under the table.\n" + "\n".join(outcome.lines(statement=False))
              + "\n\nThe table, and the verdict's \"Described, not decided\" part, test the final seeds once, "
                "ignoring the race's earlier looks: read them as a description; where they separate a pair the "
                "race left open, the race's decision is the one with the stated error rate.\n")
    print(format_ranking(summary))
    with Store(Path(args.out) / "results.sqlite", readonly=True) as store:
        stopped = format_stopped(store)
    if stopped:
        print(stopped)
    if not args.quiet:
        print(f"\nwrote {args.out}/: summary.csv, pairs.csv, history.csv, accuracy.png, loss.png, results.sqlite, "
              f"config.json, report.html\nrerun the same command (with --out {args.out}) to resume or redraw")


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
    p.add_argument("names", nargs="*", metavar="NAME", help="only these activations (default: all)")
    p.add_argument("--html", metavar="DIR", required=True, help="folder for index.html and one page per activation")
    p.add_argument("--no-figures", action="store_true",
                   help="leave out the matplotlib figures (faster; the live plot stays)")
    p.set_defaults(func=_run_catalog)


def _run_catalog(args):
    from .report import write_catalog_site

    try:
        print(write_catalog_site(args.html, names=args.names or None, figures=not args.no_figures))
    except OSError as e:
        raise UserError(f"cannot write the catalog to {args.html}: {e.strerror or e}; choose a writable folder") from None


# --- tune ------------------------------------------------------------------- #
def _add_tune(sub):
    p = sub.add_parser(
        "tune", help="tune each activation's hyperparameters on validation data, then compare the tuned winners",
        description="Give every activation the same hyperparameter search (each trial scored on the validation "
                    "split only), then train each activation's best configuration over the seeds and compare them "
                    "as 'actlab compare' does, test set last. Writes tuned.csv, trials.csv, lr_sensitivity.png and "
                    "the compare outputs; rerun with the same --out to resume (finished trials are not rerun).")
    p.add_argument("--space", action="append", required=True, metavar="SPEC",
                   help="what to search: key=LOW..HIGH[:log] or key=V1|V2, comma-separated or repeated, e.g. "
                        "lr=1e-4..1e-2:log,batch_size=64|128")
    p.add_argument("--trials", type=int, default=20, metavar="N", help="trials per activation (default 20)")
    p.add_argument("--sampler", default="tpe", choices=["tpe", "random", "grid"],
                   help="tpe (default) and random are Optuna's (pip install 'actlab[tune]'); grid needs nothing")
    p.add_argument("--grid-points", type=int, default=4, metavar="N", help="values per range for --sampler grid")
    p.add_argument("--tune-seed", type=int, default=0, metavar="N", help="seed of the sampler's proposals")
    p.add_argument("--activations", metavar="LIST", help="comma-separated catalog names (default: the seed's six)")
    p.add_argument("--seeds", type=int, default=3, metavar="N", help="final runs per activation (seeds 0..N-1)")
    p.add_argument("--model", metavar="KIND", help="cnn (the seed CNN), mlp, or PKG.MODULE:FUNC")
    p.add_argument("--dataset", metavar="NAME", help="mnist-small (embedded), mnist or fashion-mnist")
    p.add_argument("--data-dir", metavar="DIR", help="folder holding the dataset's four IDX .gz files")
    p.add_argument("--epochs", type=int, metavar="N")
    p.add_argument("--train-limit", metavar="N|all", help="train on a stratified subset of N training images")
    p.add_argument("--val-fraction", type=float, metavar="X")
    p.add_argument("--batch-size", type=int, metavar="N", help="used where --space does not search it")
    p.add_argument("--lr", type=float, metavar="X", help="used where --space does not search it")
    p.add_argument("--width", type=int, metavar="N")
    p.add_argument("--depth", type=int, metavar="N")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="trials side by side (processes, or Ray CPUs)")
    p.add_argument("--backend", default="local", choices=["local", "ray"],
                   help="local processes (default) or Ray tasks (pip install 'actlab[ray]')")
    p.add_argument("--address", metavar="auto|HOST:PORT", help="with --backend ray: join this cluster instead "
                                                              "of starting a private local Ray")
    p.add_argument("--out", metavar="DIR", help="output folder (default runs/tune-<time>); an existing one is resumed")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_run_tune)


def _run_tune(args):
    import shlex
    import time

    from .compare import format_ranking, parse_activations
    from .compare.executors import make_executor
    from .compare.sweep import parse_train_limit
    from .tune import format_tuned, make_tune, parse_space, run_tune
    from .report import write_study_report

    if args.workers < 1:
        raise UserError(f"--workers must be at least 1 (got {args.workers})")
    spec = make_tune(
        parse_space(",".join(args.space)), trials=args.trials, sampler=args.sampler, tune_seed=args.tune_seed,
        grid_points=args.grid_points, seeds=args.seeds,
        activations=parse_activations(args.activations) if args.activations else None,
        train_limit=parse_train_limit(args.train_limit) if args.train_limit else None,
        model=args.model, dataset=args.dataset, data_dir=args.data_dir, epochs=args.epochs,
        val_fraction=args.val_fraction, batch_size=args.batch_size, lr=args.lr, width=args.width, depth=args.depth)
    args.out = args.out or f"runs/tune-{time.strftime('%Y%m%d-%H%M%S')}"
    # The command with every setting that shapes the study, so that it can be repeated to resume.
    shaping = [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items()
               if v is not None and k not in ("command", "func", "quiet", "workers", "backend", "address", "space")]
    command = shlex.join(["actlab", "tune", *(f"--space={s}" for s in args.space), *shaping])
    executor = make_executor(args.workers, args.backend, args.address)
    try:
        result = run_tune(spec, args.out, executor=executor, workers=args.workers, quiet=args.quiet, command=command)
    finally:
        if hasattr(executor, "close"):
            executor.close()
    write_study_report(args.out)  # the final phase's runs, ranked as by compare
    print(format_tuned(result.tuned, spec))
    print()
    print(format_ranking(result.summary))
    if not args.quiet:
        print(f"\nwrote {args.out}/: tuned.csv, trials.csv, lr_sensitivity.png, summary.csv, history.csv, "
              f"accuracy.png, loss.png, results.sqlite, report.html\n"
              f"rerun the same command (with --out {args.out}) to resume")


# --- advise ----------------------------------------------------------------- #
def _add_advise(sub):
    p = sub.add_parser(
        "advise", help="diagnose a model on real data and say what to change (init gain, activation, ...)",
        description="Measure a model at initialisation and over a few training steps on a batch of real data "
                    "(per-layer activation statistics, gradient ratios, dead and saturated units), compare with "
                    "the mean-field theory for the activations and initialisation found, and print what to "
                    "change, each recommendation with the measured and predicted numbers behind it.")
    p.add_argument("model", help="cnn, mlp, or a factory PKG.MODULE:FUNC (FUNC() or "
                                 "FUNC(activation_factory, in_shape=..., num_classes=...))")
    p.add_argument("--activation", metavar="NAME", help="activation for cnn/mlp and for factories that take one "
                                                        "(default relu)")
    p.add_argument("--init", default="auto", metavar="SCHEME", help="init of cnn/mlp (auto, he, glorot, lecun, "
                                                                      "pytorch); a factory keeps its own")
    p.add_argument("--depth", type=int, default=2, metavar="N", help="hidden layers of mlp")
    p.add_argument("--width", type=int, default=128, metavar="N", help="hidden width of mlp / dense layer of cnn")
    p.add_argument("--data", default="mnist-small", metavar="NAME",
                   help="mnist-small (embedded, default), mnist or fashion-mnist")
    p.add_argument("--data-dir", metavar="DIR", help="folder holding the dataset's four IDX .gz files")
    p.add_argument("--batch-size", type=int, default=128, metavar="N", help="images in the batch (default 128)")
    p.add_argument("--steps", type=int, default=20, metavar="N", help="training steps on the batch (default 20)")
    p.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
    p.add_argument("--lr", type=float, default=1e-3, metavar="X")
    p.add_argument("--seed", type=int, default=0, metavar="N")
    p.add_argument("--html", metavar="PATH", help="also write the advice as an HTML page")
    p.add_argument("--json", metavar="PATH", help="also write the advice as JSON")
    p.add_argument("--tensorboard", metavar="DIR", help="write one per-layer health summary per step to this "
                                                        "TensorBoard log folder (pip install 'actlab[tensorboard]')")
    p.set_defaults(func=_run_advise)


def _run_advise(args):
    import json

    from .advise import advise
    from .advise.inputs import load_batch, load_model

    if args.steps < 0 or args.batch_size < 2:
        raise UserError(f"--steps must be >= 0 and --batch-size >= 2 (got {args.steps}, {args.batch_size})")
    model = load_model(args.model, args.activation, depth=args.depth, width=args.width, init=args.init,
                       seed=args.seed)
    x, y = load_batch(args.data, args.data_dir, args.batch_size, seed=args.seed)
    try:
        advice = advise(model, (x, y), steps=args.steps, optimizer=args.optimizer, lr=args.lr, seed=args.seed,
                        tensorboard=args.tensorboard, name=args.model)
    except ImportError as e:
        raise UserError(str(e)) from None
    except RuntimeError as e:  # e.g. shapes: the model does not take 28x28 images
        raise UserError(f"the model failed on a batch of {args.data} images {tuple(x.shape)}: {e}") from None
    print(advice)
    try:
        if args.html:
            print(f"wrote {advice.to_html(args.html)}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(advice.to_dict(), f, indent=2, default=float)
            print(f"wrote {args.json}")
    except OSError as e:
        raise UserError(f"cannot write the advice: {e.strerror or e}; choose a writable path") from None


# --- theory ------------------------------------------------------------------ #
def _add_theory(sub):
    from .theory.commands import DESCRIPTION, add_arguments

    p = sub.add_parser("theory", help="mean-field theory: q*, chi_1, depth scales, edge of chaos, phase diagram, "
                                      "Jacobian spectrum; 'theory trainability' trains a depth x sigma_w^2 grid",
                       description=DESCRIPTION)
    add_arguments(p)
    p.set_defaults(func=_run_theory)


def _run_theory(args):
    from .theory.commands import run

    return run(args)


# --- tasks ------------------------------------------------------------------ #
def _add_tasks(sub):
    p = sub.add_parser("tasks", help="what can be studied: the tasks, their default budgets and test profiles",
                       description="List the tasks 'actlab compare --task NAME' trains: data, model family, metric, "
                                   "the default study's budget and time on a 2-core CPU, and the small test profile.")
    p.add_argument("task", nargs="?", metavar="NAME|PKG.MODULE:FUNC", help="show only this task (e.g. your own)")
    p.set_defaults(func=_run_tasks)


def _run_tasks(args):
    from .tasks import get
    from .tasks.table import table

    print(table([get(args.task)] if args.task else None))


def _add_suite(sub):
    p = sub.add_parser("suite", help="the same activations on several tasks: one matrix page of where the choice matters",
                       description="Run one study per task (each into OUT/<task>, resumable like any study) and "
                                   "write OUT/index.html: a matrix of each activation's standardized difference "
                                   "from the task's best, with significance, per-task rankings and links to each "
                                   "task's report.")
    p.add_argument("--activations", metavar="LIST", help="comma-separated catalog names (default: the seed's six)")
    p.add_argument("--tasks", metavar="LIST", default="seed-cnn,deep-mlp",
                   help="comma-separated task names (see 'actlab tasks'; default seed-cnn,deep-mlp)")
    p.add_argument("--profile", default="default", choices=["default", "test"],
                   help="each task's default budget, or its small test profile")
    p.add_argument("--seeds", type=int, metavar="N", help="runs per activation (default: each task's)")
    p.add_argument("--epochs", type=int, metavar="N", help="epochs per run (default: each task's)")
    p.add_argument("--train-limit", metavar="N|all", help="training images per task (default: each task's)")
    p.add_argument("--data-dir", metavar="DIR", help="folder holding the datasets' IDX .gz files")
    p.add_argument("--dataset", action="append", default=[], metavar="TASK=SPEC",
                   help="one task's dataset instead of its default, e.g. char-lm=text:corpus.txt.gz (repeatable)")
    p.add_argument("--workers", type=_workers_flag, default="auto", metavar="N|auto")
    p.add_argument("--out", metavar="DIR", default="runs/suite", help="output folder (default runs/suite)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_run_suite)


def _run_suite(args):
    import shlex
    import sys

    from .compare import DEFAULT_ACTIVATIONS, parse_activations
    from .compare.suite import run_suite
    from .compare.sweep import parse_train_limit
    from .report import write_study_report
    from .report.suite_page import write_suite_page

    activations = parse_activations(args.activations) if args.activations else DEFAULT_ACTIVATIONS
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    settings = {"epochs": args.epochs,
                "train_limit": parse_train_limit(args.train_limit) if args.train_limit else None}
    datasets = {}
    for item in args.dataset:
        task, sep, spec = item.partition("=")
        if not sep or not task.strip() or not spec.strip():
            raise UserError(f"--dataset {item!r}: expected TASK=SPEC, e.g. char-lm=text:corpus.txt.gz")
        datasets[task.strip()] = spec.strip()
    command = shlex.join(["actlab", *sys.argv[1:]])
    folders = run_suite(activations, tasks, args.out, profile=args.profile, seeds=args.seeds,
                        data_dir=args.data_dir, workers=args.workers, quiet=args.quiet, command=command,
                        settings=settings, datasets=datasets)
    for folder in folders.values():
        write_study_report(folder)
    page = write_suite_page(args.out, folders, activations, command=command)
    print(f"wrote {page} (and each task's report.html under {args.out})")

def _add_kernels(sub):
    p = sub.add_parser("kernels", help="actlab's fused CPU kernels: whether they are in use, and build them",
                       description="The exact-limit activations (GELU, SiLU, Mish, ELU, the clips and shrinks...) run "
                                   "actlab's compiled kernels on float32/float64 CPU tensors when built for this "
                                   "machine (make does it), and their Python guard otherwise: the same values, 10-30%% "
                                   "slower in training. 'status' says which and why; 'build' compiles them (g++, ~25 s).")
    p.add_argument("action", nargs="?", choices=("status", "build"), default="status")
    p.add_argument("--optional", action="store_true", help="build: exit 0 when no compiler can build them")
    p.add_argument("-v", "--verbose", action="store_true", help="build: print the compiler's command")
    p.set_defaults(func=_run_kernels)


def _run_kernels(args):
    from .catalog import fused

    if args.action == "build":
        return fused.build_and_report(optional=args.optional, verbose=args.verbose)
    print(fused.status())
    return 0


COMMANDS = [_add_list, _add_show, _add_plot, _add_compare, _add_gradients, _add_report, _add_catalog, _add_tune, _add_advise, _add_theory, _add_tasks, _add_suite, _add_kernels]


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
    except BrokenPipeError:
        # Output piped into e.g. `head` that stopped reading: not an error of ours.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
