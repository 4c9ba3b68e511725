"""The leakage summary: runs that differ only in split.group, compared on the null's scale."""

import json

import numpy as np
import pandas as pd
import pytest

from clusterage.analysis.uncertainty import Bootstrap
from clusterage.checks import leakage
from clusterage.metrics import scatter


def _run(root, env, group, split_seed, test_scatters, null_test, leaky, n_test=100):
    run = root / env / f"{group}-{split_seed}"
    (run / "tables").mkdir(parents=True)
    (run / "null").mkdir()
    rng = np.random.default_rng(split_seed)
    truth = rng.normal(7.5, 1.0, n_test)
    for seed, t in enumerate(test_scatters):  # each model's errors scaled to its scatter
        err = rng.standard_normal(n_test)
        err *= t / scatter(err, np.zeros(n_test))
        folder = run / "train" / "full" / "white_light" / "inner24" / "true" / f"seed{seed}"
        folder.mkdir(parents=True)
        pd.DataFrame({"galaxy": "ngc628c", "cluster_id": np.arange(n_test) + 1000 * split_seed,
                      "split": "test", "log_age_true": truth, "log_age_pred": truth + err}
                     ).to_csv(folder / "predictions.csv", index=False)
        (folder / "metrics.json").write_text("{}")
    pd.DataFrame([{"case": "wl", "channels": "white_light", "sample": "full", "mask": "inner",
                   "diameter": 24, "shuffled_labels": False, "seed": s, "train": 0.1,
                   "validation": 0.2, "test": t} for s, t in enumerate(test_scatters)]
                 ).to_csv(run / "tables" / "scatter_per_seed.csv", index=False)
    (run / "null" / "full.json").write_text(json.dumps({"train": 1.0, "validation": 1.0, "test": null_test,
                                                         "train_mean_log_age": 7.5}))
    pd.DataFrame([{"galaxy": "all", f"test_{group}": n_test, f"test_overlapping_train_{group}": leaky}]
                 ).to_csv(run / "null" / "full_overlap.csv", index=False)


def test_summary_compares_each_split_with_the_overlap_split(tmp_path):
    _run(tmp_path, "env1", "none", 42, [0.6, 0.8], 1.0, 90)
    _run(tmp_path, "env1", "overlap", 42, [0.9], 1.2, 0)
    _run(tmp_path, "env1", "overlap", 43, [1.1], 1.0, 0)
    (tmp_path / "env1" / "galaxy-42").mkdir()          # unfinished: ignored
    runs = leakage.collect(tmp_path)
    assert len(runs) == 4
    s = leakage.summarise(runs).set_index("group")
    assert s.loc["none", "relative_error_pct"] == pytest.approx(70.0)
    assert s.loc["overlap", "relative_error_pct"] == pytest.approx((75.0 + 110.0) / 2)
    assert s.loc["none", "minus_overlap_pct"] == pytest.approx(70.0 - 92.5)
    assert s.loc["none", "test_overlapping_train_pct"] == pytest.approx(90.0)
    assert s.loc["overlap", "n_models"] == 2
    # intervals: split seeds, then each split's clusters and models, redrawn
    boot = Bootstrap(500, 0.95, 0)
    s = leakage.summarise(runs, leakage.group_replicates(tmp_path, runs, boot), boot).set_index("group")
    for group in ("none", "overlap"):
        assert s.loc[group, "relative_error_ci_low"] < s.loc[group, "relative_error_ci_high"]
    assert s.loc["none", "minus_overlap_ci_low"] < s.loc["none", "minus_overlap_ci_high"]
    assert s.loc["none", "minus_overlap_interval"] in {"above 0", "below 0", "contains 0"}
    assert s.loc["overlap", "minus_overlap_interval"] == ""


def test_no_finished_run_is_an_error_naming_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        leakage.collect(tmp_path)
