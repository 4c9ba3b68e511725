"""Time the synthetic survey and report peak memory, one galaxy per process (as the workflow runs it).

    python benchmarks/synthetic_survey.py                     # full size: 15 galaxies, scale 1
    python benchmarks/synthetic_survey.py --scale 0.35 --galaxies ngc5068 ngc628c ngc1566
    python benchmarks/synthetic_survey.py --jobs 2            # two galaxies at a time (2 cores)

Writes the survey under --out (default: a temporary folder, removed afterwards) and a JSON
summary to benchmarks/out/synthetic_survey.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from clusterage.galaxies import TABLE1

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from clusterage.survey.mast import GalaxyFiles
from clusterage.synthetic import write_galaxy
out, target, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
t0 = time.perf_counter()
truth = write_galaxy(Path(out), target, params, GalaxyFiles(target))
print(json.dumps({"galaxy": target, "clusters": len(truth), "seconds": time.perf_counter() - t0,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_one(out: Path, target: str, params: dict) -> dict:
    res = subprocess.run([sys.executable, "-c", CHILD, str(out), target, json.dumps(params)],
                         check=True, capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--env-strength", type=float, default=1.0)
    ap.add_argument("--galaxies", nargs="+", default=list(TABLE1))
    ap.add_argument("--jobs", type=int, default=1, help="galaxies generated at once")
    ap.add_argument("--out", type=Path, default=None, help="keep the survey here")
    ap.add_argument("--summary", type=Path,
                    default=Path(__file__).parent / "out" / "synthetic_survey.json")
    a = ap.parse_args(argv)
    params = {"scale": a.scale, "seed": a.seed, "env_strength": a.env_strength}
    out = a.out or Path(tempfile.mkdtemp(prefix="synthetic-survey-"))
    t0 = time.perf_counter()
    try:
        with ThreadPoolExecutor(a.jobs) as pool:
            rows = list(pool.map(lambda g: run_one(out, g, params), a.galaxies))
        wall = time.perf_counter() - t0
        size_mb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
    finally:
        if a.out is None:
            shutil.rmtree(out, ignore_errors=True)
    for r in rows:
        print(f"{r['galaxy']:>8}  {r['clusters']:5d} clusters  {r['seconds']:6.1f} s  "
              f"peak RSS {r['peak_rss_mb']:6.0f} MB")
    summary = {
        "params": params, "jobs": a.jobs, "galaxies": rows, "clusters": sum(r["clusters"] for r in rows),
        "wall_seconds": wall, "max_peak_rss_mb": max(r["peak_rss_mb"] for r in rows),
        "output_mb": size_mb,
    }
    print(f"total: {summary['clusters']} clusters in {wall:.1f} s wall with {a.jobs} job(s); "
          f"largest per-galaxy peak RSS {summary['max_peak_rss_mb']:.0f} MB; files {size_mb:.0f} MB")
    a.summary.parent.mkdir(parents=True, exist_ok=True)
    a.summary.write_text(json.dumps(summary, indent=2) + "\n")
    return summary


if __name__ == "__main__":
    main()
