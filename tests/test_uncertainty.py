"""Intervals of scatters and of their differences (clusterage.analysis.uncertainty, clusterage.analysis.replicates)."""

import numpy as np
import pandas as pd
import pytest

from clusterage.analysis.replicates import Replicates
from clusterage.analysis.uncertainty import (
    Bootstrap,
    ClusterDraws,
    Estimate,
    model_scatters,
    resampled,
    setting_replicates,
)
from clusterage.metrics import SCATTER_FACTOR, null_predictor, scatter

MEDIAN_ABS_NORMAL = 0.6744897501960817  # median of |N(0, 1)|


def correlated_settings(rng, n, k, scale_a, scale_b, tau=0.1, rho=0.8):
    """Absolute errors of two settings' k models on the same n clusters.

    A cluster's difficulty |z| is shared (correlation rho), each model scales its errors by a
    seed effect exp(tau N(0, 1)). On an infinite test set a model's scatter is
    1.49 x scale x seed effect x median|N(0,1)|, so the expected difference of the settings'
    scatters is known exactly."""
    z = rng.standard_normal(n)
    seed_a = np.exp(tau * rng.standard_normal(k))[:, None]
    seed_b = np.exp(tau * rng.standard_normal(k))[:, None]
    a = scale_a * seed_a * np.abs(z)
    b = scale_b * seed_b * np.abs(rho * z + np.sqrt(1 - rho**2) * rng.standard_normal((k, n)))
    truth = SCATTER_FACTOR * MEDIAN_ABS_NORMAL * (scale_b - scale_a) * np.exp(tau**2 / 2)
    return a, b, truth


def paired_difference(a, b, boot, unpaired=False):
    test_a = ClusterDraws.drawn(range(a.shape[1]), np.zeros(a.shape[1]), boot, key="a")
    test_b = ClusterDraws.drawn(range(b.shape[1]), np.zeros(b.shape[1]), boot, key="b") if unpaired else test_a
    ra = setting_replicates(model_scatters(a, test_a), boot, "a")
    rb = setting_replicates(model_scatters(b, test_b), boot, "b")
    return boot.interval(rb - ra)


def test_the_interval_of_a_known_difference_covers_it_about_95_percent_of_the_time():
    rng = np.random.default_rng(20261205)
    hits, n_sim = 0, 200
    for sim in range(n_sim):
        a, b, truth = correlated_settings(rng, n=200, k=3, scale_a=0.5, scale_b=0.55)
        lo, hi = paired_difference(a, b, Bootstrap(500, 0.95, sim))
        hits += lo <= truth <= hi
    # 200 draws: a true 95% coverage lands in [0.91, 0.98] with 99.6% probability. The two-way
    # draw counts the seeds' cluster-level disagreement twice, so it errs on the wide side.
    assert 0.90 <= hits / n_sim <= 0.99


def test_a_paired_difference_is_narrower_than_the_unpaired_one():
    # Two settings that find the same clusters hard (correlation 0.99), seeds alike.
    a, b, truth = correlated_settings(np.random.default_rng(3), n=300, k=3, scale_a=0.5,
                                      scale_b=0.56, tau=0.02, rho=0.99)
    boot = Bootstrap(1000, 0.95, 1)
    paired = paired_difference(a, b, boot)
    unpaired = paired_difference(a, b, boot, unpaired=True)
    assert paired[1] - paired[0] < 0.5 * (unpaired[1] - unpaired[0])
    assert paired[0] <= truth <= paired[1]
    # The paired interval finds the 0.06 dex difference; the unpaired one cannot tell it from 0.
    assert Estimate(truth, *paired).excludes_zero() == 1
    assert Estimate(truth, *unpaired).excludes_zero() == 0


def test_one_seed_resamples_the_clusters_only_and_says_so():
    rng = np.random.default_rng(0)
    boot = Bootstrap(400, 0.95, 0)
    test = ClusterDraws.drawn(range(100), np.zeros(100), boot)
    per_model = model_scatters(np.abs(rng.standard_normal((1, 100))), test)
    np.testing.assert_array_equal(setting_replicates(per_model, boot, "x"), per_model[0])
    lo, hi = boot.interval(per_model[0])
    assert lo < hi
    assert resampled(1) == "clusters only (1 seed)" and resampled(3) == "seeds and clusters"


def test_the_same_seed_gives_the_same_intervals_and_another_seed_others():
    a, b, _ = correlated_settings(np.random.default_rng(5), n=150, k=2, scale_a=0.5, scale_b=0.6)
    first = paired_difference(a, b, Bootstrap(300, 0.95, 7))
    assert paired_difference(a, b, Bootstrap(300, 0.95, 7)) == first
    assert paired_difference(a, b, Bootstrap(300, 0.95, 8)) != first


@pytest.mark.parametrize("n", [9, 10])
def test_each_replicates_scatter_is_the_scatter_of_its_drawn_clusters(n):
    errors = np.random.default_rng(1).random((3, n))
    errors[0, :4] = 0.5  # ties
    boot = Bootstrap(200, 0.95, 0)
    test = ClusterDraws.drawn(range(n), np.zeros(n), boot)
    got = model_scatters(errors, test)
    want = SCATTER_FACTOR * np.median(errors[:, test.draws], axis=-1)
    np.testing.assert_allclose(got, want)


def test_the_null_predictor_is_scored_on_each_replicates_drawn_clusters():
    truth = np.random.default_rng(2).normal(7.5, 1.0, 80)
    boot = Bootstrap(200, 0.95, 0)
    test = ClusterDraws.drawn(range(80), truth, boot)
    reps = test.null_replicates(7.3)
    b = 5
    assert reps[b] == pytest.approx(scatter(np.full(80, 7.3), truth[test.draws[b]]))
    whole = null_predictor(truth, {"test": np.arange(80), "train": np.arange(80)})["test"]
    lo, hi = boot.interval(reps)
    assert lo < scatter(np.full(80, 7.3), truth) < hi and whole > 0


def _predictions(tmp_path, name, ids, err):
    run = tmp_path / name
    run.mkdir(parents=True)
    pd.DataFrame({"galaxy": "ngc628c", "cluster_id": ids, "split": "test",
                  "log_age_true": 7.0, "log_age_pred": 7.0 + np.asarray(err)}).to_csv(
        run / "predictions.csv", index=False)
    (run / "metrics.json").write_text("{}")
    return str(run)


def test_models_of_one_setting_on_other_test_clusters_are_refused_naming_the_file(tmp_path):
    runs = pd.DataFrame([
        {"setting": "full/white_light/none/true", "sample": "full", "seed": 0,
         "run_dir": _predictions(tmp_path, "s0", [1, 2, 3], [0.1, 0.2, 0.3])},
        {"setting": "full/white_light/none/true", "sample": "full", "seed": 1,
         "run_dir": _predictions(tmp_path, "s1", [1, 2, 4], [0.1, 0.2, 0.3])}])
    with pytest.raises(ValueError, match=r"s1/predictions.csv: its test clusters differ"):
        Replicates(runs, {"full": 7.0}, Bootstrap(100, 0.95, 0))


def test_settings_on_the_same_test_clusters_share_their_draws(tmp_path):
    ids = list(range(30))
    err = np.linspace(0.0, 1.0, 30)
    runs = pd.DataFrame([
        {"setting": s, "sample": "full", "seed": k, "run_dir": _predictions(tmp_path, f"{s[:2]}{k}", ids, err * f)}
        for s, f in (("a/1", 1.0), ("b/2", 1.5)) for k in (0, 1)])
    reps = Replicates(runs, {"full": 7.2}, Bootstrap(100, 0.95, 0))
    assert reps.settings["a/1"].test is reps.settings["b/2"].test is reps.nulls["full"].test
    # identical models: the setting's replicates are one model's, and b's are 1.5 x a's
    np.testing.assert_allclose(reps.settings["b/2"].replicates, 1.5 * reps.settings["a/1"].replicates)


def test_attribution_readings_of_a_draw_that_keeps_every_cluster_once_are_the_plain_ones():
    from clusterage.analysis.attribution import spread_share
    from clusterage.analysis.uncertainty import mean_replicates, spread_share_replicates

    rng = np.random.default_rng(4)
    sums = np.cumsum(rng.normal(size=(40, 5)), axis=1)
    fractions = rng.random((40, 5))
    fractions[3, 2] = np.nan  # a cluster without a value there is left out
    boot = Bootstrap(100, 0.95, 0)
    test = ClusterDraws.drawn(range(40), np.zeros(40), boot)
    test.draws[0] = np.arange(40)  # replicate 0 keeps every cluster once
    test.__dict__.pop("counts", None)
    np.testing.assert_allclose(spread_share_replicates(sums, test)[0], spread_share(sums))
    np.testing.assert_allclose(mean_replicates(fractions, test)[0], np.nanmean(fractions, axis=0))
    # other replicates differ, and the spread share is 1 at the last radius in every one
    assert not np.allclose(spread_share_replicates(sums, test)[1], spread_share(sums))
    np.testing.assert_allclose(spread_share_replicates(sums, test)[:, -1], 1.0)
