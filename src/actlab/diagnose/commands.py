"""`actlab gradients SUBCOMMAND`: argument declarations and runners (called from actlab.cli).

Every subcommand prints a table, writes a plot into --out and, with --json,
its numbers. Bad input raises ValueError with a message; the CLI turns that
into one line and exit status 2.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .text import format_table, write_json

DESCRIPTION = ("Gradient-flow experiments. chain: the one-neuron-per-layer chain of seed 000 / Nielsen; "
               "speed: Nielsen's per-layer speed of learning on MNIST; propagate: mean, variance and "
               "gradient norm through a deep network; dead: ReLU units that never fire; clip: an exploding "
               "set-up with and without gradient clipping. Give negative numbers as --biases=-1,-2.")


def _common(p: argparse.ArgumentParser, data: bool) -> None:
    p.add_argument("--out", default="figs/gradients", help="folder for the plot (default: figs/gradients)")
    p.add_argument("--json", metavar="PATH", help="also write the numbers as JSON here")
    p.add_argument("--seed", type=int, default=0)
    if data:
        p.add_argument("--dataset", default="mnist-small",
                       help="mnist-small (embedded, the default) or mnist (full; see --data-dir)")
        p.add_argument("--data-dir", help="folder with the MNIST IDX .gz files")
        p.add_argument("--samples", type=int, default=1000, help="first N training images (default 1000, as Nielsen)")


def add_subcommands(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="experiment", metavar="SUBCOMMAND")
    p = sub.add_parser("chain", help="gradient along a one-neuron-per-layer chain, layer by layer")
    p.add_argument("--activation", default="sigmoid")
    p.add_argument("--weights", default="1,1,1,1", help="w_1,...,w_n (default 1,1,1,1)")
    p.add_argument("--biases", default="0", help="b_1,...,b_n, or one value for all (default 0)")
    p.add_argument("--input", type=float, default=1.0, help="a_0, the chain's input (default 1)")
    p.add_argument("--dcost", type=float, default=1.0, help="dC/da_n at the output (default 1, as the seed)")
    p.add_argument("--derivatives", help="use these f'(z_j) instead of computing them (to replay made-up values)")
    p.add_argument("--lr", type=float, help="also show one gradient-descent update with this learning rate")
    _common(p, data=False)

    p = sub.add_parser("speed", help="Nielsen's speed of learning per hidden layer, on MNIST")
    p.add_argument("--layers", default="784,30,30,30,10")
    p.add_argument("--activation", default="sigmoid")
    p.add_argument("--init", default="nielsen", help="nielsen (weights N(0,1/n_in), biases N(0,1); default), he, "
                   "glorot, lecun, orthogonal, pytorch-default, selu-gain")
    p.add_argument("--cost", default="cross-entropy", choices=("cross-entropy", "quadratic"))
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--eta", type=float, default=0.1)
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--lmbda", type=float, default=5.0, help="L2 regularisation as in Nielsen's network2")
    _common(p, data=True)

    p = sub.add_parser("propagate", help="N(0,1) data through a deep plain network: mean, variance, gradient")
    p.add_argument("--depth", type=int, default=50)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--activation", default="selu")
    p.add_argument("--init", default="lecun")
    p.add_argument("--samples", type=int, default=1000, help="rows of N(0,1) input")
    _common(p, data=False)

    p = sub.add_parser("dead", help="fraction of units that never fire, per layer, before and during training")
    p.add_argument("--layers", default="784,100,100,100,100,10")
    p.add_argument("--activations", default="relu,leaky_relu,elu")
    p.add_argument("--init", default="he")
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    _common(p, data=True)

    p = sub.add_parser("clip", help="an exploding set-up without clipping, clipped by value and by norm")
    p.add_argument("--layers", default="784," + ",".join(["100"] * 8) + ",10")
    p.add_argument("--activation", default="relu")
    p.add_argument("--init", default="he")
    p.add_argument("--gain", type=float, default=2.0, help="weights this many times the init's scale")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--clip-value", type=float, default=0.5)
    p.add_argument("--clip-norm", type=float, default=1.0)
    _common(p, data=True)


def _split_floats(name: str, text):
    if text is None:
        return None
    try:
        return [float(v) for v in str(text).split(",")]
    except ValueError:
        raise ValueError(f"{name} {text!r} is malformed; expected comma-separated numbers "
                         f"such as 1,0.5,2 (write negative lists as {name}=-1,-2)") from None


def _data(args):
    from .experiments.mnist import flat_mnist
    from .experiments.nets import positive

    return flat_mnist(positive("--samples", args.samples), args.dataset, args.data_dir)


def _run_chain(args):
    from .experiments.chain import chain
    from .plots import plot_chain

    r = chain(args.activation, _split_floats("--weights", args.weights), _split_floats("--biases", args.biases),
              args.input, dcost=args.dcost, lr=args.lr, derivatives=_split_floats("--derivatives", args.derivatives))
    headers = ["layer", "w", "b", "a_in", "z", "a", "f'(z)" + (" given" if r["derivatives_given"] else ""),
               "w*f'(z)", "dC/db", "dC/dw"] + (["new b", "new w"] if args.lr is not None else [])
    rows = [[l["layer"], l["w"], l["b"], l["input"], l["z"], l["a"], l["derivative"], l["factor"], l["dC_db"],
             l["dC_dw"]] + ([l["new_b"], l["new_w"]] if args.lr is not None else []) for l in r["layers"]]
    print(f"one-neuron chain, activation {r['activation']}, input {r['input']:g}, dC/da_n = {r['dcost']:g}")
    print(format_table(headers, rows))
    print(f"dC/db_1 = {r['dC_db1']:.6g}  (f'(z_1) times the product of w_j f'(z_j) for j >= 2, times dC/da_n)")
    return r, plot_chain


def _run_speed(args):
    from .experiments.nets import parse_layers
    from .experiments.speed import learning_speed
    from .plots import plot_speed

    sizes = parse_layers(args.layers)
    x, y = _data(args)
    r = learning_speed(x, y, sizes, args.activation, args.init, epochs=args.epochs, eta=args.eta,
                       batch_size=args.batch_size, lmbda=args.lmbda, cost_kind=args.cost, seed=args.seed)
    hidden = len(r["speed_at_init"])
    headers = ["epoch"] + [f"hidden {i + 1}" for i in range(hidden)] + ["cost", "accuracy"]
    rows = [[e] + s + [c, a] for e, s, c, a in zip(range(args.epochs + 1), [r["speed_at_init"]] + r["speed_by_epoch"],
                                                   r["cost_by_epoch"], r["accuracy_by_epoch"])]
    print(f"speed of learning ||mean dC/db|| per hidden layer; {args.layers}, {args.activation}, init {args.init}, "
          f"{args.cost} cost, {r['samples']} images, SGD eta {args.eta}, mini-batch {args.batch_size}, "
          f"lambda {args.lmbda} (epoch 0 = at initialisation; cost and accuracy on those images)")
    print(format_table(headers, rows))
    return r, plot_speed


def _run_propagate(args):
    from .experiments.propagate import propagate
    from .plots import plot_propagate

    r = propagate(args.depth, args.width, args.activation, args.init, samples=args.samples, seed=args.seed)
    rows = [[i + 1, m, v, g, s, d] for i, (m, v, g, s, d) in
            enumerate(zip(r["mean"], r["var"], r["grad_norm"], r["frac_saturated"], r["frac_dead"]))]
    print(f"N(0,1) input (mean {r['input_mean']:.3g}, var {r['input_var']:.3g}) through {args.depth} layers of "
          f"width {args.width}, {args.activation}, init {args.init}")
    print(format_table(["layer", "mean", "var", "grad norm", "saturated", "dead"], rows))
    return r, plot_propagate


def _run_dead(args):
    import actlab

    from .experiments.dead import dead_units
    from .experiments.nets import parse_layers
    from .plots import plot_dead

    sizes = parse_layers(args.layers)
    names = [a.strip() for a in args.activations.split(",") if a.strip()]
    if not names:
        raise ValueError("--activations is empty; expected e.g. relu,leaky_relu,elu")
    for name in names:
        actlab.parse(name)
    x, y = _data(args)
    r = dead_units(x, y, sizes, names, lr=args.lr, epochs=args.epochs, batch_size=args.batch_size,
                   init=args.init, seed=args.seed)
    hidden = len(sizes) - 2
    rows = []
    for name, run in r["activations"].items():
        losses = [None] + run["train_loss_by_epoch"]
        for epoch, (fracs, loss) in enumerate(zip([run["at_init"]] + run["by_epoch"], losses)):
            rows.append([name, epoch] + fracs + [loss])
    print(f"fraction of hidden units that never fired on {r['samples']} images; {args.layers}, init {args.init}, "
          f"SGD lr {args.lr}, mini-batch {args.batch_size} (epoch 0 = at initialisation)")
    print(format_table(["activation", "epoch"] + [f"hidden {i + 1}" for i in range(hidden)] + ["train loss"], rows))
    for name, run in r["activations"].items():
        if run["diverged"]:
            print(f"note: {name} diverged (loss not finite); dead fractions after that are n/a (nan)")
    return r, plot_dead


def _run_clip(args):
    import statistics

    from .experiments.clip import clip_experiment
    from .experiments.nets import parse_layers
    from .plots import plot_clip

    sizes = parse_layers(args.layers)
    x, y = _data(args)
    r = clip_experiment(x, y, sizes, args.activation, args.init, gain=args.gain, lr=args.lr, epochs=args.epochs,
                        batch_size=args.batch_size, clip_value=args.clip_value, clip_norm=args.clip_norm,
                        seed=args.seed)
    rows = [[mode, run["loss"][0], run["loss"][-1], run["final_loss"], run["final_accuracy"],
             max(run["grad_norm"]), statistics.median(run["grad_norm"]), "yes" if run["diverged"] else "no"]
            for mode, run in r["runs"].items()]
    print(f"{args.layers}, {args.activation}, init {args.init} x {args.gain}, SGD lr {args.lr}, {args.epochs} epochs "
          f"on {r['samples']} images; clip value {args.clip_value}, clip norm {args.clip_norm}")
    print(format_table(["clipping", "first loss", "last loss", "final loss", "final acc", "max grad norm",
                        "median grad norm", "diverged"], rows))
    return r, plot_clip


RUNNERS = {"chain": _run_chain, "speed": _run_speed, "propagate": _run_propagate, "dead": _run_dead,
           "clip": _run_clip}


def run(args) -> int:
    if not getattr(args, "experiment", None):
        raise ValueError(f"choose a subcommand: {', '.join(RUNNERS)} (see 'actlab gradients --help')")
    result, plotter = RUNNERS[args.experiment](args)
    import matplotlib.pyplot as plt

    path = Path(args.out) / f"gradients_{args.experiment}.png"
    plt.close(plotter(result, path))
    print(f"plot: {path}")
    if args.json:
        write_json(result, args.json)
        print(f"json: {args.json}")
    return 0
