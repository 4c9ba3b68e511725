"""How close a synthetic survey comes to the real one: the paper's seven Fig. 4 cases scored on
runs of ``config/calibration.yaml`` and compared with the paper's numbers
(``data/calibration_targets.csv``), each verdict by an interval (clusterage.analysis.uncertainty).

    clusterage calibration results/calibration/seed1 results/calibration/seed2 \\
        --out docs/figures/calibration

Three checks per results folder (one synthetic survey):

- **level**: each case's predictive power retained, 1 - (s / b)^2 against the run's own null,
  is within 0.10 of the paper's: *met* when its 95% interval reaches into the paper's value
  +- 0.10 (the survey cannot be told from the paper at that tolerance), *missed* when it lies
  wholly outside. At the demo's ~240 test clusters a predictive power's interval is 0.1-0.3
  wide, so an interval inside the band (the stricter reading) is out of reach even for a survey
  exactly like the paper (tests/test_calibration.py: 2,000 clusters are not enough for the
  cases near the null);
- **order**: each pair of cases adjacent in the paper's order (lowest scatter first) keeps that
  order: the 95% interval of their paired difference of scatters above 0 (*holds*), below
  (*CONTRADICTED*) or containing 0 (*undecided*);
- **cost of hiding the cluster**: white light with an inner mask of D = 24 scores worse than
  white light unmasked (the same rule).

Writes ``<out>.csv`` (one row per survey and check) and ``<out>.png/.pdf`` (paper against
synthetic predictive power, with intervals).
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from clusterage.analysis.comparisons import WHERE
from clusterage.analysis.findings import VERDICT
from clusterage.analysis.replicates import Replicates, from_results
from clusterage.analysis.uncertainty import Bootstrap, Estimate
from clusterage.atomic import atomic_path

TOLERANCE = 0.10  # predictive power: within 0.10 of the paper's
NULL = "null_predictor/full"
COLUMNS = ["survey", "check", "case", "paper", "synthetic", "ci_low", "ci_high", "verdict"]


def targets() -> pd.DataFrame:
    """The paper's numbers: case, setting, paper_scatter, source, and the paper's predictive
    power against its null (the ``null_predictor/full`` row), in the paper's order."""
    with (resources.files("clusterage") / "data" / "calibration_targets.csv").open() as fh:
        table = pd.read_csv(fh)
    null = table.loc[table["setting"] == NULL, "paper_scatter"]
    if len(null) != 1:
        raise ValueError(f"calibration_targets.csv: one row of setting {NULL} expected, found {len(null)}")
    cases = table[table["setting"] != NULL].reset_index(drop=True)
    return cases.assign(paper_power=1.0 - (cases["paper_scatter"] / float(null.iloc[0])) ** 2)


def _level(power: Estimate, paper: float) -> str:
    if not np.isfinite(power.low):
        return "not run"
    return "missed" if power.high < paper - TOLERANCE or power.low > paper + TOLERANCE else "met"


def _ordered(reps: Replicates, lower: str, higher: str) -> Estimate | None:
    a, b = reps.settings.get(lower), reps.settings.get(higher)
    if a is None or b is None:
        return None
    return Estimate(b.value - a.value, *reps.boot.interval(b.replicates - a.replicates))


def check(results, boot: Bootstrap, label: str | None = None) -> pd.DataFrame:
    """Every calibration check of one results folder."""
    reps = from_results(results, boot)
    label = label or Path(results).name
    t = targets()
    null = reps.nulls.get("full")
    rows = []
    for r in t.itertuples():
        scored = reps.settings.get(r.setting)
        if scored is None or null is None:
            rows.append({"survey": label, "check": "level", "case": r.case, "paper": r.paper_power,
                         "synthetic": np.nan, "ci_low": np.nan, "ci_high": np.nan, "verdict": "not run"})
            continue
        power = 1.0 - (scored.replicates / null.replicates) ** 2
        est = Estimate(1.0 - (scored.value / null.value) ** 2, *boot.interval(power))
        rows.append({"survey": label, "check": "level", "case": r.case, "paper": r.paper_power,
                     "synthetic": est.value, "ci_low": est.low, "ci_high": est.high,
                     "verdict": _level(est, r.paper_power)})
    pairs = [("order", a, b, f"{ca} below {cb}") for (a, ca), (b, cb) in
             zip(zip(t["setting"], t["case"]), zip(t["setting"][1:], t["case"][1:]))]
    pairs.append(("cost of hiding the cluster", "full/white_light/none/true",
                  "full/white_light/inner24/true",
                  "hiding the cluster costs white light (inner D = 24 above no mask)"))
    paper = t.set_index("setting")["paper_scatter"]
    for kind, lower, higher, words in pairs:
        est = _ordered(reps, lower, higher)
        rows.append({"survey": label, "check": kind, "case": words,
                     "paper": float(paper[higher] - paper[lower]),
                     "synthetic": np.nan if est is None else est.value,
                     "ci_low": np.nan if est is None else est.low,
                     "ci_high": np.nan if est is None else est.high,
                     "verdict": "not run" if est is None else VERDICT[WHERE[est.excludes_zero()]]})
    return pd.DataFrame(rows, columns=COLUMNS)


def plot(table: pd.DataFrame, paths) -> None:
    """Predictive power retained per case: the paper's (black) and each survey's with its 95%
    interval, the +-0.10 band around the paper's."""
    import matplotlib.pyplot as plt

    from clusterage.report.figures import save

    levels = table[table["check"] == "level"]
    cases = list(dict.fromkeys(levels["case"]))
    surveys = list(dict.fromkeys(levels["survey"]))
    fig, ax = plt.subplots(figsize=(7.5, 0.55 * len(cases) + 1.6))
    y = np.arange(len(cases))[::-1]
    paper = levels.drop_duplicates("case").set_index("case").reindex(cases)["paper"].to_numpy(float)
    for yi, p in zip(y, paper):
        ax.fill_betweenx([yi - 0.35, yi + 0.35], p - TOLERANCE, p + TOLERANCE, color="0.88", lw=0)
    ax.scatter(paper, y, marker="|", s=300, color="black", zorder=3, label="paper (+-0.10 shaded)")
    for k, survey in enumerate(surveys):
        s = levels[levels["survey"] == survey].set_index("case").reindex(cases)
        offset = (k - (len(surveys) - 1) / 2) * 0.5 / max(len(surveys), 1)
        v = s["synthetic"].to_numpy(float)
        err = np.nan_to_num(np.vstack([v - s["ci_low"].to_numpy(float), s["ci_high"].to_numpy(float) - v]))
        ax.errorbar(v, y + offset, xerr=err, fmt="o", ms=3.5, capsize=2, lw=0.9, label=f"synthetic, {survey}")
    ax.axvline(0, color="0.5", lw=0.6)
    ax.set_yticks(y, cases, fontsize=8)
    ax.set_xlabel("predictive power retained, 1 - (s / b)$^2$ (test split)")
    ax.set_title("Synthetic survey against the paper's Fig. 4 (error bars: 95% intervals)", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    save(fig, paths)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="clusterage calibration",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("results", nargs="+", help="results folders of config/calibration.yaml runs")
    ap.add_argument("--out", help="output path without suffix (writes <out>.csv, .png, .pdf)")
    ap.add_argument("--configfile", nargs="*", default=[], metavar="FILE",
                    help="config files whose 'uncertainty' draws the intervals (default: the schema's)")
    args = ap.parse_args(argv)
    from clusterage.configfile import load_config

    boot = Bootstrap.from_config(load_config(Path("."), args.configfile))
    table = pd.concat([check(r, boot) for r in args.results], ignore_index=True)
    if args.out:
        with atomic_path(f"{args.out}.csv") as tmp:
            table.to_csv(tmp, index=False, float_format="%.4f")
        plot(table, [f"{args.out}.png", f"{args.out}.pdf"])
    with pd.option_context("display.width", 220, "display.max_colwidth", 70):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0 if set(table["verdict"]) <= {"met", "holds"} else 1


if __name__ == "__main__":
    raise SystemExit(main())
