"""K seeds trained together by jax.vmap (EnsembleEpochRunner) equal K trainings one by one."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

SEEDS = (11, 12, 13)

# Fresh process: Keras picks its backend once, at import (the test session may run TensorFlow).
# 40 train images at batch 16: two full batches and a remainder batch of 8 per epoch.
TRAIN = """
import json, sys
import numpy as np
from clusterage.analysis.ensemble import EnsembleEpochRunner
from clusterage.train.fitloop import EpochRunner, epoch_order
from clusterage.train.model import build_cnn

out, seeds = sys.argv[1], json.loads(sys.argv[2])
rng = np.random.default_rng(0)
x = rng.random((52, 24, 24, 5), dtype=np.float32)
y = rng.random(52).astype(np.float32)
kw = dict(conv_filters=(4, 4, 4), dense_units=(8,), learning_rate=1e-2)
arrays, report = {}, {"single_loss": [], "single_val": []}
for k, seed in enumerate(seeds):
    model = build_cnn(x.shape[1:], seed=seed, **kw)
    arrays.update({f"init{k}_{j}": w for j, w in enumerate(model.get_weights())})
    runner = EpochRunner(model, x[:40], y[:40], x[40:], y[40:], batch_size=16)
    report["single_loss"].append([runner.train_epoch(epoch_order(seed, e, 40)) for e in (1, 2)])
    report["single_val"].append(runner.validation_loss())
    arrays.update({f"single{k}_{j}": w for j, w in enumerate(model.get_weights())})
    arrays.update({f"single_opt{k}_{j}": v.numpy() for j, v in enumerate(model.optimizer.variables)})
models = [build_cnn(x.shape[1:], seed=seed, **kw) for seed in seeds]
runner = EnsembleEpochRunner(models, x[:40], y[:40], x[40:], y[40:], batch_size=16)
losses = [runner.train_epoch([epoch_order(seed, e, 40) for seed in seeds]) for e in (1, 2)]
report["ensemble_loss"] = np.array(losses).T.tolist()
report["ensemble_val"] = runner.validation_loss().tolist()
for k, model in enumerate(models):
    arrays.update({f"ensemble{k}_{j}": w for j, w in enumerate(model.get_weights())})
    arrays.update({f"ensemble_opt{k}_{j}": v.numpy() for j, v in enumerate(model.optimizer.variables)})
report["n_weights"] = len(models[0].get_weights())
report["n_opt"] = len(models[0].optimizer.variables)
try:
    runner.train_epoch([epoch_order(seeds[0], 3, 40)])
except ValueError as err:
    report["wrong_orders_error"] = str(err)
np.savez(out, **arrays)
print(json.dumps(report))
"""

OTHER_BACKEND = """
import numpy as np
from clusterage.analysis.ensemble import EnsembleEpochRunner
from clusterage.train.model import build_cnn
x = np.zeros((4, 24, 24, 5), np.float32)
try:
    EnsembleEpochRunner([build_cnn(x.shape[1:], conv_filters=(4, 4, 4), dense_units=(8,))],
                        x, np.zeros(4), x, np.zeros(4), batch_size=2)
except RuntimeError as err:
    print(err)
"""


def run(code, backend, *args):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2", OMP_NUM_THREADS="1",
               JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="")
    # A guard against a hang, not a speed test: ~1 CPU-minute, several on a loaded 2-core machine.
    proc = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed: EnsembleEpochRunner is JAX-only "
                    "(pip install clusterage[jax]; ./test.sh installs it)")
    path = tmp_path_factory.mktemp("ensemble") / "weights.npz"
    report = json.loads(run(TRAIN, "jax", str(path), json.dumps(SEEDS)))
    with np.load(path) as f:
        return report, dict(f)


def test_models_trained_together_equal_models_trained_one_by_one(trained):
    report, w = trained
    for k in range(len(SEEDS)):
        for j in range(report["n_weights"]):
            np.testing.assert_allclose(w[f"ensemble{k}_{j}"], w[f"single{k}_{j}"], rtol=1e-5, atol=1e-6,
                                       err_msg=f"seed {SEEDS[k]}, weight {j}")
            assert not np.array_equal(w[f"ensemble{k}_{j}"], w[f"init{k}_{j}"]), "every weight trains"
        for j in range(report["n_opt"]):  # Adam's step count, moments and learning rate
            single = w[f"single_opt{k}_{j}"]  # moments ~1e-3 and ~1e-6: tolerance on each one's scale
            np.testing.assert_allclose(w[f"ensemble_opt{k}_{j}"], single, rtol=1e-5,
                                       atol=1e-5 * float(np.abs(single).max()),
                                       err_msg=f"seed {SEEDS[k]}, optimiser variable {j}")
    np.testing.assert_allclose(report["ensemble_loss"], report["single_loss"], rtol=1e-5)
    np.testing.assert_allclose(report["ensemble_val"], report["single_val"], rtol=1e-5)


def test_each_model_keeps_its_own_weights(trained):
    report, w = trained
    # Different seeds and batch orders: no two models of the ensemble end with the same weights.
    for a in range(len(SEEDS)):
        for b in range(a + 1, len(SEEDS)):
            assert not np.allclose(w[f"ensemble{a}_0"], w[f"ensemble{b}_0"], atol=1e-3)
    assert len(set(map(tuple, np.round(report["ensemble_loss"], 6)))) == len(SEEDS)


def test_one_batch_order_per_model_is_required(trained):
    report, _ = trained
    assert "one order per model" in report["wrong_orders_error"]


def test_other_backends_get_a_clear_error():
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("tensorflow is not installed (the non-JAX backend this test uses)")
    message = run(OTHER_BACKEND, "tensorflow")
    assert "needs the JAX backend" in message and "'tensorflow'" in message
