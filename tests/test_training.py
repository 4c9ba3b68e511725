"""Training: outputs of a run, and a killed run that resumes to the same result."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from clusterage.grid import Hyper, Setting
from clusterage.survey import dataset

TINY = dict(conv_filters=[4, 4, 4], dense_units=[8], learning_rate=3e-3, batch_size=16,
            epochs=8, patience=20, rotations=4)


def make_dataset(path: Path, n=120, size=32, seed=0):
    """Cutouts whose brightness profile width tracks age, so a CNN can learn something."""
    rng = np.random.default_rng(seed)
    log_age = rng.uniform(6, 10, n)
    yy, xx = np.mgrid[:size, :size] - size // 2
    r2 = (yy**2 + xx**2)[None, :, :, None]
    width = (1 + (log_age - 6))[:, None, None, None]
    colour = np.linspace(1, 2, 5)[None, None, None, :] ** ((log_age - 8)[:, None, None, None])
    images = (np.exp(-r2 / (2 * width**2)) * colour + 0.05 * rng.standard_normal((n, size, size, 5)))
    clusters = pd.DataFrame({"galaxy": "ngc628c", "cluster_id": np.arange(n), "log_age": log_age,
                             "x": 0.0, "y": 0.0, "ra": 0.0, "dec": 0.0, "cluster_class": 1,
                             "distance_mpc": 9.84})
    dataset.write(path, images.astype(np.float32), clusters, source="test",
                  filters={"ngc628c": ["F275W", "F336W", "F438W", "F555W", "F814W"]})
    return path


RUNNER = """
import sys, json
from clusterage.grid import Hyper, Setting
from clusterage.train.training import train
args = json.loads(sys.argv[1])
train(args["data"], args["out"], Setting("five_band", "full", "inner", 4), seed=3,
      hyper=Hyper.from_config(args["hyper"]), checkpoint_dir=args["ckpt"])
"""


def run(tmp_path, name, hyper, wait_for_epoch=None, threads=1):
    args = {"data": str(tmp_path / "d.h5"), "out": str(tmp_path / name),
            "ckpt": str(tmp_path / f"{name}-ckpt"), "hyper": hyper}
    env = dict(os.environ, PYTHONHASHSEED="0", OMP_NUM_THREADS=str(threads),
               TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS=str(threads),
               TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, json.dumps(args)], env=env,
                            stderr=subprocess.PIPE, text=True)
    if wait_for_epoch is None:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        return Path(args["out"])
    latest = Path(args["ckpt"]) / "latest"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if latest.exists() and latest.read_text().strip() >= f"epoch-{wait_for_epoch:04d}":
            break
        time.sleep(0.02)
    assert proc.poll() is None, "training ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return Path(args["out"])


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("train")
    make_dataset(tmp / "d.h5")
    return tmp


def test_a_run_writes_scored_predictions_history_and_metadata(tiny_data):
    out = run(tiny_data, "plain", TINY)
    metrics = json.loads((out / "metrics.json").read_text())
    meta = json.loads((out / "metadata.json").read_text())
    pred = pd.read_csv(out / "predictions.csv")
    hist = pd.read_csv(out / "history.csv")
    assert set(pred["split"]) == {"train", "validation", "test"}
    assert {"galaxy", "cluster_id", "log_age_true", "log_age_pred"} <= set(pred.columns)
    assert meta["split"]["n_train"] == 84 and meta["split"]["n_train_augmented"] == 336
    assert meta["seed"] == 3 and meta["hyperparameters"]["conv_filters"] == [4, 4, 4]
    assert meta["versions"]["keras"] and meta["dataset"]["content_sha256"]
    assert len(hist) == metrics["epochs_run"] == 8
    test = pred[pred["split"] == "test"]
    recomputed = 1.49 * np.median(np.abs(test["log_age_pred"] - test["log_age_true"]))
    assert metrics["scatter_test"] == pytest.approx(recomputed)
    # The planted signal is learnable: the model beats the train-mean null predictor.
    null = 1.49 * np.median(np.abs(test["log_age_true"] - pred[pred["split"] == "train"]["log_age_true"].mean()))
    assert metrics["scatter_test"] < null
    assert not (tiny_data / "plain-ckpt").exists(), "the checkpoint is removed after success"
    # The run reads the five filters of its sample's rows, and keeps its weights without Adam's state.
    assert meta["dataset"]["image_bytes_read"] == 120 * 32 * 32 * 5 * 4
    assert meta["input_shape"] == [32, 32, 5]
    with h5py.File(out / "model.weights.h5", "r") as f:
        arrays = []
        f.visititems(lambda name, obj: arrays.append((name, obj.size)) if isinstance(obj, h5py.Dataset) else None)
    assert all(name.startswith("layers/") for name, _ in arrays), arrays  # no optimizer/ group
    assert sum(size for _, size in arrays) == meta["parameters"]


LOADER = """
import json, sys
import numpy as np, pandas as pd
from clusterage.survey import dataset
from clusterage.train.keep import load_model
from clusterage.grid import Hyper, Setting, SplitSpec
from clusterage.train.training import prepare_splits
run, data = sys.argv[1], sys.argv[2]
model, meta = load_model(run)
images, clusters, _ = dataset.read(data)
split = prepare_splits(images, clusters, Setting(**meta["setting"]), meta["sample_range"],
                       Hyper.from_config(meta["hyperparameters"]),
                       SplitSpec.from_config({k: meta["split"][k] for k in SplitSpec.__dataclass_fields__}),
                       meta["seed"])
lo, hi = meta["target_scaling"]["min"], meta["target_scaling"]["max"]
pred = model.predict(split.x["test"], verbose=0).reshape(-1).astype(np.float64) * (hi - lo) + lo
saved = pd.read_csv(f"{run}/predictions.csv").query("split == 'test'")["log_age_pred"].to_numpy()
print(json.dumps({"backend": __import__("keras").backend.backend(),
                  "max_diff": float(np.abs(pred - saved).max())}))
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_a_kept_model_loads_on_every_backend_and_predicts_what_the_run_scored(tiny_data, backend):
    if backend != "tensorflow":
        pytest.importorskip(backend)
    out = tiny_data / "plain"
    if not (out / "metrics.json").exists():
        run(tiny_data, "plain", TINY)
    env = dict(os.environ, KERAS_BACKEND=backend, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-c", LOADER, str(out), str(tiny_data / "d.h5")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["backend"] == backend
    assert result["max_diff"] < 1e-4


def test_killed_run_resumes_from_its_last_epoch_to_the_same_metrics(tiny_data):
    hyper = dict(TINY, epochs=12)
    reference = json.loads((run(tiny_data, "whole", hyper) / "metrics.json").read_text())
    killed = run(tiny_data, "resumed", hyper, wait_for_epoch=5)
    assert not (killed / "metrics.json").exists()
    run(tiny_data, "resumed", hyper)
    resumed = json.loads((killed / "metrics.json").read_text())
    meta = json.loads((killed / "metadata.json").read_text())
    assert meta["timing"]["epochs_this_process"] < 12, "the second process resumed, not restarted"
    for key in ("scatter_train", "scatter_validation", "scatter_test", "best_epoch"):
        assert resumed[key] == pytest.approx(reference[key], rel=1e-5), key


def test_the_same_config_gives_identical_numbers_and_other_threads_an_agreeing_interval(tiny_data):
    from clusterage.analysis.uncertainty import Bootstrap, ClusterDraws, model_scatters

    def test_rows(out):
        p = pd.read_csv(out / "predictions.csv")
        return p[p["split"] == "test"].sort_values("cluster_id").reset_index(drop=True)

    one = test_rows(run(tiny_data, "same-a", TINY))
    again = test_rows(run(tiny_data, "same-b", TINY))
    pd.testing.assert_frame_equal(one, again)  # same machine, same config: the same numbers
    two = test_rows(run(tiny_data, "two-threads", TINY, threads=2))
    assert (two["cluster_id"] == one["cluster_id"]).all()
    # Other threads may round differently; the paired interval of the difference says whether
    # that moves the scatter beyond what the test clusters allow.
    boot = Bootstrap(1000, 0.95, 0)
    test = ClusterDraws.drawn(one["cluster_id"], one["log_age_true"], boot)
    errors = np.abs(np.stack([one["log_age_pred"] - one["log_age_true"],
                              two["log_age_pred"] - two["log_age_true"]]))
    per_model = model_scatters(errors, test)
    lo, hi = boot.interval(per_model[1] - per_model[0])
    assert lo <= 0 <= hi


def test_a_leftover_checkpoint_of_another_model_is_not_resumed(tiny_data):
    # A run killed with one model, then started again after the config's model changed.
    killed = run(tiny_data, "changed", dict(TINY, epochs=12), wait_for_epoch=3)
    assert not (killed / "metrics.json").exists()
    wider = dict(TINY, conv_filters=[8, 8, 8], epochs=6)
    run(tiny_data, "changed", wider)
    meta = json.loads((killed / "metadata.json").read_text())
    assert meta["timing"]["epochs_this_process"] == 6, "trained from the start"
    fresh = json.loads((run(tiny_data, "fresh-wider", wider) / "metrics.json").read_text())
    again = json.loads((killed / "metrics.json").read_text())
    assert again["scatter_test"] == pytest.approx(fresh["scatter_test"], rel=1e-5)


def test_a_mask_in_parsecs_hides_the_same_physical_disc_in_near_and_far_galaxies():
    from clusterage.galaxies import pc_per_pixel
    from clusterage.grid import SplitSpec
    from clusterage.train.training import prepare_splits

    n, size = 60, 112
    rng = np.random.default_rng(2)
    images = (rng.random((n, size, size, 5)) + 1).astype(np.float32)
    far = np.arange(n) % 2 == 1
    clusters = pd.DataFrame({"galaxy": np.where(far, "ngc1365", "ngc5068"), "cluster_id": np.arange(n),
                             "log_age": rng.uniform(6, 10, n), "x": 0.0, "y": 0.0})
    setting = Setting("white_light", "full", "inner", 40, unit="pc")
    data = prepare_splits(images, clusters, setting, {}, Hyper(), SplitSpec(), seed=0)
    for name, x in data.x.items():
        hidden = (x[..., 0] == 0).sum(axis=(1, 2)) - 1        # minus the one darkest visible pixel
        distance = np.where(far[data.rows[name]], 19.57, 5.20)
        d_px = 40 / np.array([pc_per_pixel(d) for d in distance])
        # Pixel-counting a disc: the error is of the order of its perimeter, pi * D.
        assert np.all(np.abs(hidden - np.pi * d_px**2 / 4) <= np.pi * d_px / 2 + 1), name
    assert round(40 / pc_per_pixel(5.20)) == 40 and round(40 / pc_per_pixel(19.57)) == 11
