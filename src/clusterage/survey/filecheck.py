"""Is a downloaded file whole? Complete FITS files and readable .tar.gz archives, and clear
messages when a server sent something else (an HTML error page, a truncated body)."""

from __future__ import annotations

import os
import re
import tarfile
import warnings
from pathlib import Path

from .transfer import DownloadError

FITS_BLOCK = 2880
FITS_MAGIC = b"SIMPLE  ="


def _describe_start(head: bytes) -> str:
    text = head[:200].decode("latin-1")
    if re.match(r"\s*<(!doctype html|html|\?xml|head|body)", text, re.IGNORECASE):
        title = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
        what = f"an HTML page (title {title.group(1).strip()!r})" if title else "an HTML page"
        return f"{what}, starting {text[:60]!r}"
    return f"{len(head)} bytes starting {head[:40]!r}"


def check_fits(path: str | os.PathLike, url: str = "") -> None:
    """Raise DownloadError unless ``path`` is a complete FITS file (magic, 2880-byte blocks,
    every HDU's header and data inside the file)."""
    from astropy.io import fits
    from astropy.utils.exceptions import AstropyUserWarning

    path = Path(path)
    src = url or str(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(FITS_BLOCK)
    if not head.startswith(FITS_MAGIC):
        raise DownloadError(f"{src}: expected a FITS file, received {_describe_start(head)}")
    if size % FITS_BLOCK:
        raise DownloadError(
            f"{src}: FITS file is truncated or padded wrongly: {size} bytes is not a multiple of "
            f"{FITS_BLOCK}"
        )
    try:
        # astropy only warns about a short file; the HDU extents below make it an error.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyUserWarning)
            hdul = fits.open(path, memmap=True, lazy_load_hdus=False)
        with hdul:
            for i in range(len(hdul)):
                info = hdul.fileinfo(i)
                end = info["datLoc"] + info["datSpan"]
                if end > size:
                    raise DownloadError(
                        f"{src}: FITS file is truncated: HDU {i} ends at byte {end}, file has {size}"
                    )
    except DownloadError:
        raise
    except Exception as exc:  # astropy raises OSError/ValueError/VerifyError on broken files
        raise DownloadError(f"{src}: not a readable FITS file: {exc}") from exc


def check_tar_gz(path: str | os.PathLike, url: str = "") -> None:
    """Raise DownloadError unless ``path`` is a readable gzip-compressed tar archive."""
    path = Path(path)
    src = url or str(path)
    with open(path, "rb") as f:
        head = f.read(512)
    if not head.startswith(b"\x1f\x8b"):
        raise DownloadError(f"{src}: expected a .tar.gz archive, received {_describe_start(head)}")
    try:
        with tarfile.open(path, "r:gz") as tar:
            for _ in tar:  # reads to the end: a truncated archive fails here
                pass
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DownloadError(f"{src}: broken or truncated .tar.gz archive: {exc}") from exc
