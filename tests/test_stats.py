"""Statistics of actlab compare against hand-computed and published values."""
import math

import pytest

from actlab.compare import stats

A = [1, 2, 3, 4, 5]  # mean 3, variance 2.5
B = [2, 4, 6, 8, 10]  # mean 6, variance 10

# Welch's t-test worked example 1 of the Wikipedia article "Welch's t-test":
# t = -2.46, df = 24.99 (rounded to 25.0 there), p = 0.021.
W1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
W2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]


def test_summary_uses_sample_sd_and_t_quantile():
    s = stats.summarize(A)
    assert s.n == 5 and s.mean == 3
    assert s.std == pytest.approx(math.sqrt(2.5))
    # t(0.975, 4) = 2.776445 (any t table); half width = 2.776445 * sqrt(2.5) / sqrt(5)
    half = 2.776445 * math.sqrt(2.5) / math.sqrt(5)
    assert s.ci_low == pytest.approx(3 - half, abs=1e-5)
    assert s.ci_high == pytest.approx(3 + half, abs=1e-5)


def test_summary_of_one_value_has_no_spread_and_nan_is_left_out():
    s = stats.summarize([0.9])
    assert s.n == 1 and s.mean == 0.9
    assert math.isnan(s.std) and math.isnan(s.ci_low)
    assert stats.summarize([0.5, float("nan"), 0.7]).n == 2


def test_welch_matches_hand_computation():
    # se^2 = 2.5/5 + 10/5 = 2.5, t = (3 - 6) / sqrt(2.5); df = 2.5^2 / (0.5^2/4 + 2^2/4) = 100/17
    t, p, df = stats.welch(A, B)
    assert t == pytest.approx(-3 / math.sqrt(2.5))
    assert df == pytest.approx(100 / 17)
    assert 0.10 < p < 0.11


def test_welch_matches_published_example():
    t, p, df = stats.welch(W1, W2)
    assert t == pytest.approx(-2.46, abs=0.005)
    assert df == pytest.approx(24.99, abs=0.01)
    assert p == pytest.approx(0.021, abs=0.0005)


def test_welch_is_undefined_for_single_values_or_no_variance():
    assert all(math.isnan(v) for v in stats.welch([1.0], [1.0, 2.0]))
    assert all(math.isnan(v) for v in stats.welch([1.0, 1.0], [2.0, 2.0]))


def test_holm_wikipedia_example():
    # Wikipedia "Holm-Bonferroni method": p = 0.01, 0.04, 0.03, 0.005 at alpha 0.05
    # rejects H1 and H4 only; adjusted: 0.005*4, 0.01*3, then max(0.03*2, 0.04*1).
    adjusted = stats.holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert [a < 0.05 for a in adjusted] == [True, False, False, True]


def test_holm_caps_at_one_and_skips_nan():
    adjusted = stats.holm([0.6, float("nan"), 0.9])
    assert adjusted[0] == 1.0 and adjusted[2] == 1.0 and math.isnan(adjusted[1])


def test_cohens_d_pooled():
    # pooled variance (4*2.5 + 4*10) / 8 = 6.25 -> sd 2.5; d = (3 - 6) / 2.5
    assert stats.cohens_d(A, B) == pytest.approx(-1.2)
    assert math.isnan(stats.cohens_d([1.0], B))


def test_ci_overlap():
    a = stats.Summary(3, 0.0, 1.0, 0.0, 1.0)
    b = stats.Summary(3, 0.0, 1.0, 0.5, 3.0)
    assert stats.ci_overlap(a, b) == pytest.approx(0.5)
    c = stats.Summary(3, 0.0, 1.0, 2.0, 3.0)
    assert stats.ci_overlap(a, c) == 0.0


def test_rank_orders_tests_and_warns():
    groups = {
        "relu": [0.97, 0.975, 0.972, 0.971],
        "sigmoid": [0.90, 0.91, 0.905, 0.902],
        "gelu": [0.974, 0.969, 0.976, 0.973],
        "selu": [0.95],
    }
    r = stats.rank(groups)
    assert [row.label for row in r.rows] == ["gelu", "relu", "selu", "sigmoid"]
    gelu, relu, selu, sigmoid = r.rows
    assert gelu.verdict == "best" and math.isnan(gelu.p)
    assert sigmoid.significant and sigmoid.d > 0
    assert not relu.significant
    _, p_relu, _ = stats.welch(groups["gelu"], groups["relu"])
    _, p_sig, _ = stats.welch(groups["gelu"], groups["sigmoid"])
    assert [relu.p_holm, sigmoid.p_holm] == pytest.approx(stats.holm([p_relu, p_sig]))
    assert math.isnan(selu.p_holm) and "not testable" in selu.verdict
    assert any("selu: only 1 run" in w for w in r.warnings)
    assert any(w.startswith("relu and gelu: their 95% CIs overlap") for w in r.warnings)
    assert not any(w.startswith("sigmoid and") for w in r.warnings)


def test_rank_lower_is_better_and_diverged_runs():
    r = stats.rank({"a": [0.3, 0.31, float("nan")], "b": [0.5, 0.52, 0.51]}, higher_is_better=False)
    assert r.best.label == "a" and r.rows[1].d > 0
    assert r.best.summary.n == 2
    assert any("a: 1 of 3 runs" in w for w in r.warnings)


def test_welch_on_nearly_identical_runs_is_silent_and_finite():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t, p, df = stats.welch([0.1, 0.1, 0.1 + 1e-15], [0.1, 0.1 + 2e-15, 0.1])
    assert math.isfinite(df) and 0.0 <= p <= 1.0


def test_ranking_text_flags_an_activation_stuck_at_chance():
    from actlab.compare.outputs import chance_warnings

    rows = [{"label": "relu", "test_acc_mean": 0.96}, {"label": "sigmoid", "test_acc_mean": 0.1},
            {"label": "tanh", "test_acc_mean": 0.11}, {"label": "elu", "test_acc_mean": 0.13}]
    flagged = chance_warnings(rows)
    assert [w.split()[0] for w in flagged] == ["sigmoid", "tanh"]
    assert "stayed at chance level" in flagged[0] and "0.1" in flagged[0]
    assert [w.split()[0] for w in chance_warnings(rows, chance=0.5)] == ["sigmoid", "tanh", "elu"]
