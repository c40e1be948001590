"""Names people choose (team names, usernames): normalised, and compared by look-alike key.

Plain Python, no Django. `name_normalize` gives the form a name is stored in (Unicode NFKC,
runs of spaces made one, no leading/trailing space) and refuses invisible or control
characters. `name_key` gives the key two names are compared by: the Unicode TR39 skeleton
of the case-folded name, with every character then replaced by the representative of its
look-alike class (classes joined both by confusables and by case, so that "I" looking like
"l" makes "i" and "l" one class). "bob", "BOB", "b\u043eb" (with a Cyrillic o), "b0b" get one
key, and so do "alice", "ALICE", "aIice" and "a1ice"; such names cannot stand next to each
other. Over-blocking (two names that differ to a careful reader sharing a key) is accepted;
under-blocking is not.

Invisible characters are refused: control and format characters (categories below) and
every Default_Ignorable_Code_Point of Unicode's DerivedCoreProperties (Hangul fillers
U+115F, U+1160, U+3164, U+FFA0, variation selectors, U+034F, U+180B-U+180F, ...), which
several have category Lo or Mn and so pass a category check. The property comes from the
`regex` package (kept current with each Unicode release), not from a home-made table.
Unicode has no property for the few other characters fonts draw as blank (U+2800 BRAILLE
PATTERN BLANK, U+1D159 MUSICAL SYMBOL NULL NOTEHEAD, ...): BLANK_LOOKING names them, found
by searching the Unicode names for BLANK, FILLER, NULL and SPACE outside the categories and
the property above (spaces themselves become one U+0020 by NFKC and the joining of runs).

A character carries at most MAX_MARKS_PER_BASE combining marks (categories Mn, Me, after
NFKC composed what it can): enough for Vietnamese, Thai or pointed Hebrew, while "e" with
98 combining accents smears over the rows above and below it on a leaderboard.

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

import regex

DATA = Path(__file__).resolve().parent / "data" / "confusables.txt"

# Control, format (zero-width, bidi overrides), surrogate, private-use and unassigned
# characters, and line/paragraph separators: invisible, or render differently per system.
REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
# Characters Unicode says render as nothing (DerivedCoreProperties.txt).
# Case pairs joined below this code point (see _classes): the Basic Multilingual Plane.
CASE_CLASSES_BELOW = 0x10000
DEFAULT_IGNORABLE = regex.compile(r"\p{Default_Ignorable_Code_Point}")
# Drawn as blank but neither ignorable nor a space (see the module's docstring). The Hangul
# fillers are Default_Ignorable already and are listed so that this set reads complete.
BLANK_LOOKING = frozenset(
    "\u115f\u1160\u3164\uffa0"  # Hangul choseong/jungseong/compatibility/halfwidth fillers
    "\u2800"  # braille pattern blank
    "\u303f"  # ideographic half fill space
    "\U00016fe4"  # Khitan small script filler
    "\U0001d159"  # musical symbol null notehead
    "\U0001da7f\U0001da80"  # SignWriting wallplane and floorplane spaces
)
MARK_CATEGORIES = {"Mn", "Me"}
MAX_MARKS_PER_BASE = 3


def _invisible(char: str) -> bool:
    """True for a character refused in names (tab/newline/CR aside: they become spaces)."""
    if char in "\t\n\r":
        return False
    return unicodedata.category(char) in REFUSED_CATEGORIES or bool(DEFAULT_IGNORABLE.match(char))


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


def name_check_visible(text: str, *, what: str = "A name") -> None:
    """Raise InvalidName (a ValueError) naming the first invisible, blank-looking or
    control character of `text` (see REFUSED_CATEGORIES, DEFAULT_IGNORABLE and
    BLANK_LOOKING), checked before and after NFKC (U+3164 HANGUL FILLER becomes U+1160,
    which is ignorable too), or the first character carrying more than
    MAX_MARKS_PER_BASE combining marks after NFKC."""
    composed = unicodedata.normalize("NFKC", text)
    for char in text + composed:
        # BLANK_LOOKING is refused here only: name_key stays as the stored keys were made.
        if _invisible(char) or char in BLANK_LOOKING:
            raise InvalidName(
                f"{what} cannot contain invisible, blank-looking or control characters; this "
                f"one has {_describe(char)}."
            )
    base, marks = "", 0
    for char in composed:
        if unicodedata.category(char) not in MARK_CATEGORIES:
            base, marks = char, 0
            continue
        marks += 1
        if marks > MAX_MARKS_PER_BASE:
            shown = f"{base!r}" if base else "the start"
            raise InvalidName(
                f"{what} may put at most {MAX_MARKS_PER_BASE} accents (combining marks) on "
                f"one character; this one puts more on {shown}."
            )


def name_normalize(raw: str, *, what: str = "A name", max_length: int | None = None) -> str:
    """The stored form of a name: NFKC, single spaces, no leading/trailing space.

    Raises InvalidName (a ValueError) when the name is empty, holds a control or invisible
    formatting character (named in the message with its code point), or is longer than
    `max_length` characters after normalisation.
    """
    name_check_visible(raw, what=what)
    text = unicodedata.normalize("NFKC", raw)
    text = " ".join(text.split())
    if not text:
        raise InvalidName(f"{what} cannot be empty.")
    if max_length is not None and len(text) > max_length:
        raise InvalidName(f"{what} has at most {max_length} characters; this one has {len(text)}.")
    return text


def name_key(name: str) -> str:
    """The look-alike key of a name (str -> str, never raises).

    NFKC, invisible characters and spaces dropped, TR39 skeleton, case-folded, skeleton
    again (_fold), then each character replaced by its look-alike class's representative
    (_classes). Two names with
    the same key look alike (case, width, confusable letters of other scripts, spacing and
    invisible characters aside); keep at most one of them.
    """
    text = unicodedata.normalize("NFKC", name)
    text = "".join(ch for ch in text if not _invisible(ch))
    text = "".join(text.split())
    classes = _classes()
    skeleton = _fold(text)
    return unicodedata.normalize("NFD", "".join(classes.get(ch, ch) for ch in skeleton))


@functools.cache
def _classes() -> dict[str, str]:
    """Each character to the representative (lowest code point) of its look-alike class.

        _fold alone loses confusables that hold only between cases: "I" (capital i) folds to
        "l", "i" stays "i". So for every character c, _fold(c) is joined with _fold of c's
        upper, lower and case-folded forms (i with l, 0/O with o), transitively, where both
        are one character or differ in one position. Known gap: a case pair whose folds have
        different lengths (Greek capital eta "H" and small eta "n" + mark, some hooked Latin
        letters) is not joined, nor are case pairs outside the Basic Multilingual Plane
    (Deseret, Osage, Warang Citi: joining them made "0" one with "6" and "r" with "t"
    through letters few fonts draw); the skeleton side is complete (checked for every code
    point).
    """
    parent: dict[str, str] = {}

    def find(ch: str) -> str:
        parent.setdefault(ch, ch)
        while parent[ch] != ch:
            parent[ch] = parent[parent[ch]]
            ch = parent[ch]
        return ch

    for code in range(CASE_CLASSES_BELOW):
        if 0xD800 <= code <= 0xDFFF:
            continue
        ch = chr(code)
        variants = {ch.casefold(), ch.lower(), ch.upper()} - {ch}
        for a, b in ((_fold(ch), _fold(variant)) for variant in variants):
            if a == b or len(a) != len(b):
                continue
            differ = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
            if len(differ) == 1:  # "H" against "n" + combining mark: join h with n only
                (x, y) = differ[0]
                rx, ry = find(x), find(y)
                if rx != ry:
                    parent[max(rx, ry)] = min(rx, ry)
    return {ch: find(ch) for ch in parent if find(ch) != ch}


def _fold(text: str) -> str:
    return _skeleton(_skeleton(text).casefold())


def _skeleton(text: str) -> str:
    table = _prototypes()
    mapped = "".join(table.get(ch, ch) for ch in unicodedata.normalize("NFD", text))
    return unicodedata.normalize("NFD", mapped)
