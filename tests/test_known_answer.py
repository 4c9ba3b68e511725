"""The known-answer comparison puts runs side by side, per case, with the null beside them; on the
synthetic survey the attributions find the age information planted in the environment."""

import os

import pandas as pd
import pytest

from clusterage.analysis.uncertainty import Bootstrap
from clusterage.checks.known_answer import checks, main

BOOT = Bootstrap(1000, 0.95, 0)


def write_table(folder, inner_scatter):
    rows = [
        {"case": "white_light_inner", "channels": "white_light", "sample": "full", "mask": "inner",
         "diameter": 24, "shuffled_labels": False, "split": "test", "scatter_mean": inner_scatter,
         "scatter_std": 0.02, "scatter_ci_low": inner_scatter - 0.05,
         "scatter_ci_high": inner_scatter + 0.06, "n_seeds": 2, "n_seeds_expected": 2, "complete": True,
         "null_scatter": 1.2, "predictive_power": 0.0, "relative_error_pct": 100 * inner_scatter / 1.2},
        {"case": "null_predictor", "channels": "", "sample": "full", "mask": "none", "diameter": 0,
         "shuffled_labels": False, "split": "test", "scatter_mean": 1.2, "scatter_std": 0.0,
         "n_seeds": 1, "n_seeds_expected": 1, "complete": True, "null_scatter": 1.2,
         "predictive_power": 0.0, "relative_error_pct": 100.0},
        # A bar chart's sample that no case trains: its null predictor row, unscored here.
        {"case": "null_predictor", "channels": "", "sample": "no_extremes", "mask": "none",
         "diameter": 0, "shuffled_labels": False, "split": "test", "scatter_mean": None,
         "scatter_std": 0.0, "n_seeds": 0, "n_seeds_expected": 1, "complete": False,
         "null_scatter": None, "predictive_power": 0.0, "relative_error_pct": 100.0},
    ]
    (folder / "tables").mkdir(parents=True)
    pd.DataFrame(rows).to_csv(folder / "tables" / "scatter.csv", index=False)


def test_two_runs_side_by_side(tmp_path):
    write_table(tmp_path / "env1", 0.8)
    write_table(tmp_path / "env0", 1.19)
    out = tmp_path / "ka"
    main([str(tmp_path / "env1"), str(tmp_path / "env0"), "--labels", "on", "off", "--out", str(out)])
    table = pd.read_csv(f"{out}.csv")
    inner = table[table["label"] == "white-light, inner D=24"].set_index("run")["scatter_mean"]
    assert inner["on"] == 0.8 and inner["off"] == 1.19
    null = table[table["label"] == "null predictor"].set_index("run")["scatter_mean"]
    assert null.to_dict() == {"on": 1.2, "off": 1.2}  # the cases' sample only
    assert (out.with_suffix(".png")).read_bytes()[:4] == b"\x89PNG"


KNOWN_ANSWER = os.environ.get("CLUSTERAGE_KNOWN_ANSWER")


@pytest.fixture(scope="module")
def known_answer_runs(tmp_path_factory):
    from runs import finished_run

    configs = ("config/known_answer.yaml", "config/known_answer_attribution.yaml")
    env1 = finished_run(tmp_path_factory, *configs)
    env0 = finished_run(tmp_path_factory, *configs, "config/known_answer_attribution_env0.yaml")
    return (env1 / "results/known_answer/attribution_env1",
            env0 / "results/known_answer/attribution_env0")


def write_explained(folder, seeds, outside_sd, occlusion_cost, n=120):
    """Profiles of explained unmasked five_band runs whose clusters' signed sums split into a
    part within 12 px and one beyond it with spread ``outside_sd``; and occluded predictions
    whose scatter rises by about ``occlusion_cost`` dex under an outer mask of D = 24."""
    import h5py
    import numpy as np

    rng = np.random.default_rng(len(str(folder)))
    for seed in seeds:
        run = folder / "attribution" / "full" / "five_band" / "none" / "true" / f"seed{seed}"
        run.mkdir(parents=True)
        inner = rng.normal(0, 1.0, n)
        outer = rng.normal(0, outside_sd, n)
        common = {"setting": "full/five_band/none/true", "seed": seed, "galaxy": "ngc628c",
                  "cluster_id": np.arange(n), "log_age_true": 7.0, "log_age_pred": 7.0,
                  "method": "integrated_gradients"}
        pd.concat([pd.DataFrame({**common, "quantity": "abs_fraction", "r0": 0.0, "r12": 0.6, "r80": 1.0}),
                   pd.DataFrame({**common, "quantity": "signed_sum", "r0": 0.0, "r12": inner,
                                 "r80": inner + outer})]).to_csv(run / "profiles.csv", index=False)
        truth = rng.normal(7.5, 1.0, n)
        base = truth + rng.normal(0, 0.4, n)
        worse = truth + rng.normal(0, 0.4 + occlusion_cost / 0.67 / 1.49, n)
        with h5py.File(run / "maps.h5", "w") as f:
            f.attrs["setting"] = "full/five_band/none/true"
            f.create_dataset("clusters/galaxy", data=np.array([b"ngc628c"] * n))
            f.create_dataset("clusters/cluster_id", data=np.arange(n))
            f.create_dataset("clusters/log_age_true", data=truth)
            g = f.create_group("occlusion")
            g.attrs["masks"] = ["inner", "outer"]
            g.create_dataset("diameters", data=[0, 24])
            g.create_dataset("log_age_pred", data=np.stack([[base, base], [base, worse]]))
        from clusterage.metrics import scatter
        pd.DataFrame([{"setting": "full/five_band/none/true", "seed": seed, "mask": m, "diameter": d,
                       "scatter": scatter(p, truth), "median_pred": 7.0, "n": n}
                      for m, preds in (("inner", (base, base)), ("outer", (base, worse)))
                      for d, p in zip((0, 24), preds)]).to_csv(run / "occlusion.csv", index=False)


def test_each_known_answer_check_is_decided_by_the_interval_of_its_difference(tmp_path):
    write_explained(tmp_path / "on", (0, 1, 2), outside_sd=1.0, occlusion_cost=0.3)
    write_explained(tmp_path / "off", (0, 1, 2), outside_sd=0.2, occlusion_cost=0.0)
    write_explained(tmp_path / "off2", (0, 1, 2), outside_sd=0.2, occlusion_cost=0.0)
    table = checks(tmp_path / "on", tmp_path / "off", BOOT).set_index("check")
    spread = table.loc["five_band: share of the predictions' spread beyond r = 12 px"]
    assert spread["verdict"] == "met" and spread["ci_low"] > 0
    assert spread["with_signal"] == pytest.approx(0.5, abs=0.1)  # var 1 of var 2 beyond
    cost = table.loc["five_band: test-time cost of hiding the environment (outer D = 24 px), dex"]
    assert cost["verdict"] == "met" and cost["seeds"] == "3 / 3"
    # two draws of the same survey without the signal: nothing to tell apart
    same = checks(tmp_path / "off2", tmp_path / "off", BOOT).set_index("check")
    assert set(same["verdict"]) == {"undecided"}


def assert_larger_beyond_12_px_with_the_environment(runs, channels, quantity):
    """The Integrated Gradients share beyond r = 12 px (``quantity``) is larger at env_strength 1
    than at 0: the 95% interval of the (unpaired) difference lies above 0."""
    words = {"spread_share": "share of the predictions' spread", "abs_fraction": "share of |attribution|"}
    table = checks(*runs, BOOT).set_index("check")
    row = table.loc[f"{channels}: {words[quantity]} beyond r = 12 px"]
    assert row["verdict"] == "met", row


@pytest.mark.known_answer
@pytest.mark.skipif(not KNOWN_ANSWER, reason="the known-answer runs train 12 models and explain them "
                    "(about 30 minutes on 2 cores, docs/known-answer.md): set "
                    "CLUSTERAGE_KNOWN_ANSWER=1 to run them")
@pytest.mark.parametrize("channels", ["five_band", "white_light"])
@pytest.mark.xfail(strict=True, reason="the share of |attribution| does not see the planted "
                   "environment: five_band 0.635 vs 0.641 (zero baseline; blur: 0.559 vs 0.570), "
                   "white_light 0.878 vs 0.848 +- 0.065; the share of the predictions' spread "
                   "does (docs/known-answer.md)")
def test_attribution_moves_outward_when_the_environment_carries_the_age(known_answer_runs, channels):
    """On the synthetic survey the unmasked models read more of their attribution beyond r = 12 px
    (beyond an inner mask of D = 24) when the environment depends on age (env_strength 1) than
    when it does not (0), by more than the seed-to-seed spread."""
    assert_larger_beyond_12_px_with_the_environment(known_answer_runs, channels, "abs_fraction")


@pytest.mark.known_answer
@pytest.mark.skipif(not KNOWN_ANSWER, reason="the known-answer runs: set CLUSTERAGE_KNOWN_ANSWER=1")
@pytest.mark.parametrize("channels", ["five_band", "white_light"])
def test_the_environment_moves_more_of_the_predictions_when_it_carries_the_age(known_answer_runs,
                                                                                channels):
    """The share of the predictions' spread across test clusters that Integrated Gradients put
    beyond r = 12 px is larger at env_strength 1 than at 0 (95% interval above 0)."""
    assert_larger_beyond_12_px_with_the_environment(known_answer_runs, channels, "spread_share")


@pytest.mark.known_answer
@pytest.mark.skipif(not KNOWN_ANSWER, reason="the known-answer runs: set CLUSTERAGE_KNOWN_ANSWER=1")
def test_hiding_the_environment_at_inference_costs_more_when_it_carries_the_age(known_answer_runs):
    """The five_band model's test scatter rises more when an outer mask of D = 24 hides the
    environment at inference (no retraining) at env_strength 1 than at 0 (95% interval of the
    difference of the costs above 0)."""
    table = checks(*known_answer_runs, BOOT).set_index("check")
    row = table.loc["five_band: test-time cost of hiding the environment (outer D = 24 px), dex"]
    assert row["verdict"] == "met", row
