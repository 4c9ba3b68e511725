"""The experiment grid's vocabulary: what a model is shown, how it is trained, where its run lives.

A leaf module (standard library only): Snakemake imports it to build the job graph, the training
job to name its inputs, the aggregation to find the runs. The run layout is spelled here once:

    <results>/train/<sample>/<channels>/<occlusion>/<labels>/seed<k>
    <results>/train/<sample>/<channels>/<occlusion>/<labels>/fold<f>of<n>/seed<k>  (cross-validation)
    <results>/attribution/<sample>/<channels>/<occlusion>/<labels>/seed<k>   (explained runs)

and the Snakemake patterns (outputs, checkpoints, logs, benchmarks, wildcard constraints) are
built from the same pieces. A setting's name has one grammar (SETTING_PATTERNS): Setting.name
writes it, Setting.from_name and setting_parts read it back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

CHANNELS = ("five_band", "white_light")
MASKS = ("none", "inner", "outer")
LABELS = ("true", "shuffled")  # the labels of a model trained on true or on permuted ages
UNITS = ("px", "pc")  # a mask diameter in pixels, or in parsecs at each cluster's galaxy
# The paper's environment-only case (its Fig. 4): white light with the cluster hidden by an inner
# mask of this diameter (px); what such a mask hides is the first 12 px of an attribution profile.
ENVIRONMENT_DIAMETER_PX = 24

# A setting's name, and the part of every run path below the stage folder.
SETTING = "{sample}/{channels}/{occlusion}/{labels}"
SETTING_PARTS = tuple(re.findall(r"\{(\w+)\}", SETTING))

# The grammar of a name: a regex per part (Snakemake's wildcard constraints, the config schema's
# patterns agree with it). The occlusion part is 'none' (the unmasked model, D = 0), or a mask
# and its diameter D >= 1: 'inner24' in pixels, 'inner24pc' in parsecs.
_MASK_KINDS = tuple(m for m in MASKS if m != "none")
_MASKED = "|".join(_MASK_KINDS)
_DIAMETER = "[1-9][0-9]*"
SETTING_PATTERNS = {
    "sample": "[A-Za-z0-9_]+",
    "channels": "|".join(CHANNELS),
    "occlusion": f"none|(?:{_MASKED}){_DIAMETER}(?:pc)?",
    "labels": "|".join(LABELS),
}
_NAME = re.compile(SETTING.format(**{k: f"(?P<{k}>{v})" for k, v in SETTING_PATTERNS.items()}))
_OCCLUSION = re.compile(f"({_MASKED})({_DIAMETER})(pc)?")
NAME_FORM = (f"{'/'.join(SETTING_PARTS)}: a sample (letters, digits, underscores); "
             f"{' or '.join(CHANNELS)}; none, or {' or '.join(_MASK_KINDS)} and a diameter D >= 1 "
             f"in pixels (inner24) or parsecs (inner24pc); {' or '.join(LABELS)}; "
             f"e.g. full/white_light/inner24pc/true")


def setting_parts(name: str) -> dict[str, str]:
    """The parts of a setting's name, keyed as in SETTING (``setting_name``'s inverse)."""
    m = _NAME.fullmatch(name) if isinstance(name, str) else None
    if m is None:
        raise ValueError(f"not a setting's name: {name!r}; a name is {NAME_FORM}")
    return m.groupdict()


def parse_occlusion(part: str) -> tuple[str, int, str]:
    """(mask, diameter, unit) of an occlusion part: 'none' -> ('none', 0, 'px'),
    'inner24' -> ('inner', 24, 'px'), 'outer12pc' -> ('outer', 12, 'pc')."""
    if part == "none":
        return "none", 0, "px"
    m = _OCCLUSION.fullmatch(part) if isinstance(part, str) else None
    if m is None:
        raise ValueError(f"not an occlusion: {part!r}; expected none, or "
                         f"{' or '.join(_MASK_KINDS)} and a diameter D >= 1 in pixels (inner24) "
                         f"or parsecs (inner24pc)")
    return m.group(1), int(m.group(2)), "pc" if m.group(3) else "px"


@dataclass(frozen=True)
class Setting:
    """What the CNN is shown: the identity of a trained model, shared across figures."""

    channels: str
    sample: str
    mask: str = "none"
    diameter: int = 0
    shuffled_labels: bool = False
    unit: str = "px"

    def __post_init__(self):
        if self.channels not in CHANNELS:
            raise ValueError(f"unknown channels {self.channels!r}")
        if self.mask not in MASKS:
            raise ValueError(f"unknown mask {self.mask!r}")
        if self.unit not in UNITS:
            raise ValueError(f"unknown diameter unit {self.unit!r}; expected one of {UNITS}")
        if self.mask == "none" or self.diameter == 0:
            object.__setattr__(self, "unit", "px")  # no mask: one model, whatever the unit

    @property
    def occlusion(self) -> str:
        """'none' for an unmasked model (D = 0 is the same model for inner and outer sweeps);
        'inner24' for 24 pixels, 'inner24pc' for 24 parsecs."""
        if self.mask == "none" or self.diameter == 0:
            return "none"
        return f"{self.mask}{self.diameter}{'pc' if self.unit == 'pc' else ''}"

    @property
    def labels(self) -> str:
        return LABELS[1] if self.shuffled_labels else LABELS[0]

    @property
    def name(self) -> str:
        return SETTING.format(sample=self.sample, channels=self.channels,
                              occlusion=self.occlusion, labels=self.labels)

    @classmethod
    def from_name(cls, name: str) -> "Setting":
        """The setting a name names (``name``'s inverse); an unmasked one has mask 'none'.
        Raises ValueError, naming it, for a name outside the grammar (NAME_FORM)."""
        parts = setting_parts(name)
        mask, diameter, unit = parse_occlusion(parts["occlusion"])
        return cls(parts["channels"], parts["sample"], mask, diameter,
                   parts["labels"] == LABELS[1], unit)


@dataclass
class Hyper:
    """Training hyper-parameters; defaults are the paper's (Table 2, Sect. 3.1)."""

    conv_filters: tuple = (128, 256, 512)
    dense_units: tuple = (512, 256, 128)
    learning_rate: float = 1e-6
    batch_size: int = 32
    epochs: int = 200
    patience: int = 30
    rotations: int = 4
    flips: bool = False
    normalisation: str = "instance"
    precision: str = "float32"

    @classmethod
    def from_config(cls, cfg: dict) -> "Hyper":
        known = set(cls.__dataclass_fields__)
        unknown = set(cfg) - known
        if unknown:
            raise ValueError(f"unknown training key(s) {sorted(unknown)}; known: {sorted(known)}")
        cfg = dict(cfg)
        for key in ("conv_filters", "dense_units"):
            if key in cfg:
                cfg[key] = tuple(cfg[key])
        return cls(**cfg)


SPLIT_ORDERS = ("catalog", "paper")
SPLIT_UNLISTED = ("append", "stop")
SPLIT_GROUPS = ("none", "overlap", "galaxy")


@dataclass(frozen=True)
class SplitSpec:
    """How clusters are split (config key ``split``; descriptions in the config schema;
    ``splits.split_rows`` applies it). Without a config: the plain seeded shuffle of the
    dataset's rows."""

    seed: int = 42
    fractions: tuple = (0.70, 0.15, 0.15)
    order: str = "catalog"
    unlisted: str = "append"
    group: str = "none"
    test_galaxies: tuple = ()

    def __post_init__(self):
        f = self.fractions
        if len(f) != 3 or any(v <= 0 for v in f) or abs(sum(f) - 1.0) > 1e-9:
            raise ValueError(f"split.fractions must be three positive numbers summing to 1, "
                             f"got {list(f)}")
        for key, value, allowed in (("order", self.order, SPLIT_ORDERS),
                                    ("unlisted", self.unlisted, SPLIT_UNLISTED),
                                    ("group", self.group, SPLIT_GROUPS)):
            if value not in allowed:
                raise ValueError(f"split.{key} must be one of {list(allowed)}, got {value!r}")
        if self.group == "galaxy" and not self.test_galaxies:
            raise ValueError("split.group 'galaxy' needs split.test_galaxies: the galaxies held "
                             "out for test")

    @classmethod
    def from_config(cls, cfg: dict | None) -> "SplitSpec":
        cfg = dict(cfg or {})
        unknown = set(cfg) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown split key(s) {sorted(unknown)}")
        for key in ("fractions", "test_galaxies"):
            if key in cfg:
                cfg[key] = tuple(cfg[key])
        return cls(**cfg)

    def with_group(self, group: str) -> "SplitSpec":
        return replace(self, group=group)

    def as_dict(self) -> dict:
        return {"seed": self.seed, "fractions": list(self.fractions), "order": self.order,
                "unlisted": self.unlisted, "group": self.group,
                "test_galaxies": list(self.test_galaxies)}


# --------------------------------------------------------------------------------------------
# Run layout
# --------------------------------------------------------------------------------------------

def full_first(samples) -> list[str]:
    """Sample names in the order tables, figures and defaults use: the full sample first, then
    the others alphabetically."""
    return sorted(set(samples), key=lambda s: (s != "full", s))


def setting_name(sample: str, channels: str, occlusion: str, labels: str) -> str:
    """A setting's name from its path parts (e.g. Snakemake's wildcards)."""
    return SETTING.format(sample=sample, channels=channels, occlusion=occlusion, labels=labels)


def fold_part(fold: int | None = None, folds: int | None = None) -> str:
    """The path part of a cross-validation model, ``fold<f>of<k>/``; empty for the fixed split.

    A model trained on fold f of k (docs/disputes.md) lives one folder below its setting:
    ``<setting>/fold<f>of<k>/seed<s>``; every other model at ``<setting>/seed<s>``.
    """
    return "" if fold is None else f"fold{int(fold)}of{int(folds)}/"


def parse_fold(part: str) -> tuple[int, int] | None:
    """(fold, folds) of a ``fold_part``; None for the fixed split's empty part."""
    if not part:
        return None
    m = re.fullmatch(r"fold(\d+)of(\d+)/", part)
    if not m:
        raise ValueError(f"not a fold part: {part!r}")
    return int(m.group(1)), int(m.group(2))


def _run(setting: str, seed, fold: str = "") -> str:
    return f"{setting}/{fold}seed{seed}"


def run_dir(results: str, setting: str, seed, fold: str = "") -> str:
    """The folder of one (setting, seed) run: metrics, predictions, history, metadata, model."""
    return f"{results}/train/{_run(setting, seed, fold)}"


def checkpoint_dir(results: str, setting: str, seed, fold: str = "") -> str:
    """Where a running job keeps its resumable state; removed when the run finishes."""
    return f"{results}/checkpoints/{_run(setting, seed, fold)}"


def train_log(results: str, setting: str, seed, fold: str = "") -> str:
    return f"{results}/logs/train/{_run(setting, seed, fold)}.log"


def unrecoverable_dir(results: str) -> str:
    """Where trainings record errors that no retry can cure, which stop the run
    (clusterage.cluster.breaker)."""
    return f"{results}/logs/unrecoverable"


def train_benchmark(results: str, setting: str, seed, fold: str = "") -> str:
    return f"{results}/benchmarks/train/{_run(setting, seed, fold)}.tsv"


def attribution_dir(results: str, setting: str, seed) -> str:
    """Where the attributions of one run live: maps.h5, profiles.csv, occlusion.csv."""
    return f"{results}/attribution/{_run(setting, seed)}"


def attribution_log(results: str, setting: str, seed) -> str:
    return f"{results}/logs/attribution/{_run(setting, seed)}.log"


def attribution_benchmark(results: str, setting: str, seed) -> str:
    return f"{results}/benchmarks/attribution/{_run(setting, seed)}.tsv"


# Snakemake's view of the same paths: the setting's parts, the seed and the fold part (empty for
# the fixed split) are wildcards. An explained run is always a fixed-split model: its paths take
# the setting's parts and the seed (EXPLAIN_WILDCARDS).
RUN_WILDCARDS = (SETTING, "{seed}", "{fold}")
EXPLAIN_WILDCARDS = (SETTING, "{seed}")


def wildcard_constraints() -> dict[str, str]:
    """Regexes of the run wildcards: the setting's parts (SETTING_PATTERNS), seed and fold."""
    return {
        **SETTING_PATTERNS,
        "seed": r"\d+",
        "fold": r"(?:fold\d+of\d+/)?",
    }
