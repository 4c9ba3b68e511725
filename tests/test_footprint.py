"""The footprint a user sees before a sweep: trainings, disk, data read per job, GPU time."""

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO, validated
from test_training import make_dataset

from clusterage import cli, plan
from clusterage.cluster import footprint
from clusterage.survey import ingest

CLUSTERAGE = str(Path(sys.executable).with_name("clusterage"))
GB = 1e9


def paper_config(*extra):
    return cli.load_config(REPO, ["config/paper.yaml", "config/phangs.yaml", *extra])


def estimate(config, clusters):
    return footprint.estimate(plan.Plan.of(validated(config)), clusters,
                              config["attribution"]["cluster_maps"])


def packed_dataset(path: Path, configfiles: list[str], n=40) -> Path:
    """A dataset packed as the workflow's pack_dataset packs it from these config files."""
    part = make_dataset(path.parent / "cutouts" / "ngc628c.h5", n=n, size=32)
    report = part.with_suffix(".csv")
    pd.DataFrame([{**dict.fromkeys(ingest.REPORT_COLUMNS[1:], 0), "galaxy": "ngc628c",
                   "n_catalog": n, "n_kept": n}]).to_csv(report, index=False)
    ingest.pack([part], [report], path, path.with_name("ingest_report.csv"),
                config=cli.load_config(REPO, configfiles))
    return path


def plan_text(capsys, work: Path, *configfiles: str, dataset: Path | None = None) -> str:
    """What ``clusterage plan`` prints, run in the workflow folder ``work``."""
    args = ["plan", "--directory", str(work), "--configfile", *configfiles]
    assert cli.main(args + (["--dataset", str(dataset)] if dataset else [])) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("shape, conv, dense", [
    ((112, 112, 5), (128, 256, 512), (512, 256, 128)),   # the paper's CNN: 39.4 M parameters
    ((112, 112, 1), (32, 64, 128), (128, 64, 32)),       # the demo's, white light
    ((32, 32, 5), (4, 4, 4), (8,)),
])
def test_parameters_and_flops_are_those_of_the_built_model(shape, conv, dense):
    from clusterage.train.model import build_cnn, forward_flops

    model = build_cnn(shape, conv_filters=conv, dense_units=dense)
    assert footprint.parameter_count(shape, conv, dense) == model.count_params()
    assert footprint.forward_flops(shape, conv, dense) == forward_flops(model)


def test_a_kept_weights_file_is_the_size_the_plan_says(tmp_path):
    from clusterage.train.model import build_cnn, save_weights_only

    model = build_cnn((112, 112, 5), conv_filters=(32, 64, 128), dense_units=(128, 64, 32))
    model.optimizer.build(model.trainable_variables)  # as after training: Adam's moments exist
    save_weights_only(model, tmp_path / "m.weights.h5")
    size = (tmp_path / "m.weights.h5").stat().st_size
    assert size == pytest.approx(footprint.weights_file_bytes(model.count_params()), rel=0.01)


def test_the_paper_grid_on_the_real_survey_fits_well_under_100_gb_by_default():
    config = paper_config()
    fp = estimate(config, footprint.clusters_from_config(config))
    assert fp.trainings == 1625 and len(fp.clusters.log_age) == 8651
    # Kept by default: only the runs the attribution step explains (unmasked five_band and
    # white_light of both samples, 5 seeds each), 158 MB of weights each.
    five_band = footprint.weights_file_bytes(
        footprint.parameter_count((112, 112, 5), **footprint.PAPER_CNN))
    assert fp.kept_runs == 20
    assert fp.kept_model_bytes == pytest.approx(20 * five_band, rel=1e-3)
    assert fp.kept_model_bytes == pytest.approx(3.15 * GB, rel=0.01)
    # ... and their attribution maps: the test clusters of both samples (15% of 8651 and of the
    # no_extremes sample), 2 methods, 112 x 112 x 5 (five_band) or x 1 in float16: ~3 GB.
    assert fp.explained_runs == 20
    assert 2.8 * GB < fp.attribution_bytes < 3.1 * GB
    assert fp.total_bytes < 10 * GB
    assert "attribution maps and profiles of the 20 explained runs: at most 3.04 GB" in \
        footprint.report(fp, 50)
    config["attribution"] = {"seeds": 1}
    one_seed = estimate(config, fp.clusters)
    assert one_seed.kept_runs == one_seed.explained_runs == 4
    assert one_seed.attribution_bytes == pytest.approx(fp.attribution_bytes / 5)
    assert one_seed.kept_model_bytes == pytest.approx(4 * five_band, rel=1e-3)
    config["attribution"] = {"settings": []}
    assert estimate(config, fp.clusters).kept_runs == 0
    # Every run keeping model.keras with Adam: ~770 GB; its weights only: ~256 GB.
    assert 760 * GB < fp.full_save_bytes < 780 * GB
    assert 250 * GB < fp.all_weights_bytes < 260 * GB
    # A five_band job reads its sample's five filters; a white_light job one channel.
    reads = {(ch, sample): nbytes for ch, sample, _, nbytes, _ in fp.reads}
    assert reads[("five_band", "full")] == 8651 * 112 * 112 * 5 * 4
    assert reads[("white_light", "full")] == reads[("five_band", "full")] / 5
    assert reads[("white_light", "no_extremes")] < reads[("white_light", "full")]
    # GPU time, every run to 200 epochs: at most the measured 617 GPU-s (float32) per training.
    assert 100 * 3600 < fp.gpu_seconds < 1625 * 617


def test_keep_models_per_case_overrides_the_default_and_shared_settings_are_kept_once():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["cases"] = [
        {"name": "inner", "channels": "white_light", "sample": "full", "mask": "inner",
         "diameters": [0, 12], "keep_models": "weights"},
        {"name": "outer", "channels": "white_light", "sample": "full", "mask": "outer",
         "diameters": [0, 12]},
    ]
    assert plan.kept_settings(validated(config)) == ["full/white_light/inner12/true", "full/white_light/none/true"]
    config["keep_models"] = "weights"
    assert len(plan.kept_settings(validated(config))) == len(plan.build(validated(config))) == 3
    config["cases"][0]["keep_models"] = "none"
    assert plan.kept_settings(validated(config)) == ["full/white_light/none/true", "full/white_light/outer12/true"]


def test_plan_counts_the_clusters_of_an_existing_dataset(tmp_path):
    data = make_dataset(tmp_path / "cutouts.h5", n=60, size=112)
    config = paper_config()
    fp = estimate(config, footprint.clusters_from_dataset(data))
    assert fp.clusters.exact and len(fp.clusters.log_age) == 60
    assert fp.dataset_bytes == pytest.approx(data.stat().st_size, rel=0.01)


def test_the_demo_dataset_does_not_size_the_real_survey_and_the_plan_says_why(tmp_path, capsys):
    from runs import copy_workflow

    work = copy_workflow(tmp_path / "wf")
    demo = packed_dataset(work / "results" / "dataset" / "cutouts.h5", [])
    # The real survey has its own results folder: the demo's dataset there is not its dataset.
    text = plan_text(capsys, work, "config/paper.yaml", "config/phangs.yaml")
    assert "clusters: 8651 (estimated: the paper's labels of the 15 galaxies, real survey" in text
    assert "results/dataset" not in text
    # Where the real survey's dataset would be, or named with --dataset, it is not used either.
    real = work / "results" / "phangs" / "dataset" / "cutouts.h5"
    real.parent.mkdir(parents=True)
    shutil.copy(demo, real)
    for dataset in (None, demo):
        text = plan_text(capsys, work, "config/paper.yaml", "config/phangs.yaml", dataset=dataset)
        assert "clusters: 8651 (estimated" in text
        assert (f"  {dataset or real} was built from data.source synthetic, not phangs: not used\n"
                in text)
    # Nor for another synthetic survey, nor when the file does not record what it was built from.
    seed = tmp_path / "seed2.yaml"
    seed.write_text("synthetic: {seed: 2}\n")
    text = plan_text(capsys, work, str(seed))
    assert f"  {demo} was built from synthetic.seed 1, not 2: not used\n" in text
    assert "clusters: 1706 (estimated: the paper's labels of the 3 galaxies, synthetic survey" in text
    old = make_dataset(tmp_path / "old.h5", n=40, size=32)
    text = plan_text(capsys, work, "config/paper.yaml", dataset=old)
    assert (f"  {old} does not record the config it was built from (written by an older "
            "clusterage): not used\n") in text
    assert "clusters: 1706 (estimated" in text


@pytest.mark.parametrize("built_with, planned", [
    ([], ["config/paper.yaml"]),                                                # the demo
    (["config/phangs.yaml"], ["config/paper.yaml", "config/phangs.yaml"]),     # the real survey
])
def test_the_dataset_of_the_same_survey_is_counted(tmp_path, capsys, built_with, planned):
    from runs import copy_workflow

    work = copy_workflow(tmp_path / "wf")
    config = cli.load_config(work, planned)
    data = packed_dataset(work / config["results"] / "dataset" / "cutouts.h5", built_with)
    text = plan_text(capsys, work, *planned)
    assert f"clusters: 40 (in {data})\n\n" in text
    assert "not used" not in text


def test_each_data_source_writes_under_its_own_results_folder():
    demo = cli.load_config(REPO, [])
    real = paper_config()
    assert demo["data"]["source"] == "synthetic" and real["data"]["source"] == "phangs"
    assert Path(real["results"]) != Path(demo["results"])
    assert not Path(demo["results"]).is_relative_to(real["results"])
    # The paper's grid on the synthetic survey stays with the demo's survey.
    assert cli.load_config(REPO, ["config/paper.yaml"])["results"] == demo["results"]


def test_the_clusterage_command_prints_the_plan_and_inspects_a_dataset(tmp_path):
    from runs import copy_workflow

    work = copy_workflow(tmp_path / "wf")  # no results/ here: the counts are the paper's
    out = subprocess.run([CLUSTERAGE, "plan", "--configfile", "config/paper.yaml", "config/phangs.yaml"],
                         cwd=work, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "trainings: 1625 (325 settings x 5 seeds)" in text
    assert "clusters: 8651" in text
    assert "0 of 1625 runs keep their weights" in text
    assert "GPU-hours" in text and "white_light.h5" in text
    # Both ways: every model from scratch, and the masked ones fine-tuned for a fifth of the
    # epochs (the unmasked models and the shuffled control still in full).
    assert "every model from scratch (the paper's way): 325,000 training epochs" in text
    assert "masked models fine-tuned from the unmasked: 69,000 training epochs" in text
    # With the Slurm profile, its config (JAX, mixed_bfloat16) sets the GPU time and its jobs the
    # number of trainings at once.
    out = subprocess.run([CLUSTERAGE, "plan", "--profile", str(REPO / "profiles" / "slurm"), "--configfile",
                          "config/paper.yaml", "config/phangs.yaml"],
                         cwd=work, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "GPU-hours on an NVIDIA H100, JAX (mixed_bfloat16)" in out.stdout
    assert "sbatch calls for the trainings: 1625, one per training" in out.stdout
    out = subprocess.run([CLUSTERAGE, "plan", "--profile", str(REPO / "profiles" / "slurm-packed"),
                          "--configfile", "config/paper.yaml", "config/phangs.yaml"],
                         cwd=work, capture_output=True, text=True, timeout=120)
    assert "sbatch calls for the trainings: 542, 3 trainings per job" in out.stdout, out.stdout
    assert "float32" not in out.stdout.split("GPU time")[1]
    data = make_dataset(tmp_path / "d.h5", n=30, size=32)
    out = subprocess.run([CLUSTERAGE, "inspect", str(data)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "30 x 32 x 32 x 5 float32" in out.stdout and "ngc628c" in out.stdout


@pytest.mark.parametrize("args, needle", [
    (["plan", "--dataset", "nowhere.h5"], "nowhere.h5 not found"),
    (["plan", "--configfile", "nowhere.yaml"], "nowhere.yaml not found"),
    (["inspect", "nowhere.h5"], "nowhere.h5 not found"),
    (["plan", "--profile", "profiles/nowhere"], "profiles/nowhere/config.yaml not found"),
])
def test_the_command_names_what_is_wrong(args, needle):
    out = subprocess.run([CLUSTERAGE, *args], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and needle in out.stderr


def test_a_bad_config_stops_the_plan_naming_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("keep_models: everything\n")
    out = subprocess.run([CLUSTERAGE, "plan", "--configfile", str(bad)], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "keep_models" in out.stderr


NEW_TOOLS = {"calibration": "calibration", "known-answer": "known_answer", "leakage": "leakage",
             "planted": "planted", "sweep-methods": "sweep_methods"}


def test_the_clusterage_command_lists_every_subcommand_with_a_line_and_imports_none_at_start():
    out = subprocess.run([CLUSTERAGE, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    listed = out.stdout.split("positional arguments:")[1]
    for name in ["plan", "inspect", "findings", *NEW_TOOLS]:
        assert f"\n    {name} " in listed, name  # the name, then its one-line description
    assert set(cli.TOOLS) == {"findings", *NEW_TOOLS}
    # The tools' modules (and keras, TensorFlow, matplotlib) are imported only by their subcommand.
    probe = ("import sys\nfrom clusterage import cli\ntry:\n    cli.main(['--help'])\n"
             "except SystemExit:\n    pass\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] in "
             "('keras', 'tensorflow', 'jax', 'torch', 'matplotlib')"
             " or m in {'clusterage.' + module for module, _ in cli.TOOLS.values()}))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.splitlines()[-1] == "[]", out.stdout + out.stderr


@pytest.mark.parametrize("name", ["findings", *NEW_TOOLS])
def test_each_tool_subcommand_shows_its_modules_usage(name, capsys):
    import importlib

    module = importlib.import_module(f"clusterage.{cli.TOOLS[name][0]}")
    with pytest.raises(SystemExit) as exc:
        module.main(["--help"])  # as python -m clusterage.<module> --help
    assert exc.value.code == 0
    usage = capsys.readouterr().out
    assert usage.startswith(f"usage: clusterage {name} ")
    with pytest.raises(SystemExit) as exc:
        cli.main([name, "--help"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == usage


def test_clusterage_calibration_scores_a_results_folder(tmp_path):
    from test_calibration import survey

    from clusterage.checks import calibration

    paper = dict(zip(calibration.targets()["setting"], calibration.targets()["paper_scatter"]))
    results = survey(tmp_path / "like", paper)
    fast = tmp_path / "fast.yaml"
    fast.write_text("uncertainty: {resamples: 200}\n")
    out = subprocess.run([CLUSTERAGE, "calibration", str(results), "--out", str(tmp_path / "cal"),
                          "--configfile", str(fast)],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    table = pd.read_csv(tmp_path / "cal.csv")
    assert len(table) == 14 and set(table["survey"]) == {"like"}
    assert set(table.loc[table["check"] == "level", "verdict"]) == {"met"}
    # exit 0 only where every check is met or holds (the paper's 0.05 dex step can be undecided
    # at this survey's size)
    calibrated = set(table["verdict"]) <= {"met", "holds"}
    assert out.returncode == (0 if calibrated else 1), out.stdout + out.stderr
    assert (tmp_path / "cal.png").exists() and "shuffled labels (Case 7)" in out.stdout


@pytest.mark.parametrize("args, needle", [
    (["findings", "{tmp}/nowhere"], "nowhere/tables/differences.csv"),
    (["leakage", "{tmp}/nowhere", "--out", "{tmp}/out"], "no finished run under"),
    (["known-answer", "{tmp}/nowhere", "--out", "{tmp}/out"], "nowhere/partial/tables/scatter.csv"),
    (["planted", "{tmp}/nowhere"], "nowhere/disputes/full/five_band/none/true/ensemble.csv"),
])
def test_a_tool_names_the_missing_results_folder(tmp_path, args, needle):
    out = subprocess.run([CLUSTERAGE, *[a.format(tmp=tmp_path) for a in args]], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert out.stderr.startswith(f"clusterage {args[0]}: ") and needle in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and not list(tmp_path.iterdir())
