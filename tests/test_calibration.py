"""The calibration check: the paper's Fig. 4 cases against a synthetic survey's, by intervals."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clusterage.analysis.uncertainty import Bootstrap
from clusterage.checks import calibration
from clusterage.metrics import scatter

N = 2000


def survey(root: Path, scatters: dict, null: float = 1.22, seeds=(0, 1)) -> Path:
    """A results folder whose runs score the given test scatters, on clusters whose ages give
    the null predictor the scatter ``null``."""
    rng = np.random.default_rng(sum(map(ord, root.name)))
    z = rng.standard_normal(N)
    truth = 7.5 + z * null / scatter(z, np.zeros(N))
    for setting, s in scatters.items():
        for seed in seeds:
            run = root / "train" / setting / f"seed{seed}"
            run.mkdir(parents=True)
            err = rng.standard_normal(N)
            err *= s / scatter(err, np.zeros(N))
            pd.DataFrame({"galaxy": "ngc628c", "cluster_id": np.arange(N), "split": "test",
                          "log_age_true": truth, "log_age_pred": truth + err}
                         ).to_csv(run / "predictions.csv", index=False)
            (run / "metrics.json").write_text("{}")
    (root / "null").mkdir()
    (root / "null" / "full.json").write_text(json.dumps({"train_mean_log_age": 7.5}))
    return root


def test_the_targets_are_the_papers_seven_cases_in_its_order():
    t = calibration.targets()
    assert len(t) == 7 and t["paper_scatter"].is_monotonic_increasing
    five = t.set_index("setting").loc["full/five_band/none/true"]
    assert five["paper_power"] == pytest.approx(1 - (0.45 / 1.22) ** 2)  # 0.86, the table
    assert t["source"].str.contains("Viaña").all()


def test_a_survey_like_the_paper_meets_it_and_one_with_a_loud_environment_does_not(tmp_path):
    boot = Bootstrap(300, 0.95, 0)
    paper = dict(zip(calibration.targets()["setting"], calibration.targets()["paper_scatter"]))
    like = calibration.check(survey(tmp_path / "like", paper), boot)
    assert set(like.loc[like["check"] == "level", "verdict"]) == {"met"}
    # even 2,000 test clusters leave the cases near the null an interval wider than +-0.10
    shuffled = like[like["case"] == "shuffled labels (Case 7)"].iloc[0]
    assert shuffled["ci_high"] - shuffled["ci_low"] > 2 * calibration.TOLERANCE
    # the paper's order is never contradicted; its closest pair (0.74 against 0.79 dex) may be
    # too close to call, the cost of hiding the cluster is not
    assert set(like.loc[like["check"] == "order", "verdict"]) <= {"holds", "undecided"}
    assert (like.loc[like["check"] == "order", "verdict"] == "holds").sum() >= 5
    assert like.loc[like["check"] == "cost of hiding the cluster", "verdict"].item() == "holds"
    # the environment alone as good as the whole image: the cost of hiding the cluster is gone
    loud = calibration.check(survey(tmp_path / "loud", paper | {
        "full/white_light/inner24/true": 0.70, "full/white_light/inner12/true": 0.72}), boot)
    level = loud[loud["check"] == "level"].set_index("case")["verdict"]
    assert level["white_light, inner mask D = 24 (environment only)"] == "missed"
    cost = loud[loud["check"] == "cost of hiding the cluster"].iloc[0]
    assert cost["verdict"] == "CONTRADICTED" and cost["ci_high"] < 0
    # a case the survey did not run is named, not guessed
    partial = dict(paper)
    partial.pop("full/five_band/outer12/true")
    some = calibration.check(survey(tmp_path / "some", partial), boot)
    assert "not run" in set(some["verdict"])
