"""Which cutouts share pixels, and the groups (connected components) they chain into.

Two clusters' cutouts share pixels when they lie in the same galaxy and their centres (the
catalog V-band position rounded to a pixel, as cutouts.extract centres them) differ by less than
the cutout side in both x and y. The search sorts each galaxy's centres by x and compares every
centre with its next k-th neighbour in that order for k = 1, 2, ... while any such pair is
closer than a side in x: O(N k) vectorised work, k being the most centres in one strip of a side's
width, never an N x N table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _centres(clusters: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    galaxy = pd.factorize(clusters["galaxy"].astype(str).to_numpy())[0]
    x = np.rint(clusters["x"].to_numpy(dtype=float)).astype(np.int64)
    y = np.rint(clusters["y"].to_numpy(dtype=float)).astype(np.int64)
    return galaxy, x, y


def pairs(clusters: pd.DataFrame, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Row pairs (i, j), i < j, of clusters whose ``size``-pixel cutouts share pixels."""
    galaxy, x, y = _centres(clusters)
    order = np.lexsort((x, galaxy))           # by galaxy, then x
    g, xs, ys = galaxy[order], x[order], y[order]
    out_i, out_j = [], []
    k = 1
    while k < len(order):
        near_x = (g[k:] == g[:-k]) & (xs[k:] - xs[:-k] < size)
        if not near_x.any():
            break                              # sorted by x: farther neighbours are farther still
        hit = near_x & (np.abs(ys[k:] - ys[:-k]) < size)
        a = np.flatnonzero(hit)
        out_i.append(order[a])
        out_j.append(order[a + k])
        k += 1
    if not out_i:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    i, j = np.concatenate(out_i), np.concatenate(out_j)
    return np.minimum(i, j), np.maximum(i, j)


def components(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Connected-component label of each of n nodes given edges (i, j): the smallest member.

    Label propagation with pointer jumping: each round every edge pulls both ends, and the
    labels they point at, to the smaller label; then labels follow their own label's label until
    they stop changing. Labels only fall and always name a member, so the fixed point is the
    component's smallest row.
    """
    label = np.arange(n, dtype=np.int64)
    if len(i) == 0:
        return label
    while True:
        before = label.copy()
        low = np.minimum(label[i], label[j])
        for end in (i, j):                     # hook both ends and their current roots
            np.minimum.at(label, label[end], low)
            np.minimum.at(label, end, low)
        while True:                            # pointer jumping: label <- label[label]
            jumped = label[label]
            if np.array_equal(jumped, label):
                break
            label = jumped
        if np.array_equal(label, before):
            return label


def overlapping_train(clusters: pd.DataFrame, split_of_row: np.ndarray, size: int) -> np.ndarray:
    """Per row: True for a test cluster whose cutout shares pixels with a train cluster's.

    ``split_of_row`` holds 'train', 'validation', 'test' or '' (not used) per dataset row.
    """
    i, j = pairs(clusters, size)
    s = np.asarray(split_of_row)
    hit = np.zeros(len(clusters), bool)
    a = (s[i] == "test") & (s[j] == "train")
    b = (s[j] == "test") & (s[i] == "train")
    hit[i[a]] = True
    hit[j[b]] = True
    return hit
