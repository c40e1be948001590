"""Names people choose (team names, usernames): normalised, and compared by look-alike key.

Plain Python, no Django. `name_normalize` gives the form a name is stored in (Unicode NFKC,
runs of spaces made one, no leading/trailing space) and refuses invisible or control
characters. `name_key` gives the key two names are compared by: the Unicode TR39 skeleton
of the case-folded name, so "bob", "BOB", "b\u043eb" (with a Cyrillic o) and "b0b" get one
key (the confusables Unicode lists) and cannot stand next to each other.

The skeleton comes from Unicode's own confusables.txt (UTS #39, version 13.0.0, shipped
in competitions/data/). No maintained PyPI library exposes TR39 skeletons without a C
build: confusable-homoglyphs only detects mixed scripts (no key to make unique), the
`confusables` package is unmaintained and returns sets of candidates, and ICU's
SpoofChecker (PyICU) needs libicu headers and a compiler.
"""

from __future__ import annotations

import functools
import unicodedata
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "confusables.txt"

# Control, format (zero-width, bidi overrides), surrogate, private-use and unassigned
# characters, and line/paragraph separators: invisible, or render differently per system.
REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


class InvalidName(ValueError):
    """A name that cannot be used; the message says which character and why."""


@functools.cache
def _prototypes() -> dict[str, str]:
    table: dict[str, str] = {}
    for line in DATA.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        source, target = line.split("\t")
        table[chr(int(source, 16))] = "".join(chr(int(cp, 16)) for cp in target.split())
    return table


def _describe(char: str) -> str:
    return f"U+{ord(char):04X} {unicodedata.name(char, 'unnamed character')}"


def name_normalize(raw: str, *, what: str = "A name", max_length: int | None = None) -> str:
    """The stored form of a name: NFKC, single spaces, no leading/trailing space.

    Raises InvalidName (a ValueError) when the name is empty, holds a control or invisible
    formatting character (named in the message with its code point), or is longer than
    `max_length` characters after normalisation.
    """
    text = unicodedata.normalize("NFKC", raw)
    for char in text:
        if unicodedata.category(char) in REFUSED_CATEGORIES and char not in "\t\n\r":
            raise InvalidName(
                f"{what} cannot contain invisible or control characters; this one has "
                f"{_describe(char)}."
            )
    text = " ".join(text.split())
    if not text:
        raise InvalidName(f"{what} cannot be empty.")
    if max_length is not None and len(text) > max_length:
        raise InvalidName(f"{what} has at most {max_length} characters; this one has {len(text)}.")
    return text


def name_key(name: str) -> str:
    """The look-alike key of a name: the TR39 skeleton of its case-folded NFKC form.

    Two names with the same key look alike (case, width, confusable letters of other
    scripts, spacing and invisible characters aside); keep at most one of them.
    """
    text = unicodedata.normalize("NFKC", name)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in REFUSED_CATEGORIES)
    text = "".join(text.split())
    # Skeleton, case-fold, skeleton again: prototypes are of mixed case ("I" -> "l",
    # "0" -> "O"), so folding between two passes lets every case variant meet.
    return _skeleton(_skeleton(text).casefold())


def _skeleton(text: str) -> str:
    table = _prototypes()
    mapped = "".join(table.get(ch, ch) for ch in unicodedata.normalize("NFD", text))
    return unicodedata.normalize("NFD", mapped)
