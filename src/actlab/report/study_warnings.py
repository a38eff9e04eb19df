"""Where a study is weak, in plain sentences for the report's warning box."""
from __future__ import annotations


from ..results.summary import chance_warnings
from .study_data import StudyData


def diverged_runs(data: StudyData) -> dict[int, int]:
    """run_id -> first epoch whose training or validation loss was NaN (stored as NULL)."""
    out: dict[int, int] = {}
    for row in data.history:
        if row["run_id"] not in out and (row["train_loss"] is None or row["val_loss"] is None):
            out[row["run_id"]] = row["epoch"]
    return out


def weaknesses(data: StudyData) -> list[str]:
    out = []
    if data.in_progress:
        out.append(f"The study is still running or was interrupted: {data.count('done')} of {len(data.runs)} "
                   "runs are finished. The ranking covers finished runs only; resume with the study's command.")
    seeds = data.config.get("seeds")
    if seeds == 1:
        out.append("One seed per activation: there is no spread, no confidence interval and no test, so "
                   "a difference may be pure chance. Use --seeds 3 or more.")
    runs = {r["run_id"]: r for r in data.runs}
    for run_id, epoch in sorted(diverged_runs(data).items()):
        run = runs.get(run_id, {"label": f"run {run_id}", "seed": "?"})
        out.append(f"{run['label']} (seed {run['seed']}) diverged: its loss was NaN from epoch {epoch} on.")
    out.extend(w for w in data.summary.ranking.warnings if not (seeds == 1 and "only 1 run" in w))
    out.extend(chance_warnings(data.summary.rows, _chance_level(data), data.summary.metric))
    # The verdict's test against the best (paired where the seeds allow, Holm over all pairs), the same
    # numbers as the sentence, the ranking table and summary.csv's separated_from_best.
    tested = [r for r in data.summary.rows if r.get("separated_from_best") in ("yes", "no")]
    if tested and not any(r["separated_from_best"] == "yes" for r in tested):
        out.append("No activation is separated from the best (paired tests, Holm over all pairs, alpha = "
                   f"{data.summary.ranking.alpha}): the seeds do not tell them apart.")
    if data.history and not data.summary.rows:
        out.append("No run has finished yet, so there is no ranking; the curves show the epochs recorded so far.")
    return out


def _chance_level(data: StudyData) -> float:
    """1 / number of classes (from config.json; the bundled datasets have 10)."""
    classes = ((data.info or {}).get("data") or {}).get("classes")
    return 1.0 / len(classes) if isinstance(classes, list) and classes else 0.1
