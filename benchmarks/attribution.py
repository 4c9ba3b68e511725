"""Cost of explaining a trained model, as a ratio to one training epoch of the same setting.

    .venv/bin/python benchmarks/attribution.py [--clusters N] [--model demo|paper] [--channels five_band]

In one process: trains a model of the setting for two epochs on random cutouts (the second,
compiled epoch is the reference), then explains its test split with the attribution defaults
(Integrated Gradients, 64 steps; SmoothGrad, 16 samples; test-time occlusion, 82 inputs per
cluster) and prints each part's time divided by the epoch's. Writes benchmarks/out/attribution.csv.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import pandas as pd  # noqa: E402
from run import DEMO, PAPER, cpu_model, make_dataset  # noqa: E402


def main(argv=None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clusters", type=int, default=500, help="clusters in the dataset (test split: 15%%)")
    ap.add_argument("--model", choices=["demo", "paper"], default="demo")
    ap.add_argument("--channels", choices=["five_band", "white_light"], default="five_band")
    args = ap.parse_args(argv)

    import keras

    from clusterage.analysis.explain import Options, explain_run
    from clusterage.train.training import Hyper, Setting, train

    hyper = Hyper(**(DEMO if args.model == "demo" else PAPER), epochs=2, patience=2)
    setting = Setting(args.channels, "full")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = make_dataset(tmp / "cutouts.h5", args.clusters)
        run = tmp / "run"
        train(data, run, setting, seed=0, hyper=hyper)
        meta = json.loads((run / "metadata.json").read_text())
        epoch_s = float(pd.read_csv(run / "history.csv")["seconds"].iloc[-1])
        t0 = time.perf_counter()
        times = explain_run(data, run, tmp / "maps.h5", tmp / "profiles.csv", tmp / "occlusion.csv",
                            Options(), seed=0)
        total = time.perf_counter() - t0
    opts = Options()
    n_test, n_train = times["n_test"], meta["split"]["n_train_augmented"]
    rows = [
        ("one training epoch (reference)", epoch_s, f"{n_train} augmented train images"),
        (f"Integrated Gradients, {opts.ig_steps} steps", times["ig_seconds"],
         f"{n_test} test clusters x {opts.ig_steps + 1} gradients"),
        (f"SmoothGrad, {opts.smoothgrad_samples} samples", times["smoothgrad_seconds"],
         f"{n_test} x {opts.smoothgrad_samples} gradients"),
        ("test-time occlusion", times["occlusion_seconds"], f"{n_test} x 82 predictions"),
        ("whole attribution job (with loading, profiles, HDF5)", total, ""),
    ]
    table = pd.DataFrame([{"measure": m, "seconds": s, "ratio_to_epoch": s / epoch_s, "note": n}
                          for m, s, n in rows])
    table.insert(0, "setting", f"{args.model} model, {args.channels}, {args.clusters} clusters")
    table["backend"] = keras.backend.backend()
    table["cpu"] = cpu_model()
    out = ROOT / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "attribution.csv", index=False, float_format="%.4g")
    print(table[["measure", "seconds", "ratio_to_epoch", "note"]].to_string(index=False))
    return table


if __name__ == "__main__":
    main()
