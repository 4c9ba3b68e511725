"""The paper's qualitative findings, checked on a run's scatter table."""

import pandas as pd

from clusterage import findings, summary


def _table(five=(0.55, 0.01), white=(0.65, 0.02), inner=(0.70, 0.01), null=1.07, split="test"):
    def row(case, channels, mask, diameter, mean, std):
        return {"case": case, "channels": channels, "sample": "full", "mask": mask,
                "diameter": diameter, "diameter_unit": "px", "shuffled_labels": False,
                "split": split, "scatter_mean": mean, "scatter_std": std, "n_seeds": 2,
                "n_seeds_expected": 2, "complete": True, "null_scatter": null,
                "predictive_power": 1 - (mean / null) ** 2, "relative_error_pct": 100 * mean / null}
    rows = [row("null_predictor", "", "none", 0, null, 0.0)]
    if five:
        rows.append(row("five_band", "five_band", "none", 0, *five))
    rows.append(row("white_light", "white_light", "none", 0, *white))
    rows.append(row("white_light_inner", "white_light", "inner", 12, 0.68, 0.01))
    rows.append(row("white_light_inner", "white_light", "inner", 24, *inner))
    return pd.DataFrame(rows)


def test_each_finding_needs_a_gap_larger_than_twice_the_seed_spread():
    colour, white, env = findings.paper_findings(_table())
    assert colour.holds and colour.gap == 0.65 - 0.55 and colour.twice_spread == 0.04
    assert white.holds and env.holds
    assert "inner D = 24 px" in env.lower and env.lower_scatter == 0.70  # the paper's D = 24
    # A gap within the seeds' noise is not a finding: 0.10 < 2 x 0.06.
    colour, *_ = findings.paper_findings(_table(white=(0.65, 0.06)))
    assert colour.holds is False and "DOES NOT HOLD" in colour.line()
    # The wrong order fails whatever the spread.
    colour, *_ = findings.paper_findings(_table(five=(0.70, 0.0)))
    assert colour.holds is False


def test_a_case_not_run_is_said_so_and_fails_the_check(tmp_path):
    colour, white, _ = findings.paper_findings(_table(five=None))
    assert colour.holds is None and "not run" in colour.line() and white.holds
    (tmp_path / "run" / "tables").mkdir(parents=True)
    _table(five=None).to_csv(tmp_path / "run" / "tables" / "scatter.csv", index=False)
    text, ok = findings.check([tmp_path / "run"])
    assert not ok and "colour helps: not run" in text
    assert findings.main([str(tmp_path / "run")]) == 1


def test_the_run_summary_states_the_findings():
    text = summary.format_summary(_table())
    assert "holds: colour helps: five_band 0.550 < white_light 0.650 dex" in text
    assert "holds: the environment alone beats the null: white_light inner D = 24 px 0.700" in text
    # Only the test split is summarised.
    assert "holds" not in summary.format_summary(_table(split="validation"))
