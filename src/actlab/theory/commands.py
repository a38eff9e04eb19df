"""``actlab theory``: what the mean-field theory predicts for one activation, as text, JSON or figures."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

DESCRIPTION = (
    "Mean-field signal propagation for a wide random network with this activation and weights "
    "N(0, sigma_w^2/fan_in), biases N(0, sigma_b^2): the variance fixed point q*, chi_1 (per-layer growth "
    "of squared gradients), the phase, the depth scales xi_q and xi_c, the edge of chaos (critical sigma_w^2 "
    "and gain) and the trainable depth 6 xi_c (Schoenholz et al. 2017). --phase-diagram draws the "
    "order-to-chaos diagram; --jacobian compares the predicted and sampled input-output Jacobian spectrum for "
    "Gaussian and orthogonal weights. 'actlab theory trainability' trains a depth x sigma_w^2 grid on MNIST.")


def add_arguments(p) -> None:
    p.add_argument("name", metavar="NAME",
                   help="activation name or spec string ('elu:alpha=0.5'), or 'trainability'")
    p.add_argument("--sigma-w2", metavar="X",
                   help="weight variance x fan-in (default 1.0, LeCun normal; with --jacobian the critical "
                        "value when there is one); for trainability a comma-separated list (default: its own grid)")
    p.add_argument("--sigma-b2", type=float, metavar="X",
                   help="bias variance (default 0; 0.05 for trainability)")
    p.add_argument("--json", action="store_true", help="print the numbers as JSON instead of text")
    p.add_argument("--phase-diagram", action="store_true", help="draw the phase diagram over (sigma_w^2, sigma_b^2)")
    p.add_argument("--resolution", type=int, metavar="N",
                   help="--phase-diagram: N values of sigma_w^2 in [0.25, 4] and N/2 of sigma_b^2 in [0, 0.5] "
                        "(default 24; the time grows with N^2)")
    p.add_argument("--jacobian", action="store_true", help="Jacobian singular-value spectrum, predicted vs sampled")
    p.add_argument("--depth", type=int, default=50, metavar="L", help="layers for --jacobian (default 50)")
    p.add_argument("--width", type=int, metavar="N",
                   help="width of the sampled network for --jacobian (default 400); trainability: hidden width")
    p.add_argument("--out", metavar="DIR", help="folder for figures (phase diagram, Jacobian histogram) "
                                                "or trainability results")
    p.add_argument("--style", default="light", choices=["light", "dark"], help="figure style")
    p.add_argument("--activation", metavar="NAME", help="trainability: the activation (default tanh)")
    p.add_argument("--depths", default="2,4,8,16,32", metavar="LIST", help="trainability: network depths")
    p.add_argument("--data-dir", metavar="DIR", help="trainability: folder with the MNIST IDX files")
    p.add_argument("--epochs", type=int, metavar="N", help="trainability: epochs per cell (default 1)")
    p.add_argument("--train-limit", metavar="N", help="trainability: training images (default 2000; 'all')")


def _sigma_w2(text) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"--sigma-w2 must be one number here (got {text!r}); lists are for 'trainability'") from None
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"--sigma-w2 must be a finite number > 0 (got {text!r})")
    return value


def _plain(value):
    """JSON has no inf or nan: write them as the strings 'inf' and 'nan'."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    return value


def _g(x, digits: int = 6) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    return f"{x:.{digits}g}"


def format_summary(s: dict) -> str:
    """The text ``actlab theory NAME`` prints for one :func:`~actlab.theory.summary` dict."""
    from .critical import TRAINABLE_DEPTH_MULTIPLE

    lines = [f"{s['activation']} at sigma_w^2 = {_g(s['sigma_w2'])}, sigma_b^2 = {_g(s['sigma_b2'])}"]
    others = [p for p in s["fixed_points"] if p["q"] != s["q_star"]]
    note = "every q is a fixed point (linear map)" if s["every_q_fixed"] else (
        "the variance grows without bound" if math.isinf(s["q_star"]) else "stable fixed point of the variance map")
    lines.append(f"  q*                {_g(s['q_star']):>12}   {note}")
    if others:
        lines.append("  other fixed points " + ", ".join(
            f"{_g(p['q'])} ({'stable' if p['stable'] else 'unstable'}, slope {_g(p['slope'], 4)})" for p in others))
    lines.append(f"  chi_1             {_g(s['chi1']):>12}   {s['phase']}: squared gradient norms change by "
                 f"this factor per layer")
    if s["xi_c"] is not None:
        lines.append(f"  c*                {_g(s['c_star']):>12}   correlation of two inputs deep in the network")
        lines.append(f"  xi_q, xi_c        {_g(s['xi_q'], 4):>5}, {_g(s['xi_c'], 4):<5}    depth scales "
                     f"(layers; Schoenholz et al. 2017)")
        lines.append(f"  trainable depth   {_g(s['trainable_depth'], 4):>12}   layers: "
                     f"{TRAINABLE_DEPTH_MULTIPLE:g} xi_c, the depth up to which Schoenholz et al. 2017 trained")
    if s["critical_sigma_w2"] is not None:
        lines.append(f"edge of chaos at sigma_b^2 = {_g(s['sigma_b2'])}: sigma_w^2 = {_g(s['critical_sigma_w2'], 8)} "
                     f"(gain {_g(s['critical_gain'], 8)}: weight std = gain / sqrt(fan_in)), "
                     f"q* = {_g(s['critical_q_star'])}")
    else:
        lines.append(f"edge of chaos: none. {s['critical_reason']}")
    return "\n".join(lines)


def _out_dir(args) -> Path:
    out = Path(args.out or ".")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"cannot create --out folder {out}: {e.strerror or e}; choose a writable folder") from None
    return out


def _file_stem(label: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_=." else "_" for ch in label)


def run_phase_diagram(args, name: str, params: dict) -> int:
    from .phase import PHASES, phase_diagram
    from .plots import plot_phase_diagram

    grid = {}
    if args.resolution is not None:
        if args.resolution < 2:
            raise ValueError(f"--resolution must be at least 2 (got {args.resolution})")
        grid = {"sigma_w2": np.linspace(0.25, 4.0, args.resolution),
                "sigma_b2": np.linspace(0.0, 0.5, max(2, args.resolution // 2))}
    d = phase_diagram(name, **grid, **params)
    path = _out_dir(args) / f"phase-{_file_stem(d.name)}.png"
    plot_phase_diagram(d, path, style=args.style)
    if args.json:
        print(json.dumps(_plain({"activation": d.name, "sigma_w2": d.sigma_w2, "sigma_b2": d.sigma_b2,
                                 "q_star": d.q_star, "chi1": d.chi1, "xi_c": d.xi_c,
                                 "phase": [[PHASES[p] for p in row] for row in d.phase],
                                 "critical_sigma_w2": d.critical, "figure": str(path)}), indent=1))
        return 0
    print(f"{d.name}: critical line (chi_1 = 1)")
    for b, w in zip(d.sigma_b2, d.critical):
        print(f"  sigma_b^2 = {b:<6.3g} sigma_w^2 = {'none' if math.isnan(w) else f'{w:.6g}'}")
    print(f"wrote {path}")
    return 0


def run_jacobian(args, name: str, params: dict) -> int:
    from .critical import NoCriticalPoint, critical_sigma_w2
    from .jacobian import WEIGHTS, jacobian_spectrum, sample_jacobian_spectrum

    if args.depth < 1:
        raise ValueError(f"--depth must be at least 1 (got {args.depth})")
    width = args.width or 400
    if width < 2:
        raise ValueError(f"--width must be at least 2 (got {width})")
    sb2 = args.sigma_b2 or 0.0
    w2 = _sigma_w2(args.sigma_w2)
    if w2 is None:
        try:
            w2 = critical_sigma_w2(name, sb2, **params)
        except NoCriticalPoint:
            w2 = 1.0
    predicted = {k: jacobian_spectrum(name, w2, sb2, args.depth, weights=k, **params) for k in WEIGHTS}
    sampled = {k: sample_jacobian_spectrum(name, w2, sb2, args.depth, width=width, weights=k, **params)
               for k in WEIGHTS}
    rows = {k: {"predicted_mean": predicted[k].mean, "predicted_variance": predicted[k].variance,
                "sampled_mean": float(sampled[k].mean()), "sampled_variance": float(sampled[k].var()),
                "sampled_max": float(sampled[k].max())} for k in WEIGHTS}
    figure = None
    if args.out:
        from .plots import plot_jacobian_spectrum

        figure = _out_dir(args) / f"jacobian-{_file_stem(name)}-L{args.depth}.png"
        plot_jacobian_spectrum(sampled, predicted, f"{name}: J J^T eigenvalues, depth {args.depth}, "
                               f"sigma_w^2 = {w2:.4g}, width {width}", figure, style=args.style)
    if args.json:
        print(json.dumps(_plain({"activation": name, "sigma_w2": w2, "sigma_b2": sb2, "depth": args.depth,
                                 "width": width, "spectrum": rows, "figure": figure and str(figure)}), indent=1))
        return 0
    print(f"{name}: squared singular values of the input-output Jacobian, depth {args.depth}, "
          f"sigma_w^2 = {w2:.6g}, sigma_b^2 = {sb2:g}")
    print(f"  {'weights':<11} {'mean pred':>11} {'sampled':>11} {'var pred':>11} {'sampled':>11} {'max sampled':>12}")
    for k, r in rows.items():
        print(f"  {k:<11} {r['predicted_mean']:>11.4g} {r['sampled_mean']:>11.4g} {r['predicted_variance']:>11.4g} "
              f"{r['sampled_variance']:>11.4g} {r['sampled_max']:>12.4g}")
    print(f"  predicted: free probability (Pennington, Schoenholz, Ganguli 2017); sampled: one network of width "
          f"{width}. Dynamical isometry = variance near 0 at mean 1.")
    if figure:
        print(f"wrote {figure}")
    return 0


def run(args) -> int:
    """Dispatch ``actlab theory`` to trainability, the phase diagram, the Jacobian or the summary."""
    from .activation import resolve
    from .summary import summary

    if args.name == "trainability":
        from .trainability import cli_trainability

        return cli_trainability(args)
    phi = resolve(args.name, {})  # the catalog's error for an unknown name, and ours for non-elementwise ones
    name, params = phi.name, dict(phi.params)
    if args.phase_diagram:
        return run_phase_diagram(args, name, params)
    if args.jacobian:
        return run_jacobian(args, phi.label, {})
    s = summary(name, _sigma_w2(args.sigma_w2), args.sigma_b2 or 0.0, **params)
    print(json.dumps(_plain(s), indent=1) if args.json else format_summary(s))
    return 0
