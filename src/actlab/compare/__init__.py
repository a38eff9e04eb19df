"""actlab.compare: train the same network once per activation and seed, store every epoch, and rank.

    from actlab.compare import build_study, run_study
    study = build_study(activations=("relu", "gelu"), seeds=3, epochs=5)
    summary = run_study(study, "runs/my-study")
    print(format_ranking(summary))   # also in the folder: summary.csv, history.csv, plots

Parts: :mod:`.sweep` (settings, profiles, the run list), :mod:`.executors`
(where runs execute), :mod:`.runner` (validation, planning, resume,
recording), :mod:`.stats` (intervals and tests over seeds), :mod:`.outputs`
(CSV files, plots and the ranking, all from the results store), and
:mod:`.engine` (the training itself).
"""
from .outputs import Summary, format_ranking, summarize, write_outputs
from .runner import execute, run_study, validate
from .sweep import DEFAULT_ACTIVATIONS, PROFILES, Study, SweepError, build_study, parse_activations, parse_grid

__all__ = [
    "DEFAULT_ACTIVATIONS", "PROFILES", "Study", "Summary", "SweepError", "build_study", "execute",
    "format_ranking", "parse_activations", "parse_grid", "run_study", "summarize", "validate", "write_outputs",
]
