"""The fit task's figure: the target and each activation's fitted function, with the training box marked."""
from __future__ import annotations

import math

from .html import esc, table
from .svgchart import Series, color, legend, line_chart


def fit_section(curves: dict, inner: float, *, chart_id: str = "fit", title: str = "") -> str:
    """An HTML section from :func:`actlab.tasks.fit.fitted_curves`: the target dashed, one line per
    activation; the training box ``|x| <= inner`` is shown by two vertical grey lines."""
    x = curves["x"]
    names = [k for k in curves if k not in ("x", "target")]
    series = [Series("target", x, curves["target"], "#000000", dashed=True)]
    series += [Series(n, x, curves[n], color(i)) for i, n in enumerate(names)]
    low = min(curves["target"])
    high = max(curves["target"])
    span = high - low or 1.0
    ylim = (low - 0.5 * span, high + 0.5 * span)  # wild extrapolations leave the frame instead of flattening it
    series += [Series("training box", [b, b], list(ylim), "#7f7f7f", dashed=True) for b in (-inner, inner)]
    chart = line_chart(series, chart_id=chart_id, title=title, xlabel="x", ylabel="f(x)", ylim=ylim)
    return (f'<section id="{esc(chart_id)}-section"><h2>Fitted functions</h2>{chart}{legend(series[:-1])}'
            "<p>Dashed black: the target; grey lines: the training box; outside it the networks extrapolate.</p>"
            "</section>")


CURVE_PREFIX = "fit:curve:"  # layer_stats rows of a fitted curve (actlab.compare.objectives_fit)


def fit_figures(runs: list[dict], layer_stats: list[dict]) -> str:
    """The fit study's figures from its store: per 1-D target (grid point), the lowest finished seed of each
    activation (and other grid point) against the target, from the curve rows its last epoch stored; ''
    when there are none.

    Args:
        runs: the study's runs (run_id, activation, seed, grid).
        layer_stats: the store's layer_stats rows (run_id, epoch, layer, metric, value).
    """
    curves: dict[int, dict[int, dict]] = {}
    inner: dict[int, float] = {}
    for row in layer_stats:
        if row["layer"].startswith(CURVE_PREFIX):
            point = curves.setdefault(row["run_id"], {}).setdefault(int(row["layer"][len(CURVE_PREFIX):]), {})
            point[row["metric"]] = row["value"]
        elif row["layer"] == "fit:box" and row["metric"] == "inner":
            inner[row["run_id"]] = row["value"]
    chosen: dict[str, dict[str, dict]] = {}  # target -> activation label -> run
    for run in sorted(runs, key=lambda r: r["seed"]):
        if run["run_id"] in curves and run["run_id"] in inner:
            grid = dict(run.get("grid") or {})
            target = str(grid.pop("target", ""))
            name = run["activation"] + (" [" + ", ".join(f"{k}={v}" for k, v in grid.items()) + "]" if grid else "")
            chosen.setdefault(target, {}).setdefault(name, run)
    sections = []
    for target, by_label in chosen.items():
        first = next(iter(by_label.values()))
        points = [curves[first["run_id"]][i] for i in sorted(curves[first["run_id"]])]
        figure = {"x": [p["x"] for p in points], "target": [p["target"] for p in points]}
        for label, run in by_label.items():
            figure[f"{label} (seed {run['seed']})"] = [curves[run["run_id"]][i]["y"]
                                                      for i in sorted(curves[run["run_id"]])]
        sections.append(fit_section(figure, inner[first["run_id"]], chart_id=f"fit-{target or 'target'}",
                                    title=f"target {target}, last epoch" if target else "last epoch"))
    return "".join(sections)


def is_task_row(layer: str) -> bool:
    """Whether a layer_stats row is a task's extra number (``fit``, ``fit:curve:007``), not a network layer."""
    return layer == "fit" or layer.startswith("fit:")


def fit_errors(runs: list[dict], layer_stats: list[dict], results) -> str:
    """Inside and outside the training box, per target and activation: the test RMSE at each run's selected
    epoch (lowest validation loss), mean and range over seeds; '' when the study recorded no in-range errors.

    Args:
        runs: the study's runs (run_id, label, seed, grid).
        layer_stats: the store's rows; the ``fit`` layer's ``test_rmse_in`` holds the in-range test RMSE.
        results: the finished runs (:class:`actlab.results.summary.RunResult`: label, seed, best_epoch,
            test_acc = the out-of-range test RMSE, diverged).
    """
    inside = {(r["run_id"], r["epoch"]): r["value"] for r in layer_stats
              if r["layer"] == "fit" and r["metric"] == "test_rmse_in"}
    if not inside:
        return ""
    run_of = {(r["label"], r["seed"]): r for r in runs}
    cells: dict[tuple, dict[str, list[float]]] = {}
    for res in results:
        run = run_of.get((res.label, res.seed))
        if run is None or res.diverged:
            continue
        grid = dict(run.get("grid") or {})
        target = str(grid.pop("target", ""))
        name = run["activation"] + (" [" + ", ".join(f"{k}={v}" for k, v in grid.items()) + "]" if grid else "")
        cell = cells.setdefault((target, name), {"in": [], "out": []})
        cell["in"].append(inside.get((run["run_id"], res.best_epoch), math.nan))
        cell["out"].append(res.test_acc)

    def shown(values: list[float]) -> str:
        finite = [v for v in values if math.isfinite(v)]
        if not finite:
            return "nan"
        mean = sum(finite) / len(finite)
        return f"{mean:.3g}" + (f" ({min(finite):.3g} to {max(finite):.3g})" if len(finite) > 1 else "")

    rows = [[target, name, len(c["out"]), shown(c["in"]), shown(c["out"])]
            for (target, name), c in sorted(cells.items(), key=lambda kv: (kv[0][0], _mean(kv[1]["out"])))]
    return ('<section id="fit-errors"><h2>Inside and outside the training box</h2>'
            + table(["target", "activation", "seeds", "RMSE inside (test)", "RMSE outside (test)"], rows,
                    table_id="fit-errors")
            + "<p>Root mean squared error on the test grids at each run's selected epoch (its lowest validation "
              "loss, measured on validation points outside the box that are not test points), mean over seeds "
              "with the range in brackets. Inside: interpolation between training points; outside: "
              "extrapolation, where the activation's shape decides. The ranking uses the outside error.</p>"
              "</section>")


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.inf
