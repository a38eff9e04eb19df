"""actlab.tune: every activation gets its own hyperparameter search, then the tuned winners are compared.

    from actlab.tune import make_tune, parse_space, run_tune
    spec = make_tune(parse_space("lr=1e-4..1e-2:log"), trials=12, activations=("relu", "gelu"), seeds=3)
    result = run_tune(spec, "runs/tuned")     # tuned.csv, trials.csv, lr_sensitivity.png, summary.csv, ...

Parts: :mod:`.space` (the ``--space`` syntax and the samplers), :mod:`.search`
(trials through the compare execution loop, then the final runs),
:mod:`.trials` (reading the trials from the store), :mod:`.report`
(tuned.csv, trials.csv, lr_sensitivity.png). Tuning sits beside
:mod:`actlab.compare` and uses it; compare never imports tune.
"""
from .report import format_tuned, sensitivity, write_report
from .search import SEARCH_SEED, TuneResult, TuneSpec, final_runs, make_tune, run_tune, search
from .space import SAMPLERS, Param, grid_points, parse_space, propose
from .trials import best_trials, trial_epochs, trials

__all__ = ["Param", "SAMPLERS", "SEARCH_SEED", "TuneResult", "TuneSpec", "best_trials", "final_runs",
           "format_tuned", "grid_points", "make_tune", "parse_space", "propose", "run_tune", "search",
           "sensitivity", "trial_epochs", "trials", "write_report"]
