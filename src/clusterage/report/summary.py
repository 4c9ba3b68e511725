"""The answer of a run in a few lines: each case's test scatter against the null predictor, and
where the figures, tables and report are. Printed at the end of a successful run.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from clusterage.analysis.findings import paper_findings
from clusterage.atomic import atomic_path

SUMMARY_COLUMNS = ["case", "sample", "mask", "diameter", "scatter_mean", "scatter_ci_low",
                   "scatter_ci_high", "scatter_std", "n_seeds", "n_seeds_expected", "null_scatter",
                   "predictive_power", "predictive_power_ci_low", "predictive_power_ci_high"]


def summary_table(table: pd.DataFrame, split: str = "test", max_points: int = 3) -> pd.DataFrame:
    """One row per case and diameter of ``split`` (the null predictor of each sample first).

    A sweep longer than ``max_points`` diameters keeps its first and last diameter only; the
    sweep figures show the rest.
    """
    rows = table[table["split"] == split].copy()
    rows["diameter"] = rows["diameter"].astype(int)
    null = rows[rows["case"] == "null_predictor"]
    cases = rows[rows["case"] != "null_predictor"]
    if len(cases):  # the null of a sample no case trains on (a bar chart's) is left to the charts
        null = null[null["sample"].isin(set(cases["sample"]))]
    kept = []
    for _, g in cases.groupby("case", sort=False):
        ds = sorted(set(g["diameter"]))
        if len(ds) > max_points:
            g = g[g["diameter"].isin([ds[0], ds[-1]])]
        kept.append(g)
    out = pd.concat([null, *kept], ignore_index=True) if kept else null
    return out[SUMMARY_COLUMNS].reset_index(drop=True)


def _case_name(row) -> str:
    if row["case"] == "null_predictor" or row["mask"] == "none":
        return row["case"]
    return f"{row['case']} (D = {row['diameter']})"


def _with_interval(value, low, high, digits: int) -> str:
    if not np.isfinite(value):
        return "-"
    text = f"{value:.{digits}f}"
    if np.isfinite(low) and np.isfinite(high):
        text += f" [{low:.{digits}f}, {high:.{digits}f}]"
    return text


def _scatter_text(row) -> str:
    if not np.isfinite(row["scatter_mean"]):
        return "not run"
    text = _with_interval(row["scatter_mean"], row["scatter_ci_low"], row["scatter_ci_high"], 3)
    if row["case"] != "null_predictor" and row["n_seeds"] < row["n_seeds_expected"]:
        text += f" ({int(row['n_seeds'])}/{int(row['n_seeds_expected'])} seeds)"
    return text


def _spread_text(row) -> str:
    if row["case"] == "null_predictor" or not np.isfinite(row["scatter_mean"]):
        return ""
    return f"{row['scatter_std']:.3f}" if np.isfinite(row["scatter_std"]) else "(1 seed)"


def format_summary(table: pd.DataFrame, differences: pd.DataFrame, *, figures=(), tables=(),
                   report=None) -> str:
    """The summary as text: the test rows of the scatter table with their intervals, the
    paper's findings decided by the intervals of ``differences``, then where things are."""
    split = "test"
    s = summary_table(table, split)
    n_seeds = int(s.loc[s["case"] != "null_predictor", "n_seeds_expected"].max()) if len(s) else 0
    samples = sorted(set(s["sample"]))
    cols = {"case": [_case_name(r) for _, r in s.iterrows()],
            "scatter (dex) [95% interval]": [_scatter_text(r) for _, r in s.iterrows()],
            "seed std": [_spread_text(r) for _, r in s.iterrows()],
            "null (dex)": [f"{b:.3f}" if np.isfinite(b) else "-" for b in s["null_scatter"]],
            "predictive power [95%]": [
                _with_interval(r["predictive_power"], r["predictive_power_ci_low"],
                               r["predictive_power_ci_high"], 2) if r["case"] != "null_predictor" else "-"
                for _, r in s.iterrows()]}
    if len(samples) > 1:
        cols = {"case": cols["case"], "sample": list(s["sample"]), **{k: v for k, v in cols.items() if k != "case"}}
    widths = {k: max(len(k), *(len(x) for x in v)) if v else len(k) for k, v in cols.items()}
    lines = [f"Summary of the run, {split} split: scatter in dex, the mean over {n_seeds} seeds with "
             "its 95% bootstrap interval",
             "(seeds and test clusters redrawn; numbers differ between machines, intervals say by how much);",
             "seed std: population std over seeds, as in the paper; null: the null predictor "
             "(train-set mean age);",
             "predictive power: (b² − s²)/b².", ""]
    lines.append("  ".join(k.ljust(widths[k]) for k in cols).rstrip())
    for i in range(len(s)):
        lines.append("  ".join(cols[k][i].ljust(widths[k]) for k in cols).rstrip())
    if not len(s):
        lines.append("(no rows for this split)")
    lines.append("")
    findings = [f for sample in samples for f in paper_findings(differences, sample=sample)]
    if any(f.holds is not None for f in findings):
        lines.append("The paper's findings (holds / undecided / CONTRADICTED: where the 95% interval of "
                     "the difference lies):")
        lines += [f"  {f.line()}" for f in findings]
        lines.append("")
    figures = [str(f) for f in figures]
    if figures:
        folder = Path(figures[0]).parent
        names = ", ".join(Path(f).stem for f in figures)
        lines += textwrap.wrap(f"Figures (PNG and PDF): {folder}/  {names}", width=100,
                               subsequent_indent="    ", break_on_hyphens=False)
    for t in tables:
        lines.append(f"Table: {t}")
    if report:
        lines.append(f"HTML report: {report}  (made by ./run.sh, or: snakemake --report {report})")
    return "\n".join(lines) + "\n"


def write(table_path, differences_path, csv_out, text_out, *, figures=(), report=None) -> str:
    """Write the summary table (CSV, for the report) and text; return the text."""
    table = pd.read_csv(table_path)
    differences = pd.read_csv(differences_path)
    with atomic_path(csv_out) as tmp:
        summary_table(table).to_csv(tmp, index=False, float_format="%.5g")
    text = format_summary(table, differences, figures=figures,
                          tables=[table_path, differences_path], report=report)
    with atomic_path(text_out) as tmp:
        Path(tmp).write_text(text)
    return text


def show(text_path) -> None:
    """Print a run's summary text, if the run has written one."""
    path = Path(text_path)
    if path.is_file():
        print("\n" + path.read_text(), end="", flush=True)
