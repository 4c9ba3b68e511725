"""Warm start (config warm_start): a masked model fine-tuned from the finished unmasked model of
the same sample, channels, seed, split and dataset, and nothing else."""

import json
import shutil

import h5py
import numpy as np
import pytest
import yaml
from conftest import REPO, validated
from test_config import dry_run
from test_training import TINY, make_dataset

from clusterage import plan
from clusterage.grid import Hyper, Setting
from clusterage.train.training import train
from clusterage.train.warm_start import WarmStartError

UNMASKED, INNER = Setting("five_band", "full"), Setting("five_band", "full", "inner", 4)


def weights(path) -> np.ndarray:
    arrays = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: arrays.append(obj[()].ravel()) if isinstance(obj, h5py.Dataset) else None)
    return np.concatenate(arrays)


@pytest.fixture(scope="module")
def unmasked(tmp_path_factory):
    """A finished unmasked run (seed 3) of a tiny dataset."""
    tmp = tmp_path_factory.mktemp("warm")
    data = make_dataset(tmp / "d.h5")
    train(data, tmp / "unmasked", UNMASKED, seed=3, hyper=Hyper.from_config(TINY | {"epochs": 3}))
    return data, tmp / "unmasked"


def test_a_fine_tuning_starts_from_the_unmasked_weights_and_says_so(unmasked, tmp_path):
    data, source = unmasked
    # A learning rate too small to move the weights: what the run ends with is where it began.
    still = Hyper.from_config(TINY | {"epochs": 1, "learning_rate": 1e-12})
    train(data, tmp_path / "warm", INNER, seed=3, hyper=still, start_weights=source / "model.weights.h5")
    train(data, tmp_path / "scratch", INNER, seed=3, hyper=still)
    start = weights(source / "model.weights.h5")
    np.testing.assert_allclose(weights(tmp_path / "warm" / "model.weights.h5"), start, atol=1e-6)
    assert not np.allclose(weights(tmp_path / "scratch" / "model.weights.h5"), start, atol=1e-3)
    meta = json.loads((tmp_path / "warm" / "metadata.json").read_text())
    assert meta["started_from"]["setting"] == "full/five_band/none/true"
    assert meta["started_from"]["seed"] == 3 and len(meta["started_from"]["weights_sha256"]) == 64
    assert json.loads((tmp_path / "scratch" / "metadata.json").read_text())["started_from"] is None


@pytest.mark.parametrize("edit, says", [
    (lambda m: m | {"setting_name": "full/white_light/none/true"}, "its setting is 'full/white_light/none/true'"),
    (lambda m: m | {"seed": 4}, "its seed is 4, not 3"),
    (lambda m: m | {"split": m["split"] | {"seed": 7}}, "its split"),
    (lambda m: m | {"dataset": m["dataset"] | {"content_sha256": "0" * 64}}, "its dataset"),
])
def test_a_masked_run_started_from_another_model_is_refused(unmasked, tmp_path, edit, says):
    data, source = unmasked
    other = tmp_path / "other"
    shutil.copytree(source, other)
    meta = json.loads((other / "metadata.json").read_text())
    (other / "metadata.json").write_text(json.dumps(edit(meta)))
    with pytest.raises(WarmStartError, match="refused") as exc:
        train(data, tmp_path / "warm", INNER, seed=3, hyper=Hyper.from_config(TINY | {"epochs": 1}),
              start_weights=other / "model.weights.h5")
    assert says in str(exc.value)
    assert not (tmp_path / "warm" / "metrics.json").exists()


def test_an_unmasked_model_is_never_warm_started(unmasked, tmp_path):
    data, source = unmasked
    with pytest.raises(WarmStartError, match="trained from scratch"):
        train(data, tmp_path / "again", UNMASKED, seed=3, hyper=Hyper.from_config(TINY | {"epochs": 1}),
              start_weights=source / "model.weights.h5")


def _config(**warm):
    config = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    return validated(config | {"warm_start": {"enabled": True, **warm}})


def test_the_plan_fine_tunes_every_masked_true_label_model_for_a_fifth_of_its_epochs():
    jobs = plan.build(_config())
    inner = jobs["full/white_light/inner24/true"]
    assert inner.start_from == "full/white_light/none/true"
    assert (inner.hyper.epochs, inner.hyper.patience) == (40, 30)
    assert jobs["full/five_band/outer12/true"].start_from == "full/five_band/none/true"
    assert jobs["full/white_light/none/true"].start_from is None
    assert jobs["full/white_light/none/true"].hyper.epochs == 200
    assert jobs["full/white_light/inner24/shuffled"].start_from is None  # the control: from scratch
    grid = plan.Plan.of(_config(epochs=20, patience=5))
    assert (grid.jobs["full/white_light/inner24/true"].hyper.epochs,
            grid.jobs["full/white_light/inner24/true"].hyper.patience) == (20, 5)
    assert "full/white_light/none/true" in grid.kept  # its weights are what the others start from
    # Off (the default), nothing changes: the params of every job are what they were.
    paper = validated(yaml.safe_load((REPO / "config" / "paper.yaml").read_text()))
    assert all("start_from" not in plan.job_params(j) for j in plan.build(paper).values())


def test_a_warm_start_without_its_unmasked_model_or_with_cross_validation_is_a_config_error():
    config = validated(yaml.safe_load((REPO / "config" / "config.yaml").read_text())
                       | {"warm_start": {"enabled": True}})
    config["cases"] = [c for c in config["cases"] if c["mask"] != "none"]
    with pytest.raises(plan.ConfigError, match="starts? from full/white_light/none/true"):
        plan.build(config)
    config = _config()
    config["disputes"] = config["disputes"] | {"settings": ["full/white_light/inner24/true"], "folds": 5}
    with pytest.raises(plan.ConfigError, match="cross-validation"):
        plan.Plan.of(config)


def test_the_workflow_trains_the_unmasked_model_first_and_keeps_its_weights(tmp_path):
    out = dry_run(tmp_path, {"warm_start": {"enabled": True}})
    assert out.returncode == 0, out.stderr[-2000:]
    inputs = [line for line in out.stdout.splitlines() if line.strip().startswith("input:")
              and "white_light.h5" in line]
    # The demo's one masked true-label setting (white light, inner D = 24), 2 seeds: each lists
    # the kept weights of the unmasked model of its own seed; the shuffled control lists none.
    started = [line for line in inputs if "model.weights.h5" in line]
    assert sorted(line.split("train/full/white_light/none/true/")[1].split("/")[0]
                  for line in started) == ["seed0", "seed1"]
