"""PHANGS-HST catalog bundles: download a galaxy's DR4 bundle and extract its catalog tables."""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path, PurePosixPath
from typing import Mapping

from clusterage.atomic import atomic_path

from .filecheck import check_fits, check_tar_gz
from .mast import GalaxyFiles
from .transfer import DownloadError, download, sha256sum


def _catalog_members(tar: tarfile.TarFile, src: str) -> list[tuple[tarfile.TarInfo, str]]:
    """``catalogs/*.fits`` members as (member, file name); anything unsafe is an error."""
    out = []
    for m in tar.getmembers():
        name = PurePosixPath(m.name)
        if name.is_absolute() or ".." in name.parts:
            raise DownloadError(f"{src}: unsafe member path {m.name!r} in the archive")
        parts = [p for p in name.parts if p != "."]
        if len(parts) != 2 or parts[0] != "catalogs" or not parts[1].lower().endswith(".fits"):
            continue
        if not m.isfile():
            raise DownloadError(f"{src}: member {m.name!r} is not a regular file (link?)")
        out.append((m, parts[1]))
    return out


def fetch_catalog_bundle(
    files: GalaxyFiles,
    data_dir: str | os.PathLike,
    *,
    checksums: Mapping[str, str] | None = None,
    keep_bundle: bool = True,
    **opts,
) -> list[Path]:
    """Download a galaxy's DR4 bundle and extract its ``catalogs/*.fits`` into
    ``data_dir / layout['catalog_dir']``; returns the extracted paths.

    A bundle already at its final place (it only gets there complete) is reused.
    """
    data_dir = Path(data_dir)
    checksums = checksums or {}
    rel = files.bundle_relpath()
    url = files.url(rel)
    bundle = data_dir / rel
    if bundle.is_file():
        check_tar_gz(bundle)
        if rel in checksums and sha256sum(bundle) != checksums[rel]:
            bundle.unlink()
    if not bundle.is_file():
        download(url, bundle, check=check_tar_gz, sha256=checksums.get(rel), **opts)
    out_dir = data_dir / files.layout["catalog_dir"].format(target=files.target) / "catalogs"
    extracted = []
    with tarfile.open(bundle, "r:gz") as tar:
        members = _catalog_members(tar, url)
        if not members:
            names = ", ".join(m.name for m in tar.getmembers()[:10])
            raise DownloadError(f"{url}: no catalogs/*.fits members in the bundle (has: {names})")
        for member, name in members:
            dest = out_dir / name
            with atomic_path(dest) as tmp:
                src = tar.extractfile(member)
                with src, open(tmp, "wb") as f:
                    shutil.copyfileobj(src, f, 1 << 20)
                check_fits(tmp, f"{url}!{member.name}")
                relpath = dest.relative_to(data_dir).as_posix()
                if relpath in checksums and sha256sum(tmp) != checksums[relpath]:
                    raise DownloadError(f"{url}!{member.name}: sha256 mismatch with the checksum "
                                        f"list entry for {relpath}")
            extracted.append(dest)
    if not keep_bundle:
        bundle.unlink()
    return extracted


def download_catalogs(files: GalaxyFiles, data_dir: str | os.PathLike, **opts) -> list[Path]:
    """Fetch and extract a galaxy's catalogs; check the obs and sed tables of every catalog
    kind the workflow reads are among them. Returns those (obs, sed) paths, flattened."""
    data_dir = Path(data_dir)
    extracted = {p.resolve() for p in fetch_catalog_bundle(files, data_dir, **opts)}
    wanted = [data_dir / r for pair in files.catalog_relpaths() for r in pair]
    missing = [p for p in wanted if p.resolve() not in extracted]
    if missing:
        have = ", ".join(sorted(p.name for p in extracted))
        raise DownloadError(
            f"{files.url(files.bundle_relpath())}: the bundle lacks {[p.name for p in missing]}; "
            f"it has: {have}. Fix data.layout.catalog or data.galaxy_files.{files.target}."
            "catalog_camera in the config."
        )
    return wanted
