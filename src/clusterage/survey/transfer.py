"""Resumable HTTP downloads: a file arrives whole under its final name, or not at all.

Large files and dropped links are the normal case (MAST mosaics are hundreds of MB), so a download
resumes its partial file with an HTTP Range request, retries transient failures with exponential
back-off, and only renames the file onto its final name once it is complete and checked: a
killed job never leaves a file that looks whole. Plain standard library (urllib), no extra
dependency.
"""

from __future__ import annotations

import fcntl
import hashlib
import http.client
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from clusterage import __version__

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
