"""The real download code against a local HTTP server that serves a MAST-layout mirror.

The server (127.0.0.1, port 0, one thread per request) serves small FITS mosaics and a real DR4
catalog bundle at GalaxyFiles paths, honours Range requests, and injects faults per path:
a dropped connection, HTTP 500, 404, an HTML page, a truncated FITS, a server ignoring Range.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from clusterage.survey import bundle, filecheck, transfer
from clusterage.survey import download as dl
from clusterage.survey.mast import GalaxyFiles, template_regex

FAST = dict(retries=3, backoff_s=0.01, backoff_max_s=0.05, timeout_s=2.0)
NGC628C = {
    "filters": ["F275W", "F336W", "F435W", "F555W", "F814W"],
    "instruments": ["wfc3-uvis", "wfc3-uvis", "acs-wfc", "wfc3-uvis", "wfc3-uvis"],
    "image_targets": ["ngc628c", "ngc628c", "ngc628mosaic", "ngc628c", "ngc628c"],
    "catalog_camera": "acs-uvis",
}
HTML_PAGE = (b"<!DOCTYPE html>\n<html><head><title>MAST: Page not available</title></head>"
             b"<body>Service temporarily unavailable</body></html>\n")


# ------------------------------------------------------------------------------------------
# A synthetic mirror in MAST's layout
# ------------------------------------------------------------------------------------------

def _image_bytes(seed: int, shape=(300, 280)) -> bytes:
    rng = np.random.default_rng(seed)
    hdu = fits.PrimaryHDU(rng.normal(0.0, 1.0, shape).astype(np.float32))
    h = hdu.header
    h["BUNIT"] = "ELECTRONS/S"
    h["CTYPE1"], h["CTYPE2"] = "RA---TAN", "DEC--TAN"
    h["CRVAL1"], h["CRVAL2"] = 24.174, 15.783
    h["CRPIX1"], h["CRPIX2"] = shape[1] / 2, shape[0] / 2
    h["CD1_1"], h["CD2_2"] = -0.03962 / 3600, 0.03962 / 3600
    h["PHOTFLAM"], h["PHOTPLAM"], h["EXPTIME"] = 1.5e-18, 5360.0, 670.0
    buf = io.BytesIO()
    hdu.writeto(buf)
    return buf.getvalue()


def _catalog_bytes(seed: int, table: str, n: int = 20) -> bytes:
    rng = np.random.default_rng(seed)
    t = Table()
    t["INDEX"] = np.arange(n)
    t["ID_PHANGS_CLUSTER"] = np.arange(1, n + 1)
    t["ID_PHANGS_CANDIDATE"] = np.arange(100, 100 + n)
    t["ID_PHANGS_ALLSOURCES"] = np.arange(1000, 1000 + n)
    t["PHANGS_X"] = rng.uniform(0, 280, n)
    t["PHANGS_Y"] = rng.uniform(0, 300, n)
    t["PHANGS_RA"] = 24.174 + rng.normal(0, 1e-3, n)
    t["PHANGS_DEC"] = 15.783 + rng.normal(0, 1e-3, n)
    t["PHANGS_CLUSTER_CLASS_HUMAN"] = rng.integers(1, 4, n)
    t["PHANGS_CLUSTER_CLASS_ML_VGG"] = rng.integers(1, 4, n)
    for band in ("F275W", "F336W", "F435W", "F555W", "F814W"):
        t[f"PHANGS_{band}_VEGA"] = rng.uniform(18, 24, n)
        t[f"PHANGS_{band}_VEGA_ERR"] = rng.uniform(0.01, 0.2, n)
        t[f"PHANGS_{band}_mJy"] = rng.uniform(1e-4, 1e-2, n)
        t[f"PHANGS_{band}_mJy_ERR"] = rng.uniform(1e-6, 1e-4, n)
    t["PHANGS_CI"] = rng.uniform(1, 2, n)
    t["CC_CLASS"] = rng.integers(1, 5, n)
    if table == "sed":
        for q, lo, hi in (("AGE", 1, 1e4), ("MASS", 1e3, 1e6), ("EBV", 0, 1)):
            t[f"PHANGS_{q}_MINCHISQ"] = rng.uniform(lo, hi, n)
            t[f"PHANGS_{q}_MINCHISQ_ERR"] = rng.uniform(0, lo + 0.1, n)
        t["PHANGS_REDUCEDCHISQ_MINCHISQ"] = rng.uniform(0.1, 5, n)
    buf = io.BytesIO()
    t.write(buf, format="fits")
    return buf.getvalue()


def _bundle_bytes(files: GalaxyFiles, extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        members = {}
        for i, (obs, sed) in enumerate(files.catalog_relpaths()):
            members["catalogs/" + Path(obs).name] = _catalog_bytes(i, "obs")
            members["catalogs/" + Path(sed).name] = _catalog_bytes(i, "sed")
            members["catalogs/" + Path(obs).name.replace("-human-", "-machine-")] = \
                _catalog_bytes(10 + i, "obs")
        members["README.txt"] = b"PHANGS-HST DR4 catalogs\n"
        members.update(extra or {})
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Mirror:
    """Files by URL path, per-path fault queues, and a log of (path, Range header)."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.faults: dict[str, list[str]] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.lock = threading.Lock()

    def next_fault(self, path: str) -> str | None:
        with self.lock:
            q = self.faults.get(path)
            return q.pop(0) if q else None


def _handler(mirror: Mirror):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep pytest output clean
            pass

        def _send(self, code, body, headers=()):
            self.send_response(code)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            path = self.path.split("?")[0]
            rng = self.headers.get("Range")
            with mirror.lock:
                mirror.requests.append((path, rng))
            fault = mirror.next_fault(path)
            if fault == "500":
                return self._send(500, b"Internal Server Error")
            if fault == "html":
                return self._send(200, HTML_PAGE, [("Content-Type", "text/html")])
            if fault == "stall":
                self.server.stall.wait(5)  # longer than the client's time-out; bounded
                self.close_connection = True
                return
            body = mirror.files.get(path)
            if body is None:
                return self._send(404, b"Not Found", [("Content-Type", "text/plain")])
            start = 0
            if rng and fault != "ignore_range":
                start = int(rng.split("=")[1].split("-")[0])
                if start >= len(body):
                    return self._send(416, b"", [("Content-Range", f"bytes */{len(body)}")])
            part = body[start:]
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.send_header("Content-Length", str(len(part)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if fault and fault.startswith("drop:"):  # send some bytes, then hang up
                self.wfile.write(part[: int(fault[5:])])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(part)

    return Handler


@pytest.fixture
def server():
    mirror = Mirror()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(mirror))
    httpd.daemon_threads = True
    httpd.stall = threading.Event()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    mirror.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/hlsps"
    try:
        yield mirror
    finally:
        httpd.stall.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _files(mirror: Mirror, target: str, overrides=None) -> GalaxyFiles:
    files = GalaxyFiles.from_config(target, overrides, {"base_url": mirror.base_url})
    for i, rel in enumerate(files.image_relpaths()):
        mirror.files[f"/hlsps/{rel}"] = _image_bytes(i)
    mirror.files[f"/hlsps/{files.bundle_relpath()}"] = _bundle_bytes(files)
    return files


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


# ------------------------------------------------------------------------------------------
# Images
# ------------------------------------------------------------------------------------------

def test_all_five_images_of_ngc628c_download_byte_identical(server, tmp_path):
    files = _files(server, "ngc628c", NGC628C)
    assert "phangs-hst/ngc628mosaic/hlsp_phangs-hst_hst_acs-wfc_ngc628mosaic_f435w_v1_" \
           "exp-drc-sci.fits" in files.image_relpaths()
    for rel in files.image_relpaths():
        out = dl.download_image(files.url(rel), tmp_path / rel, **FAST)
        assert out.read_bytes() == server.files[f"/hlsps/{rel}"]
        with fits.open(out) as hdul:
            assert hdul[0].header["BUNIT"] == "ELECTRONS/S"
    assert sorted(_leftovers(tmp_path)) == sorted(tmp_path / r for r in files.image_relpaths())


def test_dropped_connection_resumes_with_range_request(server, tmp_path):
    files = _files(server, "ngc1365")
    rel = files.image_relpath(3)
    body = server.files[f"/hlsps/{rel}"]
    server.faults[f"/hlsps/{rel}"] = ["drop:100000"]
    out = dl.download_image(files.url(rel), tmp_path / rel, **FAST)
    assert out.read_bytes() == body
    ranges = [r for p, r in server.requests if p == f"/hlsps/{rel}"]
    assert ranges == [None, "bytes=100000-"]
    assert _leftovers(tmp_path) == [out]


def test_partial_file_from_a_killed_run_is_resumed(server, tmp_path):
    files = _files(server, "ngc1365")
    rel = files.image_relpath(0)
    body = server.files[f"/hlsps/{rel}"]
    dest = tmp_path / rel
    dest.parent.mkdir(parents=True)
    (dest.parent / f".part-{dest.name}").write_bytes(body[:5000])
    dl.download_image(files.url(rel), dest, **FAST)
    assert dest.read_bytes() == body
    assert [r for p, r in server.requests] == ["bytes=5000-"]


def test_complete_partial_file_is_finished_without_downloading_again(server, tmp_path):
    # killed after the last byte but before the rename: the server answers 416
    files = _files(server, "ngc1365")
    rel = files.image_relpath(0)
    body = server.files[f"/hlsps/{rel}"]
    dest = tmp_path / rel
    dest.parent.mkdir(parents=True)
    (dest.parent / f".part-{dest.name}").write_bytes(body)
    dl.download_image(files.url(rel), dest, **FAST)
    assert dest.read_bytes() == body
    assert [r for p, r in server.requests] == [f"bytes={len(body)}-"]
    assert _leftovers(tmp_path) == [dest]


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    files = _files(server, "ngc1365")
    rel = files.image_relpath(1)
    server.faults[f"/hlsps/{rel}"] = ["drop:70000", "ignore_range"]
    out = dl.download_image(files.url(rel), tmp_path / rel, **FAST)
    assert out.read_bytes() == server.files[f"/hlsps/{rel}"]
    assert [r for p, r in server.requests] == [None, "bytes=70000-"]


def test_http_500_is_retried_then_succeeds(server, tmp_path):
    files = _files(server, "ngc1365")
    rel = files.image_relpath(2)
    server.faults[f"/hlsps/{rel}"] = ["500", "500"]
    out = dl.download_image(files.url(rel), tmp_path / rel, **FAST)
    assert out.read_bytes() == server.files[f"/hlsps/{rel}"]
    assert len(server.requests) == 3


def test_persistent_500_fails_after_the_configured_retries(server, tmp_path):
    files = _files(server, "ngc1365")
    rel = files.image_relpath(2)
    server.faults[f"/hlsps/{rel}"] = ["500"] * 10
    with pytest.raises(transfer.DownloadError, match=r"failed after 3 attempts.*HTTP 500"):
        dl.download_image(files.url(rel), tmp_path / rel, **{**FAST, "retries": 2})
    assert len(server.requests) == 3
    assert not (tmp_path / rel).exists()


def test_time_out_is_retried(server, tmp_path):
    files = _files(server, "ngc1365")
    rel = files.image_relpath(4)
    server.faults[f"/hlsps/{rel}"] = ["stall"]
    out = dl.download_image(files.url(rel), tmp_path / rel, **{**FAST, "timeout_s": 0.3})
    assert out.read_bytes() == server.files[f"/hlsps/{rel}"]


def test_404_names_the_url_is_not_retried_and_leaves_no_file(server, tmp_path):
    files = _files(server, "ngc1365")
    rel = files.image_relpath(0).replace("ngc1365", "ngc9999")
    url = files.url(rel)
    with pytest.raises(transfer.DownloadError, match="HTTP 404") as err:
        dl.download_image(url, tmp_path / rel, **FAST)
    assert url in str(err.value)
    assert len(server.requests) == 1
    assert _leftovers(tmp_path) == []


def test_html_page_instead_of_fits_is_rejected(server, tmp_path):
    files = _files(server, "ngc1365")
    rel = files.image_relpath(3)
    server.faults[f"/hlsps/{rel}"] = ["html"]
    with pytest.raises(transfer.DownloadError, match="HTML page") as err:
        dl.download_image(files.url(rel), tmp_path / rel, **FAST)
    assert files.url(rel) in str(err.value) and "Page not available" in str(err.value)
    assert _leftovers(tmp_path) == []


def test_truncated_fits_is_rejected(server, tmp_path):
    files = _files(server, "ngc1365")
    rel = files.image_relpath(3)
    # A server that sends a shorter file with a matching Content-Length (the transport sees
    # nothing wrong); cut on a block boundary so only the HDU structure shows it.
    server.files[f"/hlsps/{rel}"] = server.files[f"/hlsps/{rel}"][: 10 * filecheck.FITS_BLOCK]
    with pytest.raises(transfer.DownloadError, match="truncated"):
        dl.download_image(files.url(rel), tmp_path / rel, **FAST)
    server.files[f"/hlsps/{rel}"] = server.files[f"/hlsps/{rel}"][:12345]
    with pytest.raises(transfer.DownloadError, match="multiple of 2880"):
        dl.download_image(files.url(rel), tmp_path / rel, **FAST)
    assert _leftovers(tmp_path) == []


def test_checksum_list_is_verified(server, tmp_path):
    files = _files(server, "ngc1365")
    rel_ok, rel_bad = files.image_relpath(0), files.image_relpath(1)
    good = hashlib.sha256(server.files[f"/hlsps/{rel_ok}"]).hexdigest()
    sums = tmp_path / "SHA256SUMS"
    sums.write_text(f"# PHANGS-HST\n{good}  {rel_ok}\n{'0' * 64}  {rel_bad}\n")
    table = transfer.read_checksums(sums)
    data = tmp_path / "mast"
    dl.download_image(files.url(rel_ok), data / rel_ok, sha256=table[rel_ok], **FAST)
    with pytest.raises(transfer.DownloadError, match="sha256 mismatch"):
        dl.download_image(files.url(rel_bad), data / rel_bad, sha256=table[rel_bad], **FAST)
    assert _leftovers(data) == [data / rel_ok]


def test_bad_checksum_line_names_file_and_line(tmp_path):
    sums = tmp_path / "SHA256SUMS"
    sums.write_text("abc  phangs-hst/x.fits\n")
    with pytest.raises(ValueError, match=r"SHA256SUMS, line 1"):
        transfer.read_checksums(sums)


def test_progress_lines_are_few(server, tmp_path):
    files = _files(server, "ngc1365")
    rel = files.image_relpath(0)
    lines = []
    dl.download_image(files.url(rel), tmp_path / rel, progress=lines.append,
                      progress_min_bytes=0, chunk_bytes=4096, **FAST)
    n_chunks = len(server.files[f"/hlsps/{rel}"]) // 4096
    assert 8 <= len(lines) <= 11 < n_chunks
    assert lines[-1].endswith(")") and "100%" in lines[-1]


# ------------------------------------------------------------------------------------------
# Catalog bundles
# ------------------------------------------------------------------------------------------

def test_catalog_bundle_is_extracted_into_the_mast_layout(server, tmp_path):
    files = _files(server, "ngc628c", NGC628C)
    paths = bundle.download_catalogs(files, tmp_path, **FAST)
    assert paths == [tmp_path / r for pair in files.catalog_relpaths() for r in pair]
    assert all("/catalogs/hlsp_phangs-cat_hst_acs-uvis_ngc628c_" in p.as_posix() for p in paths)
    sed = Table.read(paths[1])
    assert {"PHANGS_X", "PHANGS_CLUSTER_CLASS_HUMAN", "PHANGS_AGE_MINCHISQ"} <= set(sed.colnames)
    # machine-classified tables come along; nothing else from the archive is extracted
    cat_dir = tmp_path / "phangs-cat/dr4/ngc628c/catalogs"
    assert len(list(cat_dir.glob("*machine*.fits"))) == 2
    assert not any(p.name == "README.txt" for p in tmp_path.rglob("*"))
    assert not list(tmp_path.rglob(".part-*"))


def test_bundle_download_resumes_and_is_reused(server, tmp_path):
    files = _files(server, "ngc1365")
    url_path = f"/hlsps/{files.bundle_relpath()}"
    server.faults[url_path] = ["drop:3000"]
    bundle.download_catalogs(files, tmp_path, **FAST)
    assert [r for p, r in server.requests] == [None, "bytes=3000-"]
    assert (tmp_path / files.bundle_relpath()).read_bytes() == server.files[url_path]
    bundle.download_catalogs(files, tmp_path, **FAST)  # bundle already complete: no request
    assert len(server.requests) == 2


def test_bundle_with_path_traversal_is_refused(server, tmp_path):
    files = _files(server, "ngc1365")
    server.files[f"/hlsps/{files.bundle_relpath()}"] = _bundle_bytes(
        files, {"catalogs/../../evil.fits": _catalog_bytes(0, "obs")})
    with pytest.raises(transfer.DownloadError, match="unsafe member path"):
        bundle.download_catalogs(files, tmp_path / "mast", **FAST)
    assert not (tmp_path / "evil.fits").exists()
    assert not list((tmp_path / "mast").rglob("*.fits"))


def test_bundle_lacking_a_wanted_table_says_which(server, tmp_path):
    files = _files(server, "ngc1365")
    wrong_camera = GalaxyFiles.from_config("ngc1365", {"catalog_camera": "acs-uvis"},
                                           {"base_url": server.base_url})
    with pytest.raises(transfer.DownloadError, match="lacks.*acs-uvis.*catalog_camera"):
        bundle.download_catalogs(wrong_camera, tmp_path, **FAST)


def test_html_instead_of_bundle_is_rejected(server, tmp_path):
    files = _files(server, "ngc1365")
    server.faults[f"/hlsps/{files.bundle_relpath()}"] = ["html"]
    with pytest.raises(transfer.DownloadError, match=r"expected a \.tar\.gz archive, received an HTML"):
        bundle.download_catalogs(files, tmp_path, **FAST)
    assert _leftovers(tmp_path) == []


# ------------------------------------------------------------------------------------------
# What the rules call
# ------------------------------------------------------------------------------------------

def test_rule_jobs_follow_the_configured_layout(server, tmp_path):
    import re

    _files(server, "ngc628c", NGC628C)
    sums = tmp_path / "sums.txt"
    config = {"data": {"layout": {"base_url": server.base_url},
                       "galaxy_files": {"ngc628c": NGC628C},
                       "download": {"retries": 1, "backoff_s": 0.01, "timeout_s": 2,
                                    "checksums": str(sums)}}}
    files = dl.galaxy_files(config, "ngc628c")
    rel = files.image_relpath(2)
    sums.write_text(f"{hashlib.sha256(server.files['/hlsps/' + rel]).hexdigest()}  {rel}\n")
    regex = template_regex(files.layout["image"])  # rule download_image's {image}
    assert all(re.fullmatch(regex, r) for r in files.image_relpaths())
    assert not any(re.fullmatch(regex, r) for pair in files.catalog_relpaths() for r in pair)

    mirror = tmp_path / "mast"
    out = dl.download_image_job(config, rel, mirror / rel)
    assert out.read_bytes() == server.files["/hlsps/" + rel]

    wanted = [str(mirror / r) for pair in files.catalog_relpaths() for r in pair]
    dl.download_catalogs_job(config, "ngc628c", wanted, mirror)
    assert all(Path(w).is_file() for w in wanted)
    with pytest.raises(transfer.DownloadError, match="not .*uvis_ngc628c"):
        dl.download_catalogs_job(config, "ngc628c", [w.replace("acs-uvis", "uvis") for w in wanted],
                                 mirror)


def test_snakemake_rules_download_through_the_workflow(server, tmp_path):
    """download.smk's two rules, run by Snakemake itself in a copy of the workflow, fetch a
    galaxy's files from the mirror into data.download.dir with the MAST layout."""
    import subprocess
    import sys

    import yaml
    from runs import copy_workflow

    files = _files(server, "ngc628c", NGC628C)
    work = copy_workflow(tmp_path / "wf")
    mirror = "downloads/mast"
    config = {"data": {"source": "phangs", "galaxies": ["ngc628c"],
                       "layout": {"base_url": server.base_url},
                       "galaxy_files": {"ngc628c": NGC628C},
                       "download": {"retries": 1, "backoff_s": 0.01, "timeout_s": 5,
                                    "dir": mirror}}}
    (work / "download.yaml").write_text(yaml.safe_dump(config))
    wanted = [f"{mirror}/{r}" for r in files.image_relpaths()[2:4]]
    wanted += [f"{mirror}/{r}" for r in files.catalog_relpaths()[0]]
    server.faults[f"/hlsps/{files.image_relpath(2)}"] = ["500"]
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", *wanted, "--configfile", "download.yaml"],
        cwd=work, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    for w in wanted[:2]:
        rel = w.removeprefix(mirror + "/")
        assert (work / w).read_bytes() == server.files[f"/hlsps/{rel}"]
    assert all((work / w).is_file() for w in wanted[2:])
    assert not (work / "resources").exists()
    log = work / "logs/download" / f"{files.image_relpath(2)}.log"
    assert "HTTP 500" in log.read_text()  # the retry went to the rule's log
