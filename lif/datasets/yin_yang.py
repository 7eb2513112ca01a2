"""The Yin-Yang data set (Kriener, Göltz & Petrovici 2021, arXiv:2102.08211).

Points (x, y) uniform in the disc of radius r_big centred at (r_big, r_big) (the unit square for
r_big = 0.5), in three classes by the published region rule, with

    d_right = |(x, y) - (1.5 r_big, r_big)|,   d_left = |(x, y) - (0.5 r_big, r_big)|
    dot  (2):  d_right < r_small  or  d_left < r_small
    else 1 if d_right <= r_small  or  r_small < d_left <= r_big / 2  or  (y > r_big and d_right > r_big / 2)
    else 0

(1 is the half the publication's code calls ``is_yin``; its class names are yin, yang, dot for
labels 0, 1, 2). Each sample draws its class first, uniformly, then draws points until one of
that class comes up (rejection sampling: balanced classes, although the dots are small). The
inputs are (x, y, 1 - x, 1 - y): the mirrored pair lets neurons without a bias see every
coordinate both ways.

The generator repeats the publication's draws exactly (NumPy's RandomState(seed): per sample
one randint(3), then pairs of rand() scaled by 2 r_big), so seeds 42 / 41 / 40 give the
published training / validation / test sets. A shallow (linear) classifier reaches about 64 %,
a 4-120-3 ANN about 98.7 %.
"""

from __future__ import annotations

import numpy as np

CLASS_NAMES = ("yin", "yang", "dot")


def yin_yang_class(x: np.ndarray, y: np.ndarray, r_small: float = 0.1, r_big: float = 0.5) -> np.ndarray:
    """The class (0, 1, 2) of points (x, y) inside the disc, by the region rule above."""
    d_right = np.hypot(x - 1.5 * r_big, y - r_big)
    d_left = np.hypot(x - 0.5 * r_big, y - r_big)
    one = (d_right <= r_small) | ((d_left > r_small) & (d_left <= 0.5 * r_big)) | ((y > r_big) & (d_right > 0.5 * r_big))
    dot = (d_right < r_small) | (d_left < r_small)
    return np.where(dot, 2, one.astype(np.int64))


def yin_yang(num_samples: int, seed: int, r_small: float = 0.1, r_big: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """(inputs [P, 4] = (x, y, 1-x, 1-y) in [0, 2 r_big], labels [P]) drawn as the publication draws them."""
    random = np.random.RandomState(seed)
    points = np.empty((num_samples, 2))
    labels = np.empty(num_samples, dtype=np.int64)
    for sample in range(num_samples):
        goal = random.randint(3)
        while True:
            x, y = random.rand(2) * 2.0 * r_big
            if np.hypot(x - r_big, y - r_big) > r_big:
                continue
            if int(yin_yang_class(np.array(x), np.array(y), r_small, r_big)) == goal:
                break
        points[sample] = x, y
        labels[sample] = goal
    inputs = np.concatenate([points, 2.0 * r_big - points], axis=1)
    return inputs, labels
