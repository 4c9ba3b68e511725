"""Where PHANGS-HST files live, at MAST and in a local copy.

The local data folder mirrors MAST's ``hlsps/`` tree, so a download, a user's own copy of the MAST
files and the synthetic survey all share one layout and one ingest path. Every template is config
(``data.layout`` in ``config/config.yaml``); nothing here is hard-coded beyond the defaults.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from clusterage.galaxies import BANDS, DEFAULT_FILTERS

DEFAULT_LAYOUT = {
    "base_url": "https://archive.stsci.edu/hlsps",
    "image": "phangs-hst/{target}/hlsp_phangs-hst_hst_{instrument}_{target}_{filter}_v1_exp-drc-sci.fits",
    "catalog_bundle": "phangs-cat/dr4/bundles/hlsp_phangs-cat_hst_acs-uvis_{target}_multi_v1_cats.tar.gz",
    # Where a bundle's members land locally: the bundle holds "catalogs/<name>.fits".
    "catalog_dir": "phangs-cat/dr4/{target}",
    "catalog": "catalogs/hlsp_phangs-cat_hst_{camera}_{target}_multi_v1_{table}-human-{kind}.fits",
    "catalog_kinds": ["cluster-class12", "compact-association-class3"],
}


@dataclass(frozen=True)
class GalaxyFiles:
    """The instruments and filters one galaxy was observed with."""

    target: str
    filters: tuple[str, ...] = DEFAULT_FILTERS          # one per band, NUV..I
    instruments: tuple[str, ...] = ("wfc3-uvis",) * 5   # one per band
    catalog_camera: str = "uvis"                          # "uvis" or "acs-uvis"
    layout: dict = field(default_factory=lambda: dict(DEFAULT_LAYOUT))
    # MAST target in each band's image path, where it is not ``target`` (NGC 628's archival ACS
    # F435W is filed under "ngc628mosaic"); None: ``target`` in every band.
    image_targets: tuple[str, ...] | None = None

    @classmethod
    def from_config(cls, target: str, overrides: dict | None, layout: dict | None = None):
        """Build from ``data.galaxy_files.<target>`` (keys ``filters``, ``instruments``,
        ``catalog_camera``, ``image_targets``)."""
        o = dict(overrides or {})
        lay = dict(DEFAULT_LAYOUT)
        lay.update(layout or {})
        filters = tuple(o.get("filters", DEFAULT_FILTERS))
        instruments = tuple(o.get("instruments", ("wfc3-uvis",) * len(BANDS)))
        if len(filters) != len(BANDS) or len(instruments) != len(BANDS):
            raise ValueError(
                f"data.galaxy_files.{target}: 'filters' and 'instruments' need one entry per band "
                f"{BANDS}, got {list(filters)} and {list(instruments)}"
            )
        image_targets = o.get("image_targets")
        if isinstance(image_targets, str):
            image_targets = [image_targets] * len(BANDS)
        if image_targets is not None:
            image_targets = tuple(image_targets)
            if len(image_targets) != len(BANDS):
                raise ValueError(
                    f"data.galaxy_files.{target}: 'image_targets' needs one entry per band "
                    f"{BANDS}, got {list(image_targets)}"
                )
        return cls(target, filters, instruments, o.get("catalog_camera", "uvis"), lay, image_targets)

    def image_relpath(self, band_index: int) -> str:
        return self.layout["image"].format(
            target=self.image_targets[band_index] if self.image_targets else self.target,
            instrument=self.instruments[band_index],
            filter=self.filters[band_index].lower(),
        )

    def image_relpaths(self) -> list[str]:
        return [self.image_relpath(i) for i in range(len(BANDS))]

    def bundle_relpath(self) -> str:
        return self.layout["catalog_bundle"].format(target=self.target)

    def catalog_relpath(self, table: str, kind: str) -> str:
        """``table`` is "obs" or "sed"; ``kind`` one of ``layout['catalog_kinds']``."""
        inner = self.layout["catalog"].format(
            camera=self.catalog_camera, target=self.target, table=table, kind=kind
        )
        return str(Path(self.layout["catalog_dir"].format(target=self.target)) / inner)

    def catalog_relpaths(self) -> list[tuple[str, str]]:
        """(obs, sed) relative paths per catalog kind."""
        return [
            (self.catalog_relpath("obs", k), self.catalog_relpath("sed", k))
            for k in self.layout["catalog_kinds"]
        ]

    def url(self, relpath: str) -> str:
        return self.layout["base_url"].rstrip("/") + "/" + relpath


def template_regex(template: str) -> str:
    """A regex matching every path a ``str.format`` template can produce (fields: no '/')."""
    parts = re.split(r"\{[^{}]*\}", template)
    return "[^/]+".join(re.escape(p) for p in parts)
