"""Download PHANGS-HST images and catalog bundles from MAST (or any mirror of its ``hlsps/`` tree).

MAST mosaics are hundreds of MB and links drop, so a download resumes its partial file with an
HTTP Range request, retries transient failures with exponential back-off, and only renames the
file onto its final name once it is complete and checked: a killed job never leaves a file that
looks whole. Plain standard library (urllib), no extra dependency.
"""

from __future__ import annotations

import fcntl
import hashlib
import http.client
import os
import re
import shutil
import socket
import sys
import tarfile
import time
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Mapping

from . import __version__
from .atomic import atomic_path
from .mast import GalaxyFiles

FITS_BLOCK = 2880
FITS_MAGIC = b"SIMPLE  ="
# Where rules put downloaded files: the local mirror of MAST's hlsps/ tree.
DOWNLOAD_DIR = "resources/mast"
USER_AGENT = f"clusterage/{__version__} (+python-urllib)"


class DownloadError(RuntimeError):
    """A download that failed for good (after retries, or with an error retrying cannot fix)."""


class _Transient(Exception):
    """A failure worth another try (5xx, time-out, dropped connection)."""


@dataclass(frozen=True)
class Options:
    """How hard to try. Tests shrink ``backoff_s`` and ``timeout_s``; MAST needs the defaults."""

    retries: int = 5              # extra attempts after the first
    backoff_s: float = 2.0        # wait before retry k is backoff_s * 2**k ...
    backoff_max_s: float = 60.0   # ... capped here
    timeout_s: float = 60.0       # per socket operation (connect, each read)
    chunk_bytes: int = 1 << 20
    progress_min_bytes: int = 16 << 20   # smaller files download silently
    progress_every_bytes: int = 256 << 20  # when the size is unknown

    @classmethod
    def from_config(cls, config: Mapping | None) -> "Options":
        """From ``data.download`` of the workflow config (missing keys: defaults)."""
        d = dict(((config or {}).get("data") or {}).get("download") or {})
        kw = {}
        for key in ("retries", "backoff_s", "backoff_max_s", "timeout_s"):
            if d.get(key) is not None:
                kw[key] = type(getattr(cls, key))(d[key])
        return cls(**kw)


# --------------------------------------------------------------------------------------------
# Checks of what arrived
# --------------------------------------------------------------------------------------------

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


def sha256sum(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_checksums(source: str | os.PathLike | Mapping[str, str] | None) -> dict[str, str]:
    """``relpath -> sha256`` from a dict, or from a file of ``sha256sum`` lines
    (``<sha256>  <relpath>``; ``#`` comments and blank lines skipped)."""
    if source is None:
        return {}
    if isinstance(source, Mapping):
        return {str(k): str(v).lower() for k, v in source.items()}
    out = {}
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"checksum file {path} (config data.download.checksums) not found")
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"([0-9a-fA-F]{64})\s+\*?(\S.*)", line)
        if not m:
            raise ValueError(f"{path}, line {n}: expected '<sha256>  <relpath>', got {line!r}")
        out[m.group(2).strip()] = m.group(1).lower()
    return out


# --------------------------------------------------------------------------------------------
# The download itself
# --------------------------------------------------------------------------------------------

def _part_path(dest: Path) -> Path:
    # Stable name (unlike atomic_path's per-process one) so a later run can resume it; the
    # ".part-" prefix is the project's marker of an incomplete file.
    return dest.with_name(f".part-{dest.name}")


class _Progress:
    """One line per ~10% (or per ``every`` bytes when the size is unknown), never per chunk."""

    def __init__(self, url: str, total: int | None, opts: Options, out: Callable[[str], None]):
        self.url, self.total, self.out = url, total, out
        self.on = total is None or total >= opts.progress_min_bytes
        self.step = max(total // 10, 1) if total else opts.progress_every_bytes
        self.next = None
        self.t0 = time.monotonic()

    def update(self, done: int) -> None:
        if not self.on:
            return
        if self.next is None:  # first call: start from where a resume left off
            self.next = (done // self.step + 1) * self.step
            return
        if done < self.next:
            return
        self.next = (done // self.step + 1) * self.step
        mb = done / 1e6
        rate = mb / max(time.monotonic() - self.t0, 1e-9)
        if self.total:
            self.out(f"{self.url}: {100 * done / self.total:3.0f}% of {self.total / 1e6:.1f} MB "
                     f"({rate:.1f} MB/s)")
        else:
            self.out(f"{self.url}: {mb:.1f} MB ({rate:.1f} MB/s)")


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) from ``Content-Range: bytes a-b/N`` or ``bytes */N``."""
    m = re.match(r"bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)", value or "")
    if not m:
        return None, None
    start = int(m.group(1)) if m.group(1) else None
    total = int(m.group(2)) if m.group(2) != "*" else None
    return start, total


def _attempt(url: str, f, opts: Options, progress_out) -> None:
    """One request: append to the open part file ``f`` until the body is complete."""
    f.seek(0, os.SEEK_END)
    have = f.tell()
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    req = urllib.request.Request(url, headers=headers)
    try:
        resp = urllib.request.urlopen(req, timeout=opts.timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            _, total = _content_range(exc.headers.get("Content-Range"))
            if total == have:  # the part file already holds the whole file
                return
            f.seek(0)
            f.truncate()
            raise _Transient(f"HTTP 416 for a range from byte {have}; restarting from 0") from exc
        if exc.code >= 500 or exc.code in (408, 429):
            raise _Transient(f"HTTP {exc.code} {exc.reason}") from exc
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    with resp:
        status = resp.status
        start, total = _content_range(resp.headers.get("Content-Range"))
        length = resp.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if status == 206 and start == have:
            if total is None and length is not None:
                total = have + length
        else:
            if have:  # server ignored the Range (200) or answered another range: start over
                progress_out(f"{url}: server did not resume at byte {have} (HTTP {status}); "
                             "restarting")
                f.seek(0)
                f.truncate()
                have = 0
            if status == 206:
                raise _Transient(f"HTTP 206 with unexpected Content-Range "
                                 f"{resp.headers.get('Content-Range')!r}")
            total = length
        progress = _Progress(url, total, opts, progress_out)
        done = have
        progress.update(done)
        while True:
            chunk = resp.read(opts.chunk_bytes)
            if not chunk:
                break
            f.write(chunk)
            done += len(chunk)
            progress.update(done)
        f.flush()
    if total is not None and done != total:
        # http.client returns a short body without an error when the peer closes early.
        raise _Transient(f"connection closed after {done} of {total} bytes")


def download(
    url: str,
    dest: str | os.PathLike,
    *,
    check: Callable[[Path, str], None] | None = None,
    sha256: str | None = None,
    options: Options | None = None,
    progress: Callable[[str], None] = _stderr,
    **option_overrides,
) -> Path:
    """Fetch ``url`` to ``dest``, resuming ``.part-<name>`` and retrying transient failures.

    ``check(path, url)`` and ``sha256`` are applied to the complete part file; if either fails
    the part file is deleted and DownloadError raised, so nothing is left at ``dest``.
    ``option_overrides`` are fields of :class:`Options` (e.g. ``retries=0``).
    """
    opts = options or Options()
    if option_overrides:
        opts = Options(**{**opts.__dict__, **option_overrides})
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = _part_path(dest)
    with open(part, "ab") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise DownloadError(f"{url}: {part} is locked by another running download") from None
        last = None
        for attempt in range(opts.retries + 1):
            if attempt:
                wait = min(opts.backoff_s * 2 ** (attempt - 1), opts.backoff_max_s)
                progress(f"{url}: {last}; retry {attempt}/{opts.retries} in {wait:.1f} s")
                time.sleep(wait)
            try:
                _attempt(url, f, opts, progress)
                break
            except DownloadError:
                f.close()
                part.unlink(missing_ok=True)
                raise
            except _Transient as exc:
                last = str(exc)
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError,
                    socket.timeout, TimeoutError) as exc:
                last = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
        else:
            raise DownloadError(
                f"{url}: failed after {opts.retries + 1} attempts; last error: {last}. "
                f"The partial file {part} is kept and a rerun resumes it."
            )
    try:
        if check is not None:
            check(part, url)
        if sha256:
            got = sha256sum(part)
            if got != sha256.lower():
                raise DownloadError(
                    f"{url}: sha256 mismatch: expected {sha256.lower()}, got {got}; file removed"
                )
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, dest)
    return dest


def download_image(url: str, dest: str | os.PathLike, **opts) -> Path:
    """Download one science mosaic and check it is complete FITS (see :func:`download`)."""
    return download(url, dest, check=check_fits, **opts)


# --------------------------------------------------------------------------------------------
# Catalog bundles
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# What the workflow's rules call
# --------------------------------------------------------------------------------------------

def galaxy_files(config: Mapping, target: str) -> GalaxyFiles:
    data = config.get("data") or {}
    return GalaxyFiles.from_config(
        target, (data.get("galaxy_files") or {}).get(target), data.get("layout")
    )


def config_checksums(config: Mapping) -> dict[str, str]:
    """The checksum list named by ``data.download.checksums`` (empty if none)."""
    path = ((config.get("data") or {}).get("download") or {}).get("checksums")
    return read_checksums(path) if path else {}


def template_regex(template: str) -> str:
    """A regex matching every path a ``str.format`` template can produce (fields: no '/')."""
    parts = re.split(r"\{[^{}]*\}", template)
    return "[^/]+".join(re.escape(p) for p in parts)


def image_wildcard_regex(config: Mapping) -> str:
    """Constraint of rule download_image's ``{image}`` wildcard (the configured image template)."""
    return template_regex(galaxy_files(config, "x").layout["image"])


def catalog_outputs(config: Mapping) -> list[str]:
    """Rule download_catalogs' outputs: the obs and sed table of every catalog kind, under
    DOWNLOAD_DIR, with ``{target}`` (and ``{camera}``) left as wildcards."""
    lay = galaxy_files(config, "x").layout
    out = []
    for kind in lay["catalog_kinds"]:
        for table in ("obs", "sed"):
            inner = lay["catalog"].format(camera="{camera}", target="{target}", table=table,
                                          kind=kind)
            out.append(f"{DOWNLOAD_DIR}/{lay['catalog_dir'].format(target='{target}')}/{inner}")
    return out


def catalog_log(config: Mapping) -> str:
    """Rule download_catalogs' log, with the same wildcards as its outputs (Snakemake's rule)."""
    names = dict.fromkeys(re.findall(r"\{(\w+)\}", catalog_outputs(config)[0]))
    return "logs/download/catalogs_" + "_".join(f"{{{n}}}" for n in names) + ".log"


def download_image_job(config: Mapping, relpath: str, dest: str | os.PathLike) -> Path:
    """Rule download_image: ``base_url/relpath`` to ``dest``, with the config's options and
    checksum list."""
    files = galaxy_files(config, "x")
    return download_image(
        files.url(relpath), dest,
        sha256=config_checksums(config).get(relpath),
        options=Options.from_config(config),
    )


def download_catalogs_job(config: Mapping, target: str, outputs: list[str]) -> list[Path]:
    """Rule download_catalogs: fetch ``target``'s bundle into DOWNLOAD_DIR and check that every
    file the rule promised exists (a wrong ``{camera}`` in a requested path fails here)."""
    files = galaxy_files(config, target)
    paths = download_catalogs(files, DOWNLOAD_DIR, checksums=config_checksums(config),
                              options=Options.from_config(config))
    missing = [o for o in outputs if not Path(o).is_file()]
    if missing:
        raise DownloadError(
            f"{files.url(files.bundle_relpath())} gave {[str(p) for p in paths]}, not {missing}"
        )
    return paths
