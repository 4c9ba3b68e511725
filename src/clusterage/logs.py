"""Logging for workflow scripts: one readable line per event, everything into the rule's log."""

from __future__ import annotations

import logging
import os
import sys


def to_file(path: str | None, level: int = logging.INFO) -> None:
    """Send stderr (Python's and native libraries', e.g. TensorFlow's) and log lines to ``path``."""
    if path:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        # O_APPEND: lines others add to the same file (clusterage.runlock) are not overwritten.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        sys.stderr.flush()
        os.dup2(fd, 2)
        os.close(fd)
        sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
    logging.basicConfig(level=level, stream=sys.stderr, force=True,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        datefmt="%Y-%m-%d %H:%M:%S")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
