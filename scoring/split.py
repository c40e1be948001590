"""The public/private split of the hidden test set.

The split must never move once a competition has started: a row that scored on the
public leaderboard yesterday must score there today, on any machine and any NumPy or
pandas version. So rows are ordered by a keyed BLAKE2b hash of the id instead of by a
random generator whose stream is only stable within one library version; the same key
and ids give the same split whatever the row order of the solution file.

The hash key is secret: whoever knows it and the test ids knows every row's part. It is
derived (:func:`derive_key`) from the competition's random split key (256 bits, never
shown to participants), with one purpose per derived key, so the debug sample (drawn
with a key of its own) tells nothing about the split. An organizer's ``split_seed``
overrides the split's key with ``str(seed)`` (a reproducible split, as before the
secret key existed); such a seed must then be kept as secret as the labels.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "DEBUG_SAMPLE_PURPOSE",
    "PRIVATE",
    "PUBLIC",
    "SPLIT_PURPOSE",
    "USAGE_COLUMN",
    "USAGE_VALUES",
    "assign_usage",
    "canonical_usage",
    "derive_key",
    "split_hash_key",
    "usage_codes",
]

USAGE_COLUMN = "Usage"
PUBLIC = "Public"
PRIVATE = "Private"
IGNORED = "Ignored"
USAGE_VALUES = (PUBLIC, PRIVATE, IGNORED)

SPLIT_PURPOSE = "public-private-split"
DEBUG_SAMPLE_PURPOSE = "debug-sample"


def derive_key(secret_hex: str, purpose: str) -> bytes:
    """A 32-byte hash key for one purpose from a competition's secret split key (hex).

    Keys of different purposes are independent (a keyed BLAKE2b of the purpose): the
    debug sample's key reveals nothing about the split's. Raises ValueError when the
    secret is not hex or shorter than 128 bits.
    """
    secret = bytes.fromhex(secret_hex)
    if len(secret) < 16:
        raise ValueError("The split key must hold at least 128 bits (32 hex digits).")
    return hashlib.blake2b(purpose.encode(), digest_size=32, key=secret[:64]).digest()


def split_hash_key(*, secret_hex: str, seed: int | None) -> bytes:
    """The hash key of the public/private split: the organizer's seed when set (a
    reproducible override, as secret as the labels), else derived from the secret key."""
    if seed is not None:
        return str(int(seed)).encode()
    return derive_key(secret_hex, SPLIT_PURPOSE)


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


def _hash_keys(ids: pd.Index, key: bytes) -> np.ndarray:
    """Give every id a pseudo-random 64-bit key that depends only on (key, id)."""
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
    seed: int | None = None,
    key: bytes | None = None,
    stratify_column: str | Sequence[str] | None = None,
) -> pd.Series:
    """Return "Public"/"Private" per row of ``solution``, aligned to its index.

    An existing Usage column is the organizer's explicit choice and wins (canonicalised).
    Otherwise ``round(n * public_fraction)`` rows are public. With ``stratify_column``,
    each class gets its proportional share of public rows (largest-remainder rounding),
    provided every class has at least two rows; otherwise the split is unstratified,
    because a one-row class cannot be on both sides anyway. A list of columns (a
    one-hot multiclass target) stratifies by the combination of their values.

    Give the hash ``key`` (see :func:`split_hash_key`) or, for a reproducible split, an
    integer ``seed`` (the key is then ``str(seed)``); exactly one of them, else ValueError.
    """
    if USAGE_COLUMN in solution.columns:
        return canonical_usage(solution[USAGE_COLUMN])
    if not 0.0 <= public_fraction <= 1.0:
        raise ValueError(f"public_fraction must be between 0 and 1; got {public_fraction}.")
    n = len(solution)
    n_public = round(n * public_fraction)
    if (seed is None) == (key is None):
        raise ValueError("Give assign_usage either a hash key or a seed.")
    keys = _hash_keys(solution.index, key if key is not None else str(int(seed or 0)).encode())
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
        strata = solution[wanted[0]].astype(str)
        for column in wanted[1:]:
            strata = strata + "\x1f" + solution[column].astype(str)
        codes, uniques = pd.factorize(strata, sort=True)
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
