"""Warm start (config warm_start): a masked model fine-tuned from the finished unmasked model of
the same sample, channels, seed, split and dataset, and nothing else."""

import json
import shlex
import shutil
import subprocess

import h5py
import numpy as np
import pytest
import yaml
from conftest import REPO, validated
from runs import SNAKEMAKE, copy_workflow, job_blocks
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


def _sweep_results(root, scatters: dict, epochs: int, cpu: float, occlusion: dict | None = None):
    """A results folder as the workflow writes it, for the sweep comparison: the test scatters
    of a white-light inner sweep (D -> (mean, low, high)), and per masked run its history
    (``epochs`` rows) and benchmark (``cpu`` seconds); with ``occlusion``, the unmasked model's
    test-time occlusion curve and its attribution job's benchmark."""
    import pandas as pd

    rows = [{"case": "wl_inner", "channels": "white_light", "sample": "full", "mask": "inner",
             "diameter": d, "diameter_unit": "px", "shuffled_labels": False, "split": split,
             "scatter_mean": m, "scatter_ci_low": lo, "scatter_ci_high": hi, "n_seeds": 2}
            for d, (m, lo, hi) in scatters.items() for split in ("train", "test")]
    rows.append({**rows[-1], "case": "null_predictor", "mask": "none", "diameter": 0})
    (root / "tables").mkdir(parents=True)
    pd.DataFrame(rows).to_csv(root / "tables" / "scatter.csv", index=False)
    for d in scatters:
        occlusion_part = f"inner{d}" if d else "none"
        for seed in (0, 1):
            run = root / "train" / "full" / "white_light" / occlusion_part / "true" / f"seed{seed}"
            run.mkdir(parents=True)
            pd.DataFrame({"epoch": range(1, (epochs if d else 10) + 1)}).to_csv(
                run / "history.csv", index=False)
            bench = root / "benchmarks" / "train" / "full" / "white_light" / occlusion_part / "true"
            bench.mkdir(parents=True, exist_ok=True)
            (bench / f"seed{seed}.tsv").write_text(f"s\tcpu_time\n1.0\t{cpu if d else 100.0}\n")
    if occlusion is not None:
        pd.DataFrame([{"setting": "full/white_light/none/true", "sample": "full",
                       "channels": "white_light", "occlusion": "none", "labels": "true",
                       "mask": "inner", "diameter": d, "scatter_mean": m, "scatter_ci_low": lo,
                       "scatter_ci_high": hi, "n_seeds": 2}
                      for d, (m, lo, hi) in occlusion.items()]).to_csv(
            root / "tables" / "test_time_occlusion.csv", index=False)
        bench = root / "benchmarks" / "attribution" / "full" / "white_light" / "none" / "true"
        bench.mkdir(parents=True)
        (bench / "seed0.tsv").write_text("s\tcpu_time\n1.0\t7.0\n")
    return root


def test_the_sweep_comparison_measures_each_method_against_the_retrained_curve(tmp_path):
    from clusterage.checks import sweep_methods

    scratch = _sweep_results(tmp_path / "scratch",
                             {0: (0.8, 0.7, 0.9), 4: (0.9, 0.8, 1.0), 8: (1.0, 0.9, 1.1)},
                             epochs=10, cpu=50.0,
                             occlusion={0: (0.8, 0.7, 0.9), 4: (1.3, 1.1, 1.5), 8: (1.5, 1.3, 1.7)})
    warm = _sweep_results(tmp_path / "warm",
                          {0: (0.8, 0.7, 0.9), 4: (0.95, 0.85, 1.05), 8: (1.2, 1.1, 1.3)},
                          epochs=2, cpu=10.0)
    out = tmp_path / "cmp"
    sweep_methods.main([str(scratch), str(warm), "--out", str(out)])
    import pandas as pd

    pts = pd.read_csv(f"{out}.csv")
    assert list(pts.columns) == sweep_methods.POINT_COLUMNS
    warm_pts = pts[pts["method"] == "warm_start"].set_index("diameter")
    assert warm_pts.loc[4, "difference"] == pytest.approx(0.05)
    assert not warm_pts.loc[4, "outside_retrained_interval"]        # 0.95 within [0.8, 1.0]
    assert warm_pts.loc[8, "outside_retrained_interval"]            # 1.2 above [0.9, 1.1]
    summary = pd.read_csv(f"{out}-summary.csv", dtype={"diameters_outside": str}).set_index("method")
    assert list(summary.reset_index().columns) == sweep_methods.SUMMARY_COLUMNS
    assert summary.loc["warm_start", "max_abs_difference"] == pytest.approx(0.2)
    assert summary.loc["warm_start", "mean_abs_difference"] == pytest.approx(0.125)
    assert str(summary.loc["warm_start", "diameters_outside"]) == "8"
    # the masked points' cost: 2 diameters x 2 seeds; the unmasked models are not counted
    assert summary.loc["retrained", "training_epochs"] == 40
    assert summary.loc["warm_start", "training_epochs"] == 8
    assert summary.loc["warm_start", "epochs_vs_retrained"] == pytest.approx(0.2)
    assert summary.loc["warm_start", "cpu_vs_retrained"] == pytest.approx(40 / 200)
    assert summary.loc["test_time_occlusion", "training_epochs"] == 0
    assert summary.loc["test_time_occlusion", "cpu_seconds"] == pytest.approx(7.0)
    assert summary.loc["test_time_occlusion", "n_outside"] == 2
    for suffix in (".png", ".pdf"):
        assert (tmp_path / f"cmp{suffix}").stat().st_size > 1000


def test_the_sweep_comparison_names_a_results_folder_without_its_tables(tmp_path):
    from clusterage.checks import sweep_methods

    with pytest.raises(FileNotFoundError, match="scatter.csv is missing"):
        sweep_methods.main([str(tmp_path / "nothing"), str(tmp_path / "nothing")])


def header_commands(path) -> list[str]:
    """The shell commands written in a config file's header comment (continuation lines joined)."""
    header = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        header.append(line[1:].strip())
    text = "\n".join(header).replace("\\\n", " ")
    return [line for line in text.splitlines()
            if line.split(" ", 1)[0] in ("printf", "snakemake", "clusterage")]


def test_the_comparisons_commands_plan_both_runs_of_the_sweep(tmp_path):
    """The commands in config/warm_start_comparison.yaml's header, as a user copies them, dry run
    in a copy of the workflow: 126 trainings each, and in the warm-started run every masked
    true-label training starts from the kept unmasked model of its seed."""
    work = copy_workflow(tmp_path / "wf")
    commands = header_commands(work / "config" / "warm_start_comparison.yaml")
    runs = [c for c in commands if c.startswith("snakemake")]
    assert len(runs) == 2 and any(c.startswith("clusterage sweep-methods") for c in commands)
    for command in commands:
        if command.startswith("printf"):
            subprocess.run(command, shell=True, cwd=work, check=True)
    for command, warm in zip(runs, (False, True), strict=True):
        out = subprocess.run([SNAKEMAKE, *shlex.split(command)[1:], "-n"], cwd=work,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, f"{command}\n{out.stderr[-2000:]}"
        trains = [block for rule, block in job_blocks(out.stdout) if rule == "train"]
        assert len(trains) == 126, command
        started = [b for b in trains if "model.weights.h5" in b.split("output:")[0]]
        assert len(started) == (120 if warm else 0), command
