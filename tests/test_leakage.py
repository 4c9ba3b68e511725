"""The leakage summary: runs that differ only in split.group, compared on the null's scale."""

import json

import pandas as pd
import pytest

from clusterage import leakage


def _run(root, env, group, split_seed, test_scatters, null_test, leaky, n_test=100):
    run = root / env / f"{group}-{split_seed}"
    (run / "tables").mkdir(parents=True)
    (run / "null").mkdir()
    pd.DataFrame([{"case": "wl", "channels": "white_light", "sample": "full", "mask": "inner",
                   "diameter": 24, "shuffled_labels": False, "seed": s, "train": 0.1,
                   "validation": 0.2, "test": t} for s, t in enumerate(test_scatters)]
                 ).to_csv(run / "tables" / "scatter_per_seed.csv", index=False)
    (run / "null" / "full.json").write_text(json.dumps({"train": 1.0, "validation": 1.0, "test": null_test}))
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


def test_no_finished_run_is_an_error_naming_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        leakage.collect(tmp_path)
