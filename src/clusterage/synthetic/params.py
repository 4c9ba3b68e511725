"""Every number of the synthetic survey recipe, as a default the config can override.

Sources are listed per key in docs/synthetic-survey.md. Keys are flat so that the config schema
(block ``synthetic`` of workflow/schemas/config.schema.yaml) can document each one.
"""

from __future__ import annotations

import copy
import numbers

DEFAULTS: dict = {
    # --- survey ---
    "seed": 1,
    "scale": 1.0,
    "env_strength": 1.0,
    "env_memory_myr": 50.0,            # surroundings follow the age: floor + (1 - floor) exp(-t / this)
    "env_memory_floor": 0.3,
    "env_donor_pool": "survey",        # whose environments clusters borrow when not their own
    "age_distribution": "reference",   # "reference" (real per-galaxy labels) or "flat" in log age
    "flat_log_age_range": [6.0, 10.1],
    "cluster_ids": "position",         # "position" (1..n by position) or "reference" (real ids)
    # --- cluster population (Turner et al. 2021; Brown & Gnedin 2021) ---
    "mass_range": [1.0e3, 1.0e6],
    "mass_slope": -2.0,                # dN/dM ~ M^slope
    "mv_limit_vega": -6.0,             # clusters fainter than this (after dust) are not catalogued
    "old_age_myr": 1000.0,             # above this age ...
    "old_low_z_probability": 0.7,      # ... the Z = 0.004 table is used with this probability
    "ebv_age_edges_myr": [5.0, 10.0, 100.0],
    "ebv_median": [0.25, 0.15, 0.10, 0.05],
    "ebv_sigma_dex": 0.35,
    "ebv_max": 1.5,
    "extinction_law": "CCM89",
    "r_v": 3.1,
    "reff_pc": 2.5,                    # R_eff = reff_pc (M / 1e4)^reff_mass_slope 10^N(0, scatter)
    "reff_mass_slope": 0.24,
    "reff_scatter_dex": 0.2,
    "reff_age_slope": 0.0,             # R_eff x (t / 10 Myr)^slope: older clusters are larger
    "rsg_probability": 0.2,
    "rsg_age_range_myr": [10.0, 30.0],
    "rsg_mv_range": [-8.0, -6.0],
    "rsg_vega_colours": [2.0, 1.6, 1.7, 1.8],   # NUV-U, U-B, B-V, V-I (Vega) of a red supergiant
    # young clusters as clumpy associations: resolved massive stars and irregular shapes
    "young_stars_per_1e4msun": 0.0,    # mean count per 1e4 Msun formed, x (1 - t / age) (0: none)
    "young_stars_age_myr": 10.0,       # clusters younger than this are associations
    "young_stars_spread": 3.0,         # sigma of the stars' offsets, in units of R_eff
    "young_stars_mv_range": [-7.0, -5.0],
    "young_stars_vega_colours": [-0.6, -1.5, -0.2, -0.3],   # NUV-U, U-B, B-V, V-I of an O/B star
    "young_ellipticity": 0.0,          # axis ratio q = 1 - this x (1 - t / young_stars_age_myr)
    # coeval companions of the cluster's own complex (scaled by env_strength, at most 1)
    "companions_per_cluster": 0.0,     # N ~ Poisson(this x exp(-t / companions_age_myr)) (0: none)
    "companions_age_myr": 50.0,
    "companions_radius_pc": [8.0, 24.0],
    "companions_age_scatter_dex": 0.1,
    "class3_probability": [0.45, 0.25, 0.10],   # per env_age_edges bin <10, 10-100, >100 Myr
    # --- environment (scaled by env_strength) ---
    "env_age_edges_myr": [10.0, 100.0, 1000.0],
    "nebula_age_edges_myr": [3.0, 5.0, 10.0],
    "nebula_probability": [0.9, 0.6, 0.1],
    "nebula_compact_sigma_pc": [5.0, 15.0],
    "nebula_shell_radius_pc": [10.0, 50.0],
    "nebula_amplitude": [0.2, 1.0],
    "nebular_logU": -2.5,
    "neighbour_base": 0.5,             # N ~ Poisson(base + young exp(-t / timescale))
    "neighbour_young": 7.5,
    "neighbour_timescale_myr": 15.0,
    "neighbour_radius_pc": 150.0,
    "neighbour_slope": -0.8,           # surface density ~ r^slope (Grasha et al. 2015, 2017)
    "neighbour_age_scatter_dex": 0.15,
    "field_star_max_age_myr": 30.0,
    "field_star_count": [10.0, 30.0],
    "field_star_mv_range": [-8.0, -4.0],
    "mu_v_arm": [20.5, 22.5],
    "mu_v_disk": [20.5, 22.5],
    "mu_v_bulge": [18.5, 20.5],
    "mu_v_outskirts": [22.5, 24.0],
    # region probabilities (arm, disk, bulge, outskirts) per env_age_edges bin
    "region_probability": [
        [0.60, 0.30, 0.05, 0.05],
        [0.40, 0.40, 0.10, 0.10],
        [0.15, 0.45, 0.20, 0.20],
        [0.05, 0.35, 0.30, 0.30],
    ],
    "clump_sigma": [0.6, 0.4, 0.2, 0.05],
    "clump_scale_pc": 100.0,           # large-scale cut-off of the P(k) ~ k^-3 field
    "clump_power_slope": -3.0,
    "dust_lane_probability": [0.7, 0.5, 0.3, 0.1],
    "dust_lane_a0": [0.3, 2.0],
    "dust_lane_width_pc": [10.0, 60.0],
    "dust_lane_length_pc": [100.0, 300.0],
    "dust_lane_texture": 0.5,
    "background_blend_px": 50.0,       # how far one cluster's surroundings reach in the mosaic
    "interloper_fraction": 0.075,
    # --- layout ---
    "spacing_px": 120.0,               # mosaic area per catalogued cluster = spacing^2
    "group_max_age_myr": 50.0,         # clusters younger than this (env age) form groups
    "group_size_mean": 4.0,
    "edge_fraction": 0.05,             # clusters placed so their 112 px cutout leaves the footprint
    # --- instrument (WFC3 Instrument Handbook; Lee et al. 2022) ---
    "psf_fwhm_px": 1.68,
    "psf_beta": 2.5,
    "exptime_s": [2200.0, 1100.0, 1100.0, 670.0, 830.0],
    "n_exposures": [3, 2, 2, 2, 2],
    "read_noise": 3.1,
    "sky_level": "avg",                # "low", "avg" or "high" of noise_model.csv
    "drizzle_correlated_noise": True,
    # --- planted SED errors: catalog ages that are wrong on purpose (Whitmore et al. 2023) ---
    "sed_errors": {
        "fraction": 0.05,              # of catalogued clusters (3-8% after correction, 13-21% before)
        "young_dusty_share": 0.75,     # the rest: old metal-poor clusters fitted as young
        "young_max_myr": 10.0,
        "young_min_ebv": 0.4,
        "min_age_factor": 10.0,        # catastrophic: wrong by at least this factor
        "max_colour_offset": 0.15,     # mag (RMS in U-B, V-I) the wrong fit may miss by
    },
}

_ENUMS = {
    "env_donor_pool": ("survey", "galaxy"),
    "age_distribution": ("reference", "flat"),
    "cluster_ids": ("position", "reference"),
    "extinction_law": ("CCM89", "O94", "F99", "G23"),
    "sky_level": ("low", "avg", "high"),
    "nebular_logU": (-3.0, -2.5, -2.0),
}

# (lower, upper) inclusive bounds of scalar keys that have them.
_BOUNDS = {
    "scale": (0.0, None),
    "env_strength": (0.0, None),
    "env_memory_myr": (0.0, None),
    "env_memory_floor": (0.0, 1.0),
    "old_low_z_probability": (0.0, 1.0),
    "rsg_probability": (0.0, 1.0),
    "interloper_fraction": (0.0, 1.0),
    "edge_fraction": (0.0, 0.5),
    "ebv_sigma_dex": (0.0, None),
    "ebv_max": (0.0, None),
    "psf_fwhm_px": (0.0, None),
    "psf_beta": (1.0, None),
    "spacing_px": (16.0, None),
    "read_noise": (0.0, None),
    "r_v": (0.0, None),
    "reff_pc": (0.0, None),
    "reff_age_slope": (0.0, None),
    "young_stars_per_1e4msun": (0.0, None),
    "young_stars_age_myr": (0.0, None),
    "young_stars_spread": (0.0, None),
    "young_ellipticity": (0.0, 0.9),
    "companions_per_cluster": (0.0, None),
    "companions_age_myr": (0.0, None),
    "companions_age_scatter_dex": (0.0, None),
    "neighbour_radius_pc": (0.0, None),
    "clump_scale_pc": (0.0, None),
    "background_blend_px": (1.0, None),
    "dust_lane_texture": (0.0, None),
    "group_size_mean": (1.0, None),
    "sed_errors.fraction": (0.0, 1.0),
    "sed_errors.young_dusty_share": (0.0, 1.0),
    "sed_errors.young_max_myr": (0.0, None),
    "sed_errors.young_min_ebv": (0.0, None),
    "sed_errors.min_age_factor": (1.0, None),
    "sed_errors.max_colour_offset": (0.0, None),
}
_POSITIVE = {"scale", "env_memory_myr", "psf_fwhm_px", "spacing_px", "reff_pc", "clump_scale_pc",
             "neighbour_radius_pc", "r_v", "ebv_max", "young_stars_age_myr", "companions_age_myr"}


def resolve(params: dict | None) -> dict:
    """Defaults overlaid by ``params``; a clear ValueError names any bad ``synthetic.<key>``."""
    out = copy.deepcopy(DEFAULTS)
    for key, value in (params or {}).items():
        if key not in DEFAULTS:
            raise ValueError(
                f"synthetic.{key}: unknown key; known keys: {', '.join(sorted(DEFAULTS))}"
            )
        if isinstance(DEFAULTS[key], dict) and isinstance(value, dict):
            value = {**DEFAULTS[key], **value}   # a block given in part keeps its other defaults
        out[key] = value
    for key, default in DEFAULTS.items():
        _check(key, out[key], default)
    return out


def _check(key: str, value, default) -> None:
    name = f"synthetic.{key}"
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise ValueError(f"{name}: expected a mapping, got {value!r}")
        unknown = sorted(set(value) - set(default))
        if unknown:
            raise ValueError(f"{name}.{unknown[0]}: unknown key; known keys: {', '.join(sorted(default))}")
        for sub, sub_default in default.items():
            _check(f"{key}.{sub}", value[sub], sub_default)
        return
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{name}: expected true or false, got {value!r}")
        return
    if key in _ENUMS:
        if value not in _ENUMS[key]:
            raise ValueError(f"{name}: must be one of {list(_ENUMS[key])}, got {value!r}")
        return
    if isinstance(default, numbers.Number):
        if isinstance(value, bool) or not isinstance(value, numbers.Number) or value != value:
            raise ValueError(f"{name}: expected a number, got {value!r}")
        if isinstance(default, int) and not isinstance(default, bool) and key == "seed":
            if int(value) != value:
                raise ValueError(f"{name}: expected an integer, got {value!r}")
        lo, hi = _BOUNDS.get(key, (None, None))
        if key in _POSITIVE and value <= 0:
            raise ValueError(f"{name}: must be > 0, got {value!r}")
        if lo is not None and value < lo or hi is not None and value > hi:
            raise ValueError(f"{name}: must lie in [{lo}, {hi if hi is not None else 'inf'}], got {value!r}")
        return
    if isinstance(default, list):
        if not isinstance(value, (list, tuple)) or len(value) != len(default):
            raise ValueError(f"{name}: expected a list of {len(default)} entries, got {value!r}")
        for i, (v, d) in enumerate(zip(value, default)):
            if isinstance(d, list):
                _check(f"{key}[{i}]", v, d)
            elif isinstance(v, bool) or not isinstance(v, numbers.Number) or v != v:
                raise ValueError(f"{name}[{i}]: expected a number, got {v!r}")
        if key.endswith("_range") or key in _INTERVALS:
            if value[0] > value[1]:
                raise ValueError(f"{name}: lower bound {value[0]} exceeds upper bound {value[1]}")
        if key.endswith("edges_myr") and list(value) != sorted(value):
            raise ValueError(f"{name}: edges must increase, got {value!r}")
        if key.endswith("probability") and not key.startswith("region"):
            if any(not 0 <= v <= 1 for v in value):
                raise ValueError(f"{name}: probabilities must lie in [0, 1], got {value!r}")
        if key == "region_probability":
            for i, row in enumerate(value):
                if any(v < 0 for v in row) or sum(row) <= 0:
                    raise ValueError(f"{name}[{i}]: weights must be >= 0 with a positive sum")
        if key == "companions_radius_pc" and value[0] < 0:
            raise ValueError(f"{name}: separations must be >= 0 pc, got {value!r}")
        if key in ("exptime_s", "n_exposures", "ebv_median") and any(v <= 0 for v in value):
            raise ValueError(f"{name}: entries must be > 0, got {value!r}")
        return
    raise ValueError(f"{name}: unsupported value {value!r}")  # pragma: no cover


_INTERVALS = {
    "nebula_compact_sigma_pc", "nebula_shell_radius_pc", "nebula_amplitude", "field_star_count",
    "mu_v_arm", "mu_v_disk", "mu_v_bulge", "mu_v_outskirts", "dust_lane_a0",
    "dust_lane_width_pc", "dust_lane_length_pc", "companions_radius_pc",
}
