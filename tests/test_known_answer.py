"""The known-answer comparison puts runs side by side, per case, with the null beside them."""

import pandas as pd

from clusterage.known_answer import main


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
    assert (out.with_suffix(".png")).read_bytes()[:4] == b"\x89PNG"
