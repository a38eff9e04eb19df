"""actlab.results.verdict: paired statistics over seeds, P(best), power, racing, and the verdict sentence.

    from actlab.results.verdict import analyse
    v = analyse({"gelu": {0: .989, 1: .988}, "relu": {0: .987, 1: .986}})
    print(v.sentence)

Parts: :mod:`.samples` (which runs count), :mod:`.pairs` (paired t / Welch,
Wilcoxon, Holm, simultaneous intervals), :mod:`.effect` (Hedges' g with
noncentral-t intervals; intervals inside the metric's range), :mod:`.bootstrap`
(P(best), rank intervals), :mod:`.power` (detectable difference, seeds
needed), :mod:`.racing` (alpha-spending looks, synchronous successive
halving), :mod:`.sentence` (everything together). Methods and citations:
docs/statistics.md.
"""
from .bootstrap import BestProbability, best_probabilities
from .effect import bounded_mean_interval, hedges_g_independent, hedges_g_paired
from .pairs import PairTest, all_pairs, compare_pair
from .power import detectable_difference, pair_power, power, seeds_needed
from .racing import Look, equivalent_groups, halving_stops, race_look, seeds_for_equivalence, spent
from .samples import Samples, clean
from .sentence import Verdict, analyse, combine_verdicts, grid_paragraph, verdict_sentence

__all__ = [
    "BestProbability", "Look", "PairTest", "Samples", "Verdict", "all_pairs", "analyse", "best_probabilities",
    "bounded_mean_interval", "clean", "combine_verdicts", "compare_pair", "detectable_difference",
    "equivalent_groups", "grid_paragraph", "halving_stops",
    "hedges_g_independent", "hedges_g_paired", "pair_power", "power", "race_look", "seeds_for_equivalence",
    "seeds_needed", "spent",
    "verdict_sentence",
]
