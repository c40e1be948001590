"""The public/private split of the hidden test set.

The split must never move once a competition has started: a row that scored on the
public leaderboard yesterday must score there today, on any machine and any NumPy or
pandas version. So rows are ordered by a keyed BLAKE2b hash of ``(seed, id)`` instead of
by a random generator whose stream is only stable within one library version; the
same seed and ids give the same split whatever the row order of the solution file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "PRIVATE",
    "PUBLIC",
    "USAGE_COLUMN",
    "USAGE_VALUES",
    "assign_usage",
    "canonical_usage",
    "usage_codes",
]

USAGE_COLUMN = "Usage"
PUBLIC = "Public"
PRIVATE = "Private"
IGNORED = "Ignored"
USAGE_VALUES = (PUBLIC, PRIVATE, IGNORED)


def usage_codes(usage: pd.Series) -> np.ndarray:
    """Return 0/1/2 for Public/Private/Ignored per row, matched case-insensitively.

    Organizers write "public", "PRIVATE " and the like by hand; accept those, but refuse
    anything else (ValueError) rather than silently leaving a row out of both
    leaderboards. Only the distinct spellings are canonicalised, so a million-row
    solution costs one factorisation (nothing at all for a categorical column).
    """
    lookup = {value.lower(): code for code, value in enumerate(USAGE_VALUES)}
    codes, uniques = pd.factorize(usage, use_na_sentinel=False)
    mapped = np.array([lookup.get(str(u).strip().lower(), -1) for u in uniques] + [-1])
    result = mapped[codes]
    bad = result < 0
    if bad.any():
        shown = usage[bad].head(5)
        examples = ", ".join(f"{idx}: {value!r}" for idx, value in shown.items())
        raise ValueError(
            f"The {USAGE_COLUMN} column has {int(bad.sum())} value(s) other than "
            f"{'/'.join(USAGE_VALUES)} (first: {examples})."
        )
    return result


def canonical_usage(usage: pd.Series) -> pd.Series:
    """Map Usage values case-insensitively to Public/Private/Ignored, or raise ValueError."""
    names = np.array(USAGE_VALUES, dtype=object)[usage_codes(usage)]
    return pd.Series(names, index=usage.index, name=USAGE_COLUMN, dtype=object)


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
    stratify_column: str | Sequence[str] | None = None,
) -> pd.Series:
    """Return "Public"/"Private" per row of ``solution``, aligned to its index.

    An existing Usage column is the organizer's explicit choice and wins (canonicalised).
    Otherwise ``round(n * public_fraction)`` rows are public. With ``stratify_column``,
    each class gets its proportional share of public rows (largest-remainder rounding),
    provided every class has at least two rows; otherwise the split is unstratified,
    because a one-row class cannot be on both sides anyway. A list of columns (a
    one-hot multiclass target) stratifies by the combination of their values.
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
        wanted = [stratify_column] if isinstance(stratify_column, str) else list(stratify_column)
        absent = [c for c in wanted if c not in solution.columns]
        if absent:
            raise ValueError(
                f"Cannot stratify the split by {', '.join(map(repr, absent))}: the solution "
                f"has no such column (columns: {', '.join(map(str, solution.columns))})."
            )
        # Several columns (one-hot classes) stratify by their combination, i.e. the class.
        key = solution[wanted[0]].astype(str)
        for column in wanted[1:]:
            key = key + "\x1f" + solution[column].astype(str)
        codes, uniques = pd.factorize(key, sort=True)
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
