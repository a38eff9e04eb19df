"""Statistics over seeds: moved to :mod:`actlab.results.stats`, where the report and compare both read them.

Kept importable here for code written against ``actlab.compare.stats``.
"""
from ..results.stats import (HEAVY_OVERLAP, Ranking, RankRow, Summary, ci_overlap, cohens_d, holm, rank,
                             summarize, welch)

__all__ = ["HEAVY_OVERLAP", "RankRow", "Ranking", "Summary", "ci_overlap", "cohens_d", "holm", "rank", "summarize",
           "welch"]
