"""The CNN trains on every installed Keras backend, in float32 and in mixed bfloat16."""

import functools

import pytest
from backends import BACKEND_MODULES, run_on_backend

# Runs in a fresh process: Keras picks its backend once, at import.
STEP = """
import json
import numpy as np
import keras
from clusterage.train.fitloop import EpochRunner, epoch_order
from clusterage.train.model import build_cnn

def steps(precision):
    keras.mixed_precision.set_dtype_policy(precision)
    rng = np.random.default_rng(0)
    x = rng.random((40, 24, 24, 5), dtype=np.float32)
    y = rng.random(40).astype(np.float32)
    model = build_cnn(x.shape[1:], conv_filters=(4, 4, 4), dense_units=(8,), learning_rate=1e-2, seed=1)
    before = [w.copy() for w in model.get_weights()]
    runner = EpochRunner(model, x[:32], y[:32], x[32:], y[32:], batch_size=16)
    losses = [runner.train_epoch(epoch_order(0, e, 32)) for e in (1, 2, 3)]
    after = model.get_weights()
    return {
        "backend": keras.backend.backend(),
        "losses": losses,
        "val_loss": runner.validation_loss(),
        "changed": sum(not np.array_equal(a, b) for a, b in zip(before, after)),
        "n_weights": len(after),
        "conv_compute": model.get_layer("conv1").compute_dtype,
        "conv_variable": model.get_layer("conv1").variable_dtype,
        "output_compute": model.get_layer("log_age").compute_dtype,
        "prediction": str(model.predict(x[:2], verbose=0).dtype),
    }

print(json.dumps({p: steps(p) for p in ("float32", "mixed_bfloat16")}))
"""


@functools.cache
def train_steps(backend):
    """Both precisions in one process per backend (a process start costs seconds)."""
    return run_on_backend(backend, STEP, timeout=240)


@pytest.mark.parametrize("backend", sorted(BACKEND_MODULES))
def test_each_installed_backend_trains_the_cnn(backend):
    out = train_steps(backend)["float32"]
    assert out["backend"] == backend
    assert out["changed"] == out["n_weights"], "every weight is updated by a training step"
    assert all(0 < loss < 10 for loss in out["losses"]) and 0 < out["val_loss"] < 10
    # lr 1e-2 on 32 images: three epochs of the same data bring the loss down.
    assert out["losses"][-1] < out["losses"][0]
    assert out["conv_compute"] == "float32" and out["prediction"] == "float32"


@pytest.mark.parametrize("backend", sorted(BACKEND_MODULES))
def test_mixed_bfloat16_computes_in_bfloat16_and_predicts_float32(backend):
    out = train_steps(backend)["mixed_bfloat16"]
    assert out["conv_compute"] == "bfloat16" and out["conv_variable"] == "float32"
    assert out["output_compute"] == "float32" and out["prediction"] == "float32"
    assert out["changed"] == out["n_weights"]
    assert all(0 < loss < 10 for loss in out["losses"])
