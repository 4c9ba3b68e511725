"""Download PHANGS-HST images and catalog bundles from MAST (or any mirror of its ``hlsps/`` tree).

What the workflow's download rules run: the URL and local path of each file come from the
layout (``clusterage.survey.mast``), the transfer from ``clusterage.survey.transfer`` (resumed, retried,
renamed into place only when complete), the checks from ``clusterage.survey.filecheck`` and the
extraction of catalog tables from ``clusterage.survey.bundle``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from .bundle import download_catalogs
from .filecheck import check_fits
from .mast import GalaxyFiles
from .transfer import DownloadError, Options, download, read_checksums


def download_image(url: str, dest: str | os.PathLike, **opts) -> Path:
    """Download one science mosaic and check it is complete FITS (see :func:`transfer.download`)."""
    return download(url, dest, check=check_fits, **opts)


def galaxy_files(config: Mapping, target: str) -> GalaxyFiles:
    data = config.get("data") or {}
    return GalaxyFiles.from_config(
        target, (data.get("galaxy_files") or {}).get(target), data.get("layout")
    )


def config_checksums(config: Mapping) -> dict[str, str]:
    """The checksum list named by ``data.download.checksums`` (empty if none)."""
    path = ((config.get("data") or {}).get("download") or {}).get("checksums")
    return read_checksums(path) if path else {}


def download_image_job(config: Mapping, relpath: str, dest: str | os.PathLike) -> Path:
    """Rule download_image: ``base_url/relpath`` to ``dest``, with the config's options and
    checksum list."""
    files = galaxy_files(config, "x")
    return download_image(
        files.url(relpath), dest,
        sha256=config_checksums(config).get(relpath),
        options=Options.from_config(config),
    )


def download_catalogs_job(config: Mapping, target: str, outputs: list[str],
                          data_dir: str | os.PathLike) -> list[Path]:
    """Rule download_catalogs: fetch ``target``'s bundle into ``data_dir`` and check that every
    file the rule promised exists (a wrong ``{camera}`` in a requested path fails here)."""
    files = galaxy_files(config, target)
    paths = download_catalogs(files, data_dir, checksums=config_checksums(config),
                              options=Options.from_config(config))
    missing = [o for o in outputs if not Path(o).is_file()]
    if missing:
        raise DownloadError(
            f"{files.url(files.bundle_relpath())} gave {[str(p) for p in paths]}, not {missing}"
        )
    return paths
