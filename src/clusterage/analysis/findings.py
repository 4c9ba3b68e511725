"""The paper's qualitative findings, read from a run's comparisons (tables/differences.csv).

1. Colour helps: ``five_band`` (no mask) scores below ``white_light`` (no mask).
2. White light alone holds age information: ``white_light`` below the null predictor.
3. The environment alone holds age information: ``white_light`` with the cluster hidden by an
   inner mask of D = 24 px (the paper's Fig. 4 case) below the null predictor.

Each is decided by the 95% interval of its paired difference of scatters
(clusterage.analysis.uncertainty): it *holds* when the interval lies above 0 (the paper's direction), is
*contradicted* when it lies below 0, and is *undecided* when it contains 0. A case not in the
grid is named as such; one with fewer seeds than asked says on how many it was decided.

    clusterage findings results/demo-seed1 results/demo-seed2

prints the findings of each run and exits 1 unless every finding holds in every run.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from clusterage.grid import ENVIRONMENT_DIAMETER_PX, Setting, full_first

VERDICT = {"above 0": "holds", "below 0": "CONTRADICTED", "contains 0": "undecided"}


@dataclass
class Finding:
    claim: str
    lower: str           # the case that should score lower, in words
    higher: str
    row: pd.Series | None = None   # its row of tables/differences.csv; None: not run

    @property
    def verdict(self) -> str:
        """holds, CONTRADICTED, undecided, or 'not run'."""
        return "not run" if self.row is None else VERDICT[self.row["interval"]]

    @property
    def holds(self) -> bool | None:
        """True or False; None when a case was not run."""
        return None if self.row is None else self.verdict == "holds"

    def line(self) -> str:
        if self.row is None:
            return f"not run: {self.claim} ({self.lower} or {self.higher} is not in the grid or has no finished run)"
        r = self.row
        seeds = (f"{int(r['first_seeds'])} and {int(r['second_seeds'])} seeds"
                 if r["second_seeds"] else f"{int(r['first_seeds'])} seeds")
        how = ("paired" if r["paired"] else "unpaired") + f", {r['resampled']}"
        partial = "" if r["complete"] else "; INCOMPLETE: fewer seeds than the grid asks"
        return (f"{self.verdict}: {self.claim}: {self.lower} {r['first_scatter']:.3f} vs "
                f"{self.higher} {r['second_scatter']:.3f} dex, difference {r['difference']:+.3f} "
                f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}] ({how}; {seeds}{partial})")


def _row(diffs: pd.DataFrame, kind: str, first: str, second: str) -> pd.Series | None:
    sel = diffs[(diffs["comparison"] == kind) & (diffs["first_setting"] == first)
                & (diffs["second_setting"] == second)]
    return None if sel.empty else sel.iloc[0]


def paper_findings(diffs: pd.DataFrame, *, sample: str = "full") -> list[Finding]:
    """The three findings on one sample of a run's comparisons (tables/differences.csv)."""
    five = Setting("five_band", sample).name
    white = Setting("white_light", sample).name
    env = Setting("white_light", sample, "inner", ENVIRONMENT_DIAMETER_PX).name
    null = f"null_predictor/{sample}"
    env_words = f"white_light inner D = {ENVIRONMENT_DIAMETER_PX} px"
    return [
        Finding("colour helps", "five_band", "white_light", _row(diffs, "colour", five, white)),
        Finding("white light beats the null", "white_light", "null predictor",
                _row(diffs, "null_predictor", white, null)),
        Finding("the environment alone beats the null", env_words, "null predictor",
                _row(diffs, "null_predictor", env, null)),
    ]


def samples(diffs: pd.DataFrame) -> list[str]:
    """The samples of a comparisons table, the full sample first."""
    return full_first(diffs["sample"])


def read(results_dir) -> pd.DataFrame:
    path = Path(results_dir) / "tables" / "differences.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no comparisons table (run the workflow with results: {results_dir})")
    return pd.read_csv(path)


def check(results_dirs, sample: str = "full") -> tuple[str, bool]:
    """The findings of each run as text, and whether all hold in every run; a tally at the end
    when there are several runs."""
    lines, ok, tally = [], True, {}
    for d in results_dirs:
        lines.append(f"{d} (test split, sample {sample}):")
        for finding in paper_findings(read(d), sample=sample):
            lines.append(f"  {finding.line()}")
            ok &= finding.holds is True
            tally.setdefault(finding.claim, []).append(finding.verdict)
    if len(results_dirs) > 1:
        lines.append(f"Over {len(results_dirs)} runs:")
        for claim, verdicts in tally.items():
            counts = ", ".join(f"{v} {verdicts.count(v)}" for v in
                               ("holds", "undecided", "CONTRADICTED", "not run") if v in verdicts)
            lines.append(f"  {claim}: {counts}")
    return "\n".join(lines) + "\n", ok


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="clusterage findings",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", help="results folders of finished runs")
    parser.add_argument("--sample", default="full")
    args = parser.parse_args(argv)
    text, ok = check(args.results, args.sample)
    print(text, end="")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
