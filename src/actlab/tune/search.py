"""actlab tune: give every activation its own hyperparameter search, then compare the tuned configurations.

Comparing activations at one fixed learning rate favours whichever one that
rate happens to suit. Here each activation gets ``trials`` trials over the
same search space (:mod:`.space`), every trial trained with the same seed
(``SEARCH_SEED``, outside the final seeds) and scored on the validation
split only: validation accuracy at its lowest-validation-loss epoch. Then
each activation's best configuration is trained again over the seeds
0..n-1 and compared exactly as ``actlab compare`` does (the same runner,
statistics and outputs); test numbers are stored only in that final phase.

Storage and resume: one results.sqlite per study. A trial is a run of the
store (``runs.trial`` = its number) with a row in ``trials`` (parameters,
status, score), registered before it trains. Trials train through the one
execution loop (:func:`actlab.compare.runner.execute`), so a trial cut short
by a kill continues from its last finished epoch's checkpoint, like any run;
a finished trial is never trained again. Proposals are pure functions of the
finished trials, so a resumed study proposes the same points.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path

from ..compare.sweep import Study, SweepError, build_study
from ..store import canonical_json
from .space import SAMPLERS, Param, grid_points, propose
from .trials import best_trials, trials

SEARCH_SEED = 1000  # the seed of every search trial: common random numbers, apart from the final seeds


@dataclass(frozen=True)
class TuneSpec:
    """A tuning study: the compare study it ends in (activations, seeds, data, fixed settings) and the search."""

    study: Study
    space: tuple  # of Param
    trials: int = 20
    sampler: str = "tpe"
    tune_seed: int = 0
    grid_points: int = 4

    def n_trials(self) -> int:
        """Trials per activation (a grid has no more trials than points)."""
        if self.sampler == "grid":
            return min(self.trials, len(grid_points(self.space, self.grid_points)))
        return self.trials

    def config(self) -> dict:
        search = {"space": [p.as_dict() for p in self.space], "trials": self.n_trials(), "sampler": self.sampler,
                  "tune_seed": self.tune_seed, "search_seed": SEARCH_SEED}
        if self.sampler == "grid":
            search["grid_points"] = self.grid_points
        return {**self.study.config(), "tune": search}

    def study_id(self) -> str:
        import hashlib

        return "tune-" + hashlib.sha256(canonical_json(self.config()).encode()).hexdigest()[:12]


def make_tune(space: tuple, *, trials: int = 20, sampler: str = "tpe", tune_seed: int = 0, grid_points: int = 4,
              profile: str = "default", **settings) -> TuneSpec:
    """A TuneSpec from a parsed space and compare settings (as for build_study); checks every value."""
    if sampler not in SAMPLERS:
        raise SweepError(f"--sampler {sampler!r} is unknown; expected one of {', '.join(SAMPLERS)}")
    if trials < 1:
        raise SweepError(f"--trials must be at least 1 (got {trials})")
    if grid_points < 1:
        raise SweepError(f"--grid-points must be at least 1 (got {grid_points})")
    if not space:
        raise SweepError("--space is empty; give e.g. --space lr=1e-4..1e-2:log")
    if sampler != "grid":
        from ..compare.events import require_extra

        require_extra("optuna", "tune", f"--sampler {sampler} (Optuna's; '--sampler grid' needs nothing extra)")
    if settings.get("grid"):
        raise SweepError("a tuning study searches its --space; it takes no --grid")
    # The compare checks see every choice and both ends of every range.
    ends = tuple((p.name, p.choices or (p.low, p.high)) for p in space)
    study = replace(build_study(profile, grid=ends, **settings), grid=())
    if study.seeds > SEARCH_SEED:
        raise SweepError(f"--seeds must be at most {SEARCH_SEED} (got {study.seeds})")
    return TuneSpec(study, tuple(space), trials, sampler, tune_seed, grid_points)


def _round(param: Param, value):
    """Float proposals to 4 significant digits (readable labels; finer steps mean nothing here), kept in range."""
    if param.choices or param.integer:
        return value
    return min(max(float(f"{value:.4g}"), param.low), param.high)


def _trial_config(spec: TuneSpec, activation: str, params: dict, seed: int) -> dict:
    return {**spec.study.train_settings(), **params, "activation": activation, "seed": seed}


def search(spec: TuneSpec, store, executor, *, quiet: bool = False, backend: str = "") -> int:
    """Run every unfinished trial, one round (trial number) at a time for all activations; returns how many
    trials trained.

    Trial n of an activation sees that activation's trials 0..n-1, so the
    proposals do not depend on how many run side by side. Each round is one
    call of the execution loop, which continues a trial cut short from its
    last stored epoch.
    """
    from tqdm import tqdm

    from ..compare.runner import execute
    from ..results.summary import best_epoch

    store.score_trials(best_epoch)  # trials whose run ended just before a kill
    total = spec.n_trials() * len(spec.study.activations)
    ran = 0
    with tqdm(total=total, initial=len(trials(store, "done")), unit="trial", desc="tune", disable=quiet,
              file=sys.stderr, dynamic_ncols=True) as bar:
        for number in range(spec.n_trials()):
            known = {(t["activation"], t["number"]): t for t in trials(store)}
            todo = 0
            for activation in spec.study.activations:
                trial = known.get((activation, number))
                if trial is not None:
                    todo += trial["status"] != "done"
                    continue
                finished = [(t["params"], t["score"]) for t in trials(store, "done")
                            if t["activation"] == activation and t["number"] < number]
                proposal = propose(spec.sampler, spec.space, finished, tune_seed=spec.tune_seed,
                                   activation=activation, number=number, points=spec.grid_points)
                params = {p.name: _round(p, proposal[p.name]) for p in spec.space}
                store.add_trial(activation, number, params, _trial_config(spec, activation, params, SEARCH_SEED))
                todo += 1
            if todo:
                ran += execute(spec.study, store, executor, quiet=True, backend=backend)
                bar.update(store.score_trials(best_epoch))
    return ran


def final_runs(spec: TuneSpec, best: dict) -> list[dict]:
    """The compare runs of the final phase: each activation's best parameters over seeds 0..n-1."""
    out = []
    for activation in spec.study.activations:
        params = best[activation]["params"]
        for seed in range(spec.study.seeds):
            config = _trial_config(spec, activation, params, seed)
            out.append({"activation": activation, "seed": seed, "grid": params, "config": config,
                        "epochs": config["epochs"]})
    return out


@dataclass
class TuneResult:
    summary: object  # actlab.results.Summary of the final phase
    tuned: list      # rows of tuned.csv


def run_tune(spec: TuneSpec, out_dir, *, executor=None, workers: int = 1, quiet: bool = False,
             command: str = "") -> TuneResult:
    """Search, re-run the winners over seeds, and write every output into ``out_dir``; resumes when rerun.

    Outputs: results.sqlite, trials.csv, tuned.csv, lr_sensitivity.png (when
    lr is searched), and the compare outputs of the final phase
    (summary.csv, history.csv, accuracy.png, loss.png).
    ``executor``: where trials and runs train (default:
    :func:`actlab.compare.executors.make_executor` with ``workers``).
    """
    from ..compare.outputs import write_outputs
    from ..compare.runner import backend_name, execute, open_study
    from .report import write_report

    out = Path(out_dir)
    with open_study(out, spec.study, spec.study_id(), spec.config(), command, executor, workers,
                    quiet=quiet) as (store, executor, _):
        search(spec, store, executor, quiet=quiet, backend=backend_name(executor))
        store.add_runs(final_runs(spec, best_trials(store, spec.study.activations)))
        execute(spec.study, store, executor, quiet=quiet, backend=backend_name(executor))
        summary = write_outputs(store, out)
        return TuneResult(summary, write_report(store, spec, summary, out))
