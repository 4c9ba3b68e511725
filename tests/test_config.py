"""Config validation: a wrong key or value stops the run before any job, naming the key."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO, validated

from clusterage import galaxies, grid, plan
from clusterage.analysis import explain

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def dry_run(tmp_path, config: dict, *extra):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(config))
    return subprocess.run([SNAKEMAKE, "-n", "--directory", str(REPO), "--snakefile",
                           str(REPO / "Snakefile"), "--configfile", str(cfg), *extra],
                          capture_output=True, text=True, timeout=120)


def test_default_config_plans_the_demo(tmp_path):
    # In a copy of the workflow: results already present in the checkout must not change the plan.
    from runs import copy_workflow

    work = copy_workflow(tmp_path / "wf")
    out = subprocess.run([SNAKEMAKE, "-n"], cwd=work, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "train" in out.stdout and "synthetic_galaxy" in out.stdout


@pytest.mark.parametrize("config, needle", [
    ({"trainig": {"epochs": 3}}, "trainig"),
    ({"training": {"epochs": 0}}, "epochs"),
    ({"synthetic": {"env_strength": -0.5}}, "env_strength"),
    ({"synthetic": {"env_memory_floor": 1.5}}, "env_memory_floor"),
    ({"synthetic": {"scale": -1}}, "scale"),
    ({"data": {"galaxies": ["ngc9999"]}}, "ngc9999"),
    ({"cases": [{"name": "x", "channels": "rgb", "sample": "full", "mask": "none"}]}, "rgb"),
    ({"cases": [{"name": "x", "channels": "five_band", "sample": "young", "mask": "none"}]}, "young"),
    ({"cases": [{"name": "big", "channels": "five_band", "sample": "full", "mask": "inner",
                 "diameters": [200]}]}, "diameter 200"),
    ({"seeds": 0}, "seeds"),
    ({"keep_models": "all"}, "keep_models"),
    ({"attribution": {"settings": ["full/white_light/outer8/true"]}}, "'full/white_light/outer8/true'"),
    ({"attribution": {"settings": ["full/rgb/none/true"]}}, "full/rgb/none/true"),
    ({"attribution": {"ig_steps": 0}}, "ig_steps"),
    ({"seeds": 2, "attribution": {"seeds": 3}}, "attribution.seeds is 3"),
])
def test_bad_config_stops_before_any_job_and_names_the_key(tmp_path, config, needle):
    out = dry_run(tmp_path, config)
    assert out.returncode != 0
    message = out.stdout + out.stderr
    assert needle in message, message[-2000:]
    assert "Job stats" not in message


def test_attribution_explains_the_first_seeds_and_keeps_only_their_weights(tmp_path):
    from runs import copy_workflow

    work = copy_workflow(tmp_path / "wf")
    (work / "one.yaml").write_text(yaml.safe_dump({"seeds": 3, "attribution": {"seeds": 1}}))
    out = subprocess.run([SNAKEMAKE, "-n", "--configfile", "config/config.yaml", "one.yaml"],
                         cwd=work, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    explained = set(re.findall(r"attribution/full/(\w+)/none/true/seed(\d)/maps.h5", out.stdout))
    assert explained == {("five_band", "0"), ("white_light", "0")}
    kept = set(re.findall(r"train/full/(\w+)/none/true/seed(\d)/model.weights.h5", out.stdout))
    assert kept == explained


def test_unmasked_model_is_shared_by_every_sweep():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["cases"] = [
        {"name": "inner", "channels": "white_light", "sample": "full", "mask": "inner", "diameters": [0, 12]},
        {"name": "outer", "channels": "white_light", "sample": "full", "mask": "outer", "diameters": [0, 12]},
        {"name": "plain", "channels": "white_light", "sample": "full", "mask": "none"},
    ]
    jobs = plan.build(validated(config))
    assert sorted(jobs) == ["full/white_light/inner12/true", "full/white_light/none/true",
                            "full/white_light/outer12/true"]


def test_a_shared_setting_with_conflicting_training_is_refused():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["cases"] = [
        {"name": "a", "channels": "five_band", "sample": "full", "mask": "none"},
        {"name": "b", "channels": "five_band", "sample": "full", "mask": "none",
         "training": {"epochs": 3}},
    ]
    with pytest.raises(plan.ConfigError, match="'a' and 'b' share the setting"):
        plan.build(validated(config))


def test_every_run_of_the_paper_grid_matches_the_train_rules_pattern():
    """The run folders the plan names and the train rule's wildcard pattern are one layout:
    each run path parses back into its own setting and seed under the wildcard constraints."""
    import re

    config = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    constraints = grid.wildcard_constraints()
    pattern = grid.run_dir("res", *grid.RUN_WILDCARDS)
    regex = re.sub(r"\\\{(\w+)\\\}", lambda m: f"(?P<{m.group(1)}>{constraints[m.group(1)]})",
                   re.escape(pattern))
    jobs = plan.build(validated(config))
    assert len(jobs) == 325
    for name, job in jobs.items():
        for seed in (0, 4):
            for fold in ("", grid.fold_part(2, 5)):   # the fixed split; a cross-validation model
                m = re.fullmatch(regex, grid.run_dir("res", name, seed, fold))
                assert m, (name, seed, fold)
                parts = m.groupdict()
                assert int(parts.pop("seed")) == seed
                assert grid.parse_fold(parts.pop("fold")) == ((2, 5) if fold else None)
                assert grid.setting_name(**parts) == name == job.setting.name


def test_runs_keep_their_weights_only_where_the_config_asks(tmp_path):
    from runs import copy_workflow

    work = copy_workflow(tmp_path / "wf")
    config = {"cases": [
        {"name": "kept", "channels": "five_band", "sample": "full", "mask": "none",
         "keep_models": "weights"},
        {"name": "not_kept", "channels": "white_light", "sample": "full", "mask": "inner",
         "diameters": [24]},
    ]}
    (work / "cfg.yaml").write_text(yaml.safe_dump(config))
    out = subprocess.run([SNAKEMAKE, "-n", "--configfile", "cfg.yaml"], cwd=work,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    counts = dict(line.split() for line in out.stdout.splitlines()
                  if re.fullmatch(r"\w+\s+\d+", line.strip()))
    assert counts["train"] == "4" and counts["keep_model"] == "2"  # 2 seeds of the kept setting
    assert counts["white_light_view"] == "1"
    kept = re.findall(r"output: (\S+/model\.weights\.h5)", out.stdout)
    assert sorted(kept) == [f"results/train/full/five_band/none/true/seed{k}/model.weights.h5"
                            for k in (0, 1)]


def _pc_config(**case):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["data"] = {"galaxies": ["ngc5068", "ngc1365"]}
    config["cases"] = [{"name": "pc", "channels": "white_light", "sample": "full", "mask": "inner",
                        **case}]
    return config


def test_masks_in_parsecs_have_their_own_run_folders_and_share_the_unmasked_model():
    jobs = plan.build(validated(_pc_config(diameters_pc=[0, 24, 90])))
    assert sorted(jobs) == ["full/white_light/inner24pc/true", "full/white_light/inner90pc/true",
                            "full/white_light/none/true"]
    assert jobs["full/white_light/inner24pc/true"].setting.unit == "pc"
    assert grid.run_dir("r", "full/white_light/inner24pc/true", 0) == "r/train/full/white_light/inner24pc/true/seed0"
    assert re.fullmatch(grid.wildcard_constraints()["occlusion"], "inner24pc")
    # 24 pc is 24.0 pixels in NGC 5068 (5.20 Mpc) and 6.4 in NGC 1365 (19.57 Mpc).
    np.testing.assert_allclose(galaxies.diameter_pixels(24, ["ngc5068", "ngc1365", "ngc5068"]),
                               [24.03, 6.385, 24.03], atol=0.01)


def test_masks_in_parsecs_are_refused_with_both_keys_without_a_distance_or_too_wide(monkeypatch):
    with pytest.raises(plan.ConfigError, match="case 'pc'.*not both"):
        plan.build(validated(_pc_config(diameters=[12], diameters_pc=[24])))
    with pytest.raises(plan.ConfigError, match="case 'pc'.*113 pixels in ngc5068"):
        plan.build(validated(_pc_config(diameters_pc=[113])))
    nowhere = galaxies.TABLE1["ngc1365"].__class__(**{**vars(galaxies.TABLE1["ngc1365"]),
                                                      "distance_mpc": None})
    monkeypatch.setitem(galaxies.TABLE1, "ngc1365", nowhere)
    with pytest.raises(plan.ConfigError, match="case 'pc'.*'ngc1365' has no distance"):
        plan.build(validated(_pc_config(diameters_pc=[24])))


def _schema_defaults(block: str) -> dict:
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    return {k: v["default"] for k, v in schema["properties"][block]["properties"].items() if "default" in v}


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


@pytest.mark.parametrize("block, cls", [("training", grid.Hyper), ("split", grid.SplitSpec),
                                        ("attribution", explain.Options)])
def test_every_default_written_in_python_is_the_schemas(block, cls):
    """The schema is the one source of a default: the dataclasses that read a block agree with it
    key by key, and refuse a key the schema does not have."""
    import dataclasses

    defaults = _schema_defaults(block)
    fields = {f.name: f.default for f in dataclasses.fields(cls)}
    assert {k: _plain(v) for k, v in fields.items()} == {k: _plain(defaults[k]) for k in fields}
    with pytest.raises(ValueError, match="unknown"):
        cls.from_config({"no_such_key": 1})


def test_the_cnn_builders_defaults_are_the_schemas():
    import inspect

    from clusterage.train.model import build_cnn

    defaults = _schema_defaults("training")
    keywords = inspect.signature(build_cnn).parameters
    for key in ("conv_filters", "dense_units", "learning_rate"):
        assert _plain(keywords[key].default) == defaults[key], key


def test_explaining_on_a_backend_without_gradients_stops_before_any_job(tmp_path):
    """Attribution takes gradients on TensorFlow or JAX only: with torch the run stops at once
    and says how to go on, instead of training every model and failing at the attributions."""
    out = dry_run(tmp_path, {"keras_backend": "torch"})
    assert out.returncode != 0
    said = out.stdout + out.stderr
    assert "attribution.settings explains 2 setting(s)" in said and "'torch'" in said
    assert "set attribution.settings: [] to train without explaining" in said
    out = dry_run(tmp_path, {"keras_backend": "torch", "attribution": {"settings": []}})
    assert out.returncode == 0, out.stderr[-2000:]
