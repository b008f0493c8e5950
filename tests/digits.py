"""scikit-learn's bundled digits (8x8 images, 10 classes): no download needed."""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=None)
def load(seed: int = 0):
    """Standardised float32 features, split 75/25 into (x_train, y_train, x_test, y_test)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=0.25, random_state=seed, stratify=y
    )
    mean, std = x_tr.mean(0), x_tr.std(0) + 1.0
    return (
        ((x_tr - mean) / std).astype(np.float32),
        y_tr.astype(np.int32),
        ((x_te - mean) / std).astype(np.float32),
        y_te.astype(np.int32),
    )
