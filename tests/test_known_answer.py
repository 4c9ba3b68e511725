"""The known-answer comparison puts runs side by side, per case, with the null beside them; on the
synthetic survey the attributions find the age information planted in the environment."""

import os

import pandas as pd
import pytest

from clusterage.known_answer import compare_attribution, main


def write_table(folder, inner_scatter):
    rows = [
        {"case": "white_light_inner", "channels": "white_light", "sample": "full", "mask": "inner",
         "diameter": 24, "shuffled_labels": False, "split": "test", "scatter_mean": inner_scatter,
         "scatter_std": 0.02, "n_seeds": 2, "n_seeds_expected": 2, "complete": True,
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


def assert_larger_beyond_12_px_with_the_environment(runs, channels, quantity):
    """The Integrated Gradients share beyond r = 12 px (``quantity`` of
    known_answer.compare_attribution) at env_strength 1 exceeds the share at 0 by more than the
    larger seed-to-seed standard deviation."""
    table = compare_attribution(runs, ["on", "off"])
    rows = table[(table["setting"] == f"full/{channels}/none/true")
                 & (table["method"] == "integrated_gradients")
                 & (table["quantity"] == quantity)].set_index("run")
    on, off = rows.loc["on"], rows.loc["off"]
    assert on["n_seeds"] == off["n_seeds"] >= 2
    spread = max(on["outside_std"], off["outside_std"])
    assert on["outside_mean"] - off["outside_mean"] > spread, rows


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
    beyond r = 12 px is larger at env_strength 1 than at 0, by more than the seed-to-seed spread."""
    assert_larger_beyond_12_px_with_the_environment(known_answer_runs, channels, "spread_share")


@pytest.mark.known_answer
@pytest.mark.skipif(not KNOWN_ANSWER, reason="the known-answer runs: set CLUSTERAGE_KNOWN_ANSWER=1")
def test_hiding_the_environment_at_inference_costs_more_when_it_carries_the_age(known_answer_runs):
    """The five_band model's test scatter rises more when an outer mask of D = 24 hides the
    environment at inference (no retraining) at env_strength 1 than at 0, by more than the
    seed-to-seed spread."""
    cost, spread = {}, []
    for label, run in zip(["on", "off"], known_answer_runs):
        table = pd.read_csv(run / "tables" / "test_time_occlusion.csv")
        t = table[(table["setting"] == "full/five_band/none/true") & (table["mask"] == "outer")]
        t = t.set_index("diameter")
        cost[label] = t.loc[24, "scatter_mean"] - t.loc[0, "scatter_mean"]
        spread.append(t.loc[24, "scatter_std"])
    assert cost["on"] - cost["off"] > max(spread), (cost, spread)
