"""GPU training speed of the paper's CNN through the workflow's own epoch loop.

Run by benchmarks/gpu_run.sh on a GPU machine (no TensorFlow needed: Keras on JAX or PyTorch).

1. Steady images/s of the paper model (Table 2, 112 px, batch 32), float32 and mixed_bfloat16:
   random data made on the device, clusterage.train.fitloop.EpochRunner (one compiled call per epoch),
   timed after a compiling call of the same shape.
2. GPU-seconds of one paper training (five_band, no mask, float32, Adam, batch 32): a synthetic
   in-memory data set of the paper's size (8,651 clusters -> 6,055 train x 4 rotations = 24,220
   images per epoch, 1,298 validation), whole epochs (train + validation loss) timed after the
   first, x 200 epochs (the paper's maximum; early stopping can only shorten it) + the measured
   first-epoch (compile) time. Checkpoint saving is timed separately (one model.save).
3. With --ensemble K...: aggregate images/s of K independently seeded paper models trained at
   once in one process (clusterage.analysis.ensemble.EnsembleEpochRunner: jax.vmap of Keras's train_step
   over the K stacked model states, batch 32 and own batch order each; JAX only), per precision
   in --ensemble-precisions, run before the single-model items, K in the order given.

Prints a short table LAST; writes gpu.json and gpu.csv to --out.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

PAPER = dict(conv_filters=(128, 256, 512), dense_units=(512, 256, 128), learning_rate=1e-6)
AUTHORS_IMG_S = 1000.0  # the authors' notebook: ~3 s per epoch of 3,053 images on an A100
N_CLUSTERS = 8651
PAPER_EPOCHS = 200


def log(msg):
    print(msg, flush=True)


def gpu_name() -> str:
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                               "--format=csv,noheader"], capture_output=True, text=True,
                              timeout=30).stdout.strip() or "no nvidia-smi output"
    except (OSError, subprocess.SubprocessError) as err:
        return f"nvidia-smi failed: {err}"


def versions(backend: str) -> dict:
    import keras
    import numpy as np

    out = {"python": platform.python_version(), "numpy": np.__version__, "keras": keras.__version__}
    mod = __import__(backend)
    out[backend] = mod.__version__
    if backend == "jax":
        out["jax_devices"] = [str(d) for d in mod.devices()]
    if backend == "torch":
        out["torch_cuda"] = mod.cuda.is_available() and mod.cuda.get_device_name(0)
    return out


def sync(model):
    """Wait for the device: read one weight back (each epoch call ends with a host read anyway)."""
    import keras

    keras.ops.convert_to_numpy(model.trainable_variables[-1])


def build(shape, precision, seed=0, small=False):
    import keras

    from clusterage.train.model import build_cnn

    keras.mixed_precision.set_dtype_policy(precision)
    keras.utils.set_random_seed(seed)
    kw = dict(conv_filters=(8, 8, 8), dense_units=(16,), learning_rate=1e-6) if small else PAPER
    return build_cnn(shape, seed=seed, **kw)


def random_data(n, size, seed):
    import keras

    x = keras.random.uniform((n, size, size, 5), seed=seed, dtype="float32")
    y = keras.random.uniform((n,), seed=seed + 1, dtype="float32")
    return x, keras.ops.convert_to_numpy(y)


def throughput(precision, size, batch, n_batches, repeats, small):
    from clusterage.train.fitloop import EpochRunner, epoch_order
    from clusterage.train.model import forward_flops

    n = batch * n_batches
    x, y = random_data(n, size, seed=1)
    model = build((size, size, 5), precision, small=small)
    runner = EpochRunner(model, x, y, x[:batch], y[:batch], batch)
    order = epoch_order(0, 1, n)
    t = time.perf_counter()
    runner.train_epoch(order)
    sync(model)
    compile_s = time.perf_counter() - t
    times = []
    for r in range(repeats):
        t = time.perf_counter()
        loss = runner.train_epoch(epoch_order(0, 2 + r, n))
        sync(model)
        times.append(time.perf_counter() - t)
    best = min(times)
    flops = 3 * forward_flops(model)
    return {"precision": precision, "batch": batch, "images": n, "compile_s": compile_s,
            "seconds": times, "images_per_s": n / best, "median_images_per_s": n / sorted(times)[len(times) // 2],
            "train_tflops": flops * n / best / 1e12, "loss": loss}


def ensemble_throughput(precision, size, batch, n_batches, repeats, small, k):
    """K models trained together: aggregate images/s over K x n_batches batches of 32 per epoch."""
    import keras

    from clusterage.analysis.ensemble import EnsembleEpochRunner
    from clusterage.train.fitloop import epoch_order
    from clusterage.train.model import forward_flops

    n = batch * n_batches
    x, y = random_data(n, size, seed=1)
    models = [build((size, size, 5), precision, seed=seed, small=small) for seed in range(k)]
    t = time.perf_counter()
    runner = EnsembleEpochRunner(models, x, y, x[:batch], y[:batch], batch)
    setup_s = time.perf_counter() - t

    def epoch(e):
        t = time.perf_counter()
        losses = runner.train_epoch([epoch_order(seed, e, n) for seed in range(k)])
        return time.perf_counter() - t, losses  # train_epoch ends with host reads of the losses

    compile_s, _ = epoch(1)
    times = []
    for r in range(repeats):
        dt, losses = epoch(2 + r)
        times.append(dt)
    best = min(times)
    flops = 3 * forward_flops(models[0])
    peak = None
    try:
        import jax

        peak = jax.devices()[0].memory_stats().get("peak_bytes_in_use")
    except Exception:  # noqa: BLE001 - CPU devices have no memory stats
        pass
    paper_images = int(0.70 * N_CLUSTERS) * 4 * PAPER_EPOCHS * 5
    rate = k * n / best
    del runner, models
    keras.backend.clear_session()
    return {"precision": precision, "models": k, "batch_per_model": batch, "images_per_model": n,
            "setup_s": setup_s, "compile_s": compile_s, "seconds": times, "images_per_s": rate,
            "images_per_s_per_model": rate / k,
            "median_images_per_s": k * n / sorted(times)[len(times) // 2],
            "train_tflops": flops * rate / 1e12, "losses": [float(v) for v in losses],
            "peak_device_bytes": peak,
            "gpu_s_five_seeds_200_epochs": paper_images / rate}


def paper_training(precision, size, n_clusters, epochs_timed, small, out_dir):
    """Per-epoch seconds on a data set of the paper's size; extrapolated to 200 epochs."""

    from clusterage.train.fitloop import EpochRunner, epoch_order

    n_train = int(0.70 * n_clusters) * 4
    n_val = int(0.85 * n_clusters) - int(0.70 * n_clusters)
    t = time.perf_counter()
    x, y = random_data(n_train, size, seed=2)
    xv, yv = random_data(n_val, size, seed=3)
    model = build((size, size, 5), precision, small=small)
    runner = EpochRunner(model, x, y, xv, yv, 32)
    setup_s = time.perf_counter() - t
    epoch_s = []
    for epoch in range(1, epochs_timed + 1):
        t = time.perf_counter()
        runner.train_epoch(epoch_order(0, epoch, n_train))
        runner.validation_loss()
        epoch_s.append(time.perf_counter() - t)
    t = time.perf_counter()
    model.get_weights()
    get_weights_s = time.perf_counter() - t
    t = time.perf_counter()
    path = Path(os.environ.get("TMPDIR", "/tmp")) / "clusterage-gpu-ckpt.keras"
    model.save(path)
    save_s = time.perf_counter() - t
    size_mb = path.stat().st_size / 1e6
    path.unlink()
    steady = min(epoch_s[1:]) if len(epoch_s) > 1 else epoch_s[0]
    first_extra = epoch_s[0] - steady
    total = setup_s + first_extra + PAPER_EPOCHS * steady
    return {"precision": precision, "n_train_images": n_train, "n_validation": n_val,
            "setup_s": setup_s, "epoch_s": epoch_s, "steady_epoch_s": steady,
            "first_epoch_extra_s": first_extra, "epochs": PAPER_EPOCHS,
            "gpu_seconds_no_checkpoints": total,
            "images_per_s_whole_epochs": n_train / steady,
            "checkpoint_save_s": save_s, "checkpoint_mb": size_mb, "get_weights_s": get_weights_s,
            "gpu_seconds_checkpoint_every_epoch": total + PAPER_EPOCHS * (save_s + get_weights_s)}


def run_backend(args):
    """One process per backend (Keras picks its backend at import); JSON rewritten after each item."""
    import keras

    backend = keras.backend.backend()
    out = {"backend": backend, "versions": versions(backend), "throughput": [], "training": [],
           "ensemble": [], "skipped": []}
    path = Path(args.out, f"gpu-{backend}.json")
    log(f"[{backend}] versions {out['versions']}")
    # EnsembleEpochRunner is JAX-only. Its first K goes first (the point of such a run), then the
    # single-model items (the baseline on the same card), then the other K while time is left.
    ensemble = [[("ensemble", precision, k) for precision in args.ensemble_precisions]
                for k in (args.ensemble if backend == "jax" else [])]
    items = list(ensemble[0]) if ensemble else []
    for precision in args.precisions:  # the paper's float32 first, then bf16
        items.append(("throughput", precision, 1))
        if backend in args.training_backends and precision in args.training_precisions:
            items.append(("training", precision, 1))
    items += [item for group in ensemble[1:] for item in group]
    for kind, precision, k in items:
        left = args.deadline - time.time()
        name = f"{kind} {precision}" + (f" x{k}" if kind == "ensemble" else "")
        if left < args.min_left_s:
            out["skipped"].append(f"{name}: {left:.0f} s left")
            log(f"[{backend}] skipped {name}: {left:.0f} s left")
        elif kind == "ensemble":
            r = ensemble_throughput(precision, args.size, args.batch, args.n_batches, args.repeats,
                                    args.small, k)
            log(f"[{backend}] {k} models at once, {precision}: {r['images_per_s']:.0f} img/s in all, "
                f"{r['images_per_s_per_model']:.0f} per model (compile {r['compile_s']:.1f} s)")
            out["ensemble"].append(r)
        elif kind == "throughput":
            r = throughput(precision, args.size, args.batch, args.n_batches, args.repeats, args.small)
            log(f"[{backend}] {precision}: {r['images_per_s']:.0f} img/s (compile {r['compile_s']:.1f} s)")
            out["throughput"].append(r)
        else:
            r = paper_training(precision, args.size, args.clusters, args.epochs_timed, args.small, args.out)
            log(f"[{backend}] paper training {precision}: {r['steady_epoch_s']:.2f} s/epoch, "
                f"{r['gpu_seconds_no_checkpoints']:.0f} GPU-s per training")
            out["training"].append(r)
        path.write_text(json.dumps(out, indent=1))
        gc.collect()  # the item's models and data leave the device before the next one


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.environ.get("OUT", str(ROOT / "benchmarks" / "out")))
    ap.add_argument("--backends", nargs="+", default=["jax", "torch"])
    ap.add_argument("--precisions", nargs="+", default=["float32", "mixed_bfloat16"])
    ap.add_argument("--training-backends", nargs="+", default=["jax"])
    ap.add_argument("--training-precisions", nargs="+", default=["float32", "mixed_bfloat16"])
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--n-batches", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--clusters", type=int, default=N_CLUSTERS)
    ap.add_argument("--epochs-timed", type=int, default=3)
    ap.add_argument("--ensemble", nargs="*", type=int, default=[], metavar="K",
                    help="JAX: also time K models trained at once (vmap), for each K given")
    ap.add_argument("--ensemble-precisions", nargs="+", default=["mixed_bfloat16", "float32"])
    ap.add_argument("--budget-s", type=float, default=230.0,
                    help="whole run; an item is not started with under --min-left-s left")
    ap.add_argument("--min-left-s", type=float, default=40.0)
    ap.add_argument("--deadline", type=float, default=0.0, help=argparse.SUPPRESS)
    ap.add_argument("--small", action="store_true", help="a tiny CNN (CPU check of this script)")
    ap.add_argument("--dry-run", action="store_true",
                    help="CPU check: tiny CNN, 32 px, few batches, 200 clusters")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if any(k < 1 for k in args.ensemble):
        ap.error(f"--ensemble: model counts must be >= 1, got {args.ensemble}")
    if args.dry_run:
        args.small, args.size, args.n_batches, args.clusters, args.repeats = True, 32, 6, 200, 2
        args.epochs_timed = 2
    Path(args.out).mkdir(parents=True, exist_ok=True)
    if args.child:
        return run_backend(args)

    t0 = time.perf_counter()
    args.deadline = time.time() + args.budget_s
    gpu = gpu_name()
    log(f"GPU: {gpu}")
    log(f"python {platform.python_version()} at {sys.executable}")
    results = {"gpu": gpu, "args": vars(args), "backends": {}, "errors": {}}
    for backend in args.backends:
        env = dict(os.environ, KERAS_BACKEND=backend)
        cmd = [sys.executable, __file__, "--child", *(argv if argv is not None else sys.argv[1:]),
               "--deadline", str(args.deadline)]
        if args.dry_run and "--dry-run" not in cmd:
            cmd.append("--dry-run")
        left = args.deadline - time.time()
        if left < args.min_left_s:
            results["errors"][backend] = f"not started: {left:.0f} s left"
            continue
        try:  # a child past the deadline is stopped; what it finished is in its JSON
            proc = subprocess.run(cmd, env=env, text=True, capture_output=True, timeout=left + 20)
            rc, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
        except subprocess.TimeoutExpired as err:
            rc, stdout, stderr = "timeout", err.stdout or "", err.stderr or ""
            stdout, stderr = [s.decode() if isinstance(s, bytes) else s for s in (stdout, stderr)]
        sys.stdout.write(stdout)
        path = Path(args.out, f"gpu-{backend}.json")
        if rc != 0:
            results["errors"][backend] = f"rc {rc}: {stderr[-4000:]}"
            log(f"[{backend}] FAILED (rc {rc}):\n{stderr[-2500:]}")
        if not path.exists():
            continue
        results["backends"][backend] = json.loads(path.read_text())
        path.unlink()
    results["wall_s"] = time.perf_counter() - t0
    Path(args.out, "gpu.json").write_text(json.dumps(results, indent=1))

    rows = []
    for backend, res in results["backends"].items():
        for r in res["throughput"]:
            rows.append((backend, r["precision"], f"steady, batch {r['batch']}", f"{r['images_per_s']:.0f} img/s",
                         f"{r['images_per_s'] / AUTHORS_IMG_S:.1f}x authors", f"{r['train_tflops']:.1f} TFLOP/s",
                         f"compile {r['compile_s']:.1f} s"))
        for r in res["training"]:
            rows.append((backend, r["precision"], f"paper training ({r['n_train_images']} img/epoch)",
                         f"{r['images_per_s_whole_epochs']:.0f} img/s", f"{r['steady_epoch_s']:.2f} s/epoch",
                         f"{r['gpu_seconds_no_checkpoints']:.0f} GPU-s / {PAPER_EPOCHS} ep",
                         f"ckpt {r['checkpoint_save_s']:.2f} s ({r['checkpoint_mb']:.0f} MB)"))
        single = {r["precision"]: r["images_per_s"] for r in res["throughput"]}
        for r in res.get("ensemble", []):
            vs1 = f"{r['images_per_s'] / single[r['precision']]:.2f}x 1 model; " if r["precision"] in single else ""
            mem = f"; peak {r['peak_device_bytes'] / 2**30:.1f} GiB" if r.get("peak_device_bytes") else ""
            rows.append((backend, r["precision"], f"{r['models']} models at once, batch {r['batch_per_model']} each",
                         f"{r['images_per_s']:.0f} img/s", f"{r['images_per_s'] / AUTHORS_IMG_S:.1f}x authors",
                         f"{r['train_tflops']:.1f} TFLOP/s",
                         f"{vs1}{r['images_per_s_per_model']:.0f}/model; 5 seeds x {PAPER_EPOCHS} ep "
                         f"{r['gpu_s_five_seeds_200_epochs']:.0f} GPU-s; compile {r['compile_s']:.1f} s{mem}"))
        for s in res["skipped"]:
            rows.append((backend, "-", "skipped", s, "", "", ""))
    for backend, err in results["errors"].items():
        rows.append((backend, "-", "FAILED", err.splitlines()[0][:60] if err else "", "", "", ""))
    header = ("backend", "precision", "measure", "rate", "vs", "cost", "note")
    with open(Path(args.out, "gpu.csv"), "w") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join(str(c).replace(",", ";") for c in r) + "\n")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    log(f"\n== GPU benchmark ({gpu}; wall {results['wall_s']:.0f} s; authors ~{AUTHORS_IMG_S:.0f} img/s) ==")
    for r in [header] + rows:
        log("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    return 0 if results["backends"] else 1


if __name__ == "__main__":
    sys.exit(main())
