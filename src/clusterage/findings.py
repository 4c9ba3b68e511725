"""The paper's qualitative findings, checked on a run's scatter table.

1. Colour helps: ``five_band`` (no mask) scores below ``white_light`` (no mask).
2. White light alone holds age information: ``white_light`` below the null predictor.
3. The environment alone holds age information: ``white_light`` with the cluster hidden by an
   inner mask (D = 24 px, the paper's Fig. 4 case; else the widest inner mask run) below the
   null predictor.

A finding holds when the gap between the two scatters is larger than twice the seed-to-seed
spread (population standard deviation, the larger of the two; the null predictor has none).

    python -m clusterage.findings results/demo-seed1 results/demo-seed2 results/demo-seed3

prints the check for each run's ``tables/scatter.csv`` and exits 1 if a finding does not hold.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .grid import ENVIRONMENT_DIAMETER_PX


@dataclass
class Finding:
    claim: str
    lower: str           # the case that should score lower
    higher: str
    lower_scatter: float
    higher_scatter: float
    twice_spread: float

    @property
    def gap(self) -> float:
        return self.higher_scatter - self.lower_scatter

    @property
    def holds(self) -> bool | None:
        """True or False; None when a case was not run."""
        if not (np.isfinite(self.lower_scatter) and np.isfinite(self.higher_scatter)):
            return None
        return bool(self.gap > self.twice_spread)

    def line(self) -> str:
        if self.holds is None:
            return f"{self.claim}: not run ({self.lower} or {self.higher} missing)"
        verdict = "holds" if self.holds else "DOES NOT HOLD"
        return (f"{verdict}: {self.claim}: {self.lower} {self.lower_scatter:.3f} < {self.higher} "
                f"{self.higher_scatter:.3f} dex (gap {self.gap:.3f}, 2 x spread {self.twice_spread:.3f})")


def _unmasked(rows: pd.DataFrame, channels: str) -> pd.Series | None:
    sel = rows[(rows["channels"] == channels) & (rows["mask"] == "none")]
    return None if sel.empty else sel.iloc[0]


def _environment_row(rows: pd.DataFrame) -> pd.Series | None:
    inner = rows[(rows["channels"] == "white_light") & (rows["mask"] == "inner")
                 & (rows["diameter"] > 0)]
    px = inner[inner["diameter_unit"] == "px"] if "diameter_unit" in inner else inner
    chosen = px[px["diameter"] == ENVIRONMENT_DIAMETER_PX]
    if chosen.empty:
        chosen = (px if len(px) else inner).sort_values("diameter").tail(1)
    return None if chosen.empty else chosen.iloc[0]


def _environment_label(row: pd.Series | None) -> str:
    if row is None:
        return "white_light inner"
    return f"white_light inner D = {int(row['diameter'])} {row.get('diameter_unit', 'px')}"


def _twice(*spreads: float) -> float:
    """Twice the larger seed spread (a single seed has none)."""
    return 2 * max(v if np.isfinite(v) else 0.0 for v in spreads)


def _scatter(row):
    return (float(row["scatter_mean"]), float(row["scatter_std"])) if row is not None else (np.nan, 0.0)


def paper_findings(table: pd.DataFrame, *, split: str = "test", sample: str = "full") -> list[Finding]:
    """The three findings on one split and sample of a scatter table (tables/scatter.csv)."""
    rows = table[(table["split"] == split) & (table["sample"] == sample)]
    if "shuffled_labels" in rows:
        rows = rows[~rows["shuffled_labels"].astype(bool)]
    null = rows[rows["case"] == "null_predictor"]
    rows = rows[rows["case"] != "null_predictor"]
    null_scatter = float(null["scatter_mean"].iloc[0]) if len(null) else np.nan
    five = _unmasked(rows, "five_band")
    white = _unmasked(rows, "white_light")
    env = _environment_row(rows)
    (f, fs), (w, ws), (e, es) = _scatter(five), _scatter(white), _scatter(env)
    return [
        Finding("colour helps", "five_band", "white_light", f, w, _twice(fs, ws)),
        Finding("white light beats the null", "white_light", "null predictor", w, null_scatter,
                _twice(ws)),
        Finding("the environment alone beats the null", _environment_label(env),
                "null predictor", e, null_scatter, _twice(es)),
    ]


def check(results_dirs, split: str = "test", sample: str = "full") -> tuple[str, bool]:
    """The findings of each run as text, and whether all hold in every run."""
    lines, ok = [], True
    for d in results_dirs:
        path = Path(d) / "tables" / "scatter.csv"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no scatter table (run the workflow with results: {d})")
        lines.append(f"{d} ({split} split, sample {sample}):")
        for finding in paper_findings(pd.read_csv(path), split=split, sample=sample):
            lines.append(f"  {finding.line()}")
            ok &= finding.holds is True
    return "\n".join(lines) + "\n", ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", help="results folders of finished runs")
    parser.add_argument("--split", default="test")
    parser.add_argument("--sample", default="full")
    args = parser.parse_args(argv)
    text, ok = check(args.results, args.split, args.sample)
    print(text, end="")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
