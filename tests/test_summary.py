"""The summary printed at the end of a run: the test table in a few lines, and where things are."""

import numpy as np
import pandas as pd

from clusterage.analysis.comparisons import DIFFERENCE_COLUMNS
from clusterage.report import summary


def row(case, split="test", mask="none", diameter=0, mean=np.nan, std=np.nan, n=3, null=1.2,
        sample="full"):
    power = (null**2 - mean**2) / null**2 if np.isfinite(mean) else np.nan
    return {"case": case, "channels": "", "sample": sample, "mask": mask, "diameter": diameter,
            "shuffled_labels": False, "split": split, "scatter_mean": mean, "scatter_std": std,
            "scatter_ci_low": mean - 0.05, "scatter_ci_high": mean + 0.04,
            "n_seeds": n, "n_seeds_expected": 3, "complete": n == 3, "null_scatter": null,
            "predictive_power": power, "predictive_power_ci_low": power - 0.1,
            "predictive_power_ci_high": power + 0.05, "relative_error_pct": 100 * mean / null}


TABLE = pd.DataFrame([
    row("five_band", mean=0.6, std=0.02),
    row("five_band", split="train", mean=0.2, std=0.01, null=1.3),
    row("white_light", mean=0.8, std=0.01, n=2),
    row("wl_inner", mask="inner", diameter=24, mean=0.9, std=0.03),
    *[row("sweep", mask="outer", diameter=d, mean=1.0 - d / 100, std=0.01) for d in (2, 4, 6, 8)],
    row("never", mean=np.nan, n=0),
    row("null_predictor", mean=1.2, std=0.0, n=1),
])
NO_COMPARISONS = pd.DataFrame(columns=DIFFERENCE_COLUMNS)


def test_summary_lists_the_test_rows_null_first_with_intervals_spread_null_and_power():
    text = summary.format_summary(TABLE, NO_COMPARISONS, figures=["res/figures/fig3_inner_masks.png",
                                                  "res/figures/cases.png"],
                                  tables=["res/tables/scatter.csv"], report="res/report.html")
    lines = text.splitlines()
    table = lines[lines.index("") + 1:]
    assert table[0].split() == ["case", "scatter", "(dex)", "[95%", "interval]", "seed", "std",
                                "null", "(dex)", "predictive", "power", "[95%]"]
    assert table[1].split() == ["null_predictor", "1.200", "[1.150,", "1.240]", "1.200", "-"]
    assert table[2].split() == ["five_band", "0.600", "[0.550,", "0.640]", "0.020", "1.200", "0.75",
                                "[0.65,", "0.80]"]
    assert table[3].split() == ["white_light", "0.800", "[0.750,", "0.840]", "(2/3", "seeds)", "0.010",
                                "1.200", "0.56", "[0.46,", "0.61]"]
    assert table[4].split()[:7] == ["wl_inner", "(D", "=", "24)", "0.900", "[0.850,", "0.940]"]
    # a sweep longer than three diameters: its first and last only
    assert [line.split()[:4] for line in table[5:7]] == [["sweep", "(D", "=", "2)"],
                                                         ["sweep", "(D", "=", "8)"]]
    assert table[7].split() == ["never", "not", "run", "1.200", "-"]
    assert "The paper's findings" not in text  # no comparison: nothing to decide
    assert "0.200" not in text and "1.300" not in text  # the test split only
    assert "Figures (PNG and PDF): res/figures/  fig3_inner_masks, cases" in text
    assert "HTML report: res/report.html" in text
    assert "res/tables/scatter.csv" in text


def test_summary_files_are_written_and_shown(tmp_path, capsys):
    TABLE.to_csv(tmp_path / "scatter.csv", index=False)
    NO_COMPARISONS.to_csv(tmp_path / "differences.csv", index=False)
    text = summary.write(tmp_path / "scatter.csv", tmp_path / "differences.csv",
                         tmp_path / "summary.csv", tmp_path / "summary.txt",
                         figures=[], report=None)
    csv = pd.read_csv(tmp_path / "summary.csv")
    assert list(csv["case"]) == ["null_predictor", "five_band", "white_light", "wl_inner", "sweep",
                                 "sweep", "never"]
    assert csv.loc[1, "scatter_std"] == 0.02
    summary.show(tmp_path / "summary.txt")
    assert capsys.readouterr().out.strip() == text.strip()
    summary.show(tmp_path / "absent.txt")
    assert capsys.readouterr().out == ""
