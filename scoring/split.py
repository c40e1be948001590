"""The public/private split of the hidden test set.

The split must never move once a competition has started: a row that scored on the
public leaderboard yesterday must score there today, on any machine and any NumPy or
pandas version. So rows are ordered by a keyed BLAKE2b hash of ``(seed, id)`` instead of
by a random generator whose stream is only stable within one library version; the
same seed and ids give the same split whatever the row order of the solution file.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

__all__ = ["PRIVATE", "PUBLIC", "USAGE_COLUMN", "USAGE_VALUES", "assign_usage", "canonical_usage"]

USAGE_COLUMN = "Usage"
PUBLIC = "Public"
PRIVATE = "Private"
IGNORED = "Ignored"
USAGE_VALUES = (PUBLIC, PRIVATE, IGNORED)


def canonical_usage(usage: pd.Series) -> pd.Series:
    """Map Usage values case-insensitively to Public/Private/Ignored, or raise ValueError.

    Organizers write "public", "PRIVATE " and the like by hand; accept those, but refuse
    anything else rather than silently leaving a row out of both leaderboards.
    """
    lookup = {value.lower(): value for value in USAGE_VALUES}
    # Canonicalise the few distinct spellings, not a million cells.
    codes, uniques = pd.factorize(usage.astype(object), use_na_sentinel=False)
    mapped = np.array([lookup.get(str(u).strip().lower()) for u in uniques] + [None], dtype=object)
    canonical = pd.Series(mapped[codes], index=usage.index, dtype=object)
    bad = canonical.isna()
    if bad.any():
        examples = ", ".join(f"{idx}: {value!r}" for idx, value in usage[bad].head(5).items())
        raise ValueError(
            f"The {USAGE_COLUMN} column has {int(bad.sum())} value(s) other than "
            f"{'/'.join(USAGE_VALUES)} (first: {examples})."
        )
    return canonical.astype(object).rename(USAGE_COLUMN)


def _hash_keys(ids: pd.Index, seed: int) -> np.ndarray:
    """Give every id a pseudo-random 64-bit key that depends only on (seed, id)."""
    key = str(int(seed)).encode()
    return np.fromiter(
        (
            int.from_bytes(
                hashlib.blake2b(str(i).encode(), digest_size=8, key=key).digest(), "little"
            )
            for i in ids
        ),
        dtype=np.uint64,
        count=len(ids),
    )


def _largest_remainder(sizes: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` over groups in proportion to ``sizes``, summing exactly to total."""
    quotas = sizes * (total / sizes.sum())
    counts = np.floor(quotas).astype(np.int64)
    remaining = total - int(counts.sum())
    if remaining > 0:
        # Stable sort so ties go to the earlier group (groups are sorted by label).
        order = np.argsort(-(quotas - counts), kind="stable")
        counts[order[:remaining]] += 1
    return np.minimum(counts, sizes)


def assign_usage(
    solution: pd.DataFrame,
    *,
    public_fraction: float,
    seed: int,
    stratify_column: str | None = None,
) -> pd.Series:
    """Return "Public"/"Private" per row of ``solution``, aligned to its index.

    An existing Usage column is the organizer's explicit choice and wins (canonicalised).
    Otherwise ``round(n * public_fraction)`` rows are public. With ``stratify_column``,
    each class gets its proportional share of public rows (largest-remainder rounding),
    provided every class has at least two rows; otherwise the split is unstratified,
    because a one-row class cannot be on both sides anyway.
    """
    if USAGE_COLUMN in solution.columns:
        return canonical_usage(solution[USAGE_COLUMN])
    if not 0.0 <= public_fraction <= 1.0:
        raise ValueError(f"public_fraction must be between 0 and 1; got {public_fraction}.")
    n = len(solution)
    n_public = round(n * public_fraction)
    keys = _hash_keys(solution.index, seed)
    public = np.zeros(n, dtype=bool)

    classes = None
    if stratify_column is not None:
        if stratify_column not in solution.columns:
            raise ValueError(
                f"Cannot stratify the split by {stratify_column!r}: the solution has no such "
                f"column (columns: {', '.join(map(str, solution.columns))})."
            )
        codes, uniques = pd.factorize(solution[stratify_column].astype(str), sort=True)
        sizes = np.bincount(codes, minlength=len(uniques))
        if len(uniques) > 0 and sizes.min() >= 2:
            classes = (codes, sizes)

    if classes is None:
        order = np.argsort(keys, kind="stable")
        public[order[:n_public]] = True
    else:
        codes, sizes = classes
        per_class = _largest_remainder(sizes, n_public)
        order = np.lexsort((keys, codes))  # by class, then by hash key within the class
        sorted_codes = codes[order]
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        rank_in_class = np.arange(n) - starts[sorted_codes]
        public[order] = rank_in_class < per_class[sorted_codes]

    return pd.Series(
        np.where(public, PUBLIC, PRIVATE).astype(object), index=solution.index, name=USAGE_COLUMN
    )
