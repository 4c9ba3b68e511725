"""One grammar for a setting's name: Setting.name writes it, Setting.from_name reads it back, and
the wildcard constraints and the config schema's patterns accept the same names. One plan decides
which settings each step after the training uses."""

import itertools
import re

import pytest
import yaml
from conftest import REPO, validated
from snakemake.exceptions import WorkflowError

from clusterage import grid, plan
from clusterage.grid import Setting
from clusterage.report import figures

OCCLUSIONS = [("none", 0, "px"), ("inner", 24, "px"), ("outer", 12, "px"), ("inner", 24, "pc"),
              ("outer", 90, "pc"), ("inner", 2, "px")]
SETTINGS = [Setting(channels, sample, mask, diameter, shuffled, unit)
            for channels, sample, (mask, diameter, unit), shuffled in itertools.product(
                grid.CHANNELS, ("full", "no_extremes"), OCCLUSIONS, (False, True))]
BAD_NAMES = [
    "full/white_light/inner24",               # three parts
    "full/white_light/inner24/true/seed0",    # five
    "full/rgb/none/true",                     # unknown channels
    "full/white_light/middle24/true",         # unknown mask
    "full/white_light/inner/true",            # no diameter
    "full/white_light/inner0/true",           # D = 0 is 'none'
    "full/white_light/inner024/true",         # a leading zero
    "full/white_light/inner24px/true",        # pixels have no suffix
    "full/white_light/none/True",             # labels are lower case
    "no-extremes/five_band/none/true",        # a sample is letters, digits, underscores
    "/five_band/none/true",
    "",
]
BARS = [f"{channels}/{occlusion}{labels}" for channels, occlusion, labels in itertools.product(
    grid.CHANNELS, ("none", "inner24", "outer12", "inner24pc", "outer90pc"), ("", "/shuffled"))]
BAD_BARS = ["white_light", "rgb/none", "white_light/inner24/true", "white_light/inner0",
            "white_light/inner24pcx", "white_light/none/shuffled/x", "full/white_light/none"]


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_a_name_reads_back_into_its_setting(setting):
    assert Setting.from_name(setting.name) == setting
    assert grid.setting_name(**grid.setting_parts(setting.name)) == setting.name


def test_every_setting_of_the_paper_grid_reads_back_from_its_name():
    config = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    for name, job in plan.build(validated(config)).items():
        s = Setting.from_name(name)
        assert s.name == name
        # The unmasked model of a sweep is planned with the sweep's mask and D = 0: the same model.
        assert s == (job.setting if job.setting.diameter else Setting(
            job.setting.channels, job.setting.sample, shuffled_labels=job.setting.shuffled_labels))


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_bad_name_is_refused_naming_it_and_the_form(name):
    with pytest.raises(ValueError, match=re.escape(repr(name))) as err:
        Setting.from_name(name)
    assert "sample/channels/occlusion/labels" in str(err.value)
    constraints = grid.wildcard_constraints()
    parts = name.split("/")
    assert len(parts) != 4 or not all(re.fullmatch(constraints[k], v)
                                      for k, v in zip(grid.SETTING_PARTS, parts))


def test_occlusion_parts():
    assert grid.parse_occlusion("none") == ("none", 0, "px")
    assert grid.parse_occlusion("inner24") == ("inner", 24, "px")
    assert grid.parse_occlusion("outer12pc") == ("outer", 12, "pc")
    for bad in ("inner0", "inner", "24", "innerpc", "outer12pcpc", "Inner24"):
        with pytest.raises(ValueError, match=re.escape(repr(bad))):
            grid.parse_occlusion(bad)


def _schema_accepts(config: dict) -> bool:
    config = {"cases": [{"name": "a", "channels": "five_band", "sample": "full", "mask": "none"}],
              **config}
    try:
        validated(config)
    except WorkflowError:
        return False
    return True


def _grammar_accepts(parse, text) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("name", [s.name for s in SETTINGS[::5]] + BAD_NAMES)
def test_the_schema_accepts_the_setting_names_the_grammar_does(name):
    assert (_schema_accepts({"attribution": {"settings": [name]}})
            == _grammar_accepts(Setting.from_name, name)
            == (name in {s.name for s in SETTINGS}))


@pytest.mark.parametrize("bar", BARS + BAD_BARS)
def test_the_schema_accepts_the_bars_the_figures_do(bar):
    chart = {"name": "x", "samples": ["full"], "bars": [bar]}
    assert (_schema_accepts({"bar_charts": [chart]}) == _grammar_accepts(figures.parse_bar, bar)
            == (bar in BARS))


@pytest.mark.parametrize("sample", ["full", "no_extremes", "young2", "no-extremes", "a/b", ""])
def test_the_schema_accepts_the_sample_names_the_grammar_does(sample):
    assert (_schema_accepts({"samples": {sample: {}}})
            == _grammar_accepts(Setting.from_name, f"{sample}/five_band/none/true"))


PLANNED = ["full/white_light/none/true", "full/five_band/none/true", "full/five_band/inner12/true",
           "full/white_light/inner24/shuffled", "no_extremes/five_band/none/true"]


def test_the_plan_explains_the_unmasked_true_label_models_by_default_and_checks_a_given_list():
    assert plan.explained_settings(None, PLANNED) == [
        "full/white_light/none/true", "full/five_band/none/true", "no_extremes/five_band/none/true"]
    assert plan.explained_settings(["full/five_band/inner12/true"], PLANNED) == ["full/five_band/inner12/true"]
    with pytest.raises(plan.ConfigError, match="'full/white_light/outer8/true'"):
        plan.explained_settings(["full/white_light/outer8/true"], PLANNED)


def test_the_plan_disputes_the_full_samples_five_band_model_by_default_and_checks_a_given_list():
    assert plan.disputed_settings(None, PLANNED) == ["full/five_band/none/true"]
    assert plan.disputed_settings([], ["no_extremes/white_light/none/true"]) == ["no_extremes/white_light/none/true"]
    assert plan.disputed_settings(None, ["full/white_light/inner12/true"]) == []
    assert plan.disputed_settings(["full/five_band/inner12/true"], PLANNED) == ["full/five_band/inner12/true"]
    with pytest.raises(plan.ConfigError, match="disputes.settings: 'full/five_band/outer9/true'"):
        plan.disputed_settings(["full/five_band/outer9/true"], PLANNED)


def test_one_plan_gives_every_later_step_its_settings():
    config = validated(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))
    grid_plan = plan.Plan.of(config)
    assert list(grid_plan.jobs) == list(plan.build(config))
    assert grid_plan.explained == ["full/five_band/none/true", "full/white_light/none/true"]
    assert grid_plan.disputed == ["full/five_band/none/true"]
    # The null predictor needs no training: each sample of a case or of a bar chart gets one.
    assert grid_plan.null_samples == ["full", "no_extremes"]
    runs = grid_plan.runs()
    assert len(runs) == sum(len(c.settings) for c in grid_plan.cases.values()) * len(grid_plan.seeds)
    assert {r["run_dir"] for r in runs} == {grid.run_dir(config["results"], n, s)
                                            for n in grid_plan.jobs for s in grid_plan.seeds}
