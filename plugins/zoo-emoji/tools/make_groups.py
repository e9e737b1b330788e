"""Write ``zoo_emoji/emoji-groups.txt`` from Unicode's ``emoji-test.txt``.

    python plugins/zoo-emoji/tools/make_groups.py emoji-test.txt

``emoji-test.txt`` is Unicode's keyboard/display test data for UTS #51
(https://www.unicode.org/Public/17.0.0/emoji/emoji-test.txt for Emoji 17.0). The table keeps the group
of every single-code-point emoji as ranges of consecutive code points, and only those sequences whose
group the rules of ``zoo_emoji.groups`` would get wrong from their first code point; the script checks
that the written table gives Unicode's group for every sequence of the file.
"""

from __future__ import annotations

import sys
from pathlib import Path

from zoo_emoji.groups import GROUPS, TABLE, VS16, GroupTable, parse

OUT = Path(__file__).resolve().parent.parent / "zoo_emoji" / TABLE


def read_test_file(path: Path) -> tuple[list[str], dict[tuple[int, ...], str]]:
    """(header lines to keep, sequence without VS16 -> group name) of every listed emoji."""
    header, groups, group = [], {}, None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(("# Date:", "# Version:", "# ©", "# For terms of use")):
            header.append(line)
        elif line.startswith("# group:"):
            group = line.partition(":")[2].strip()
        elif line.strip() and not line.startswith("#"):
            cps = tuple(cp for cp in (int(c, 16) for c in line.partition(";")[0].split()) if cp != VS16)
            groups[cps] = group
    return header, groups


def ranges_of(singles: dict[int, str]) -> list[tuple[int, int, str]]:
    out: list[tuple[int, int, str]] = []
    for cp in sorted(singles):
        if out and out[-1][1] == cp - 1 and out[-1][2] == singles[cp]:
            out[-1] = (out[-1][0], cp, singles[cp])
        else:
            out.append((cp, cp, singles[cp]))
    return out


def main(path: str) -> None:
    header, groups = read_test_file(Path(path))
    unknown = set(groups.values()) - set(GROUPS)
    if unknown:
        raise SystemExit(f"groups not in zoo_emoji.groups.GROUPS: {sorted(unknown)}")
    ranges = ranges_of({cps[0]: g for cps, g in groups.items() if len(cps) == 1})
    by_rule = GroupTable(tuple(r[0] for r in ranges), tuple(r[1] for r in ranges),
                         tuple(GROUPS.index(r[2]) for r in ranges))
    exceptions = {cps: g for cps, g in sorted(groups.items()) if GROUPS[by_rule.group(cps)] != g}
    lines = [
        "# Unicode emoji group of single code points (ranges) and of the sequences whose group is not their",
        "# first code point's; read by zoo_emoji.groups. Made by tools/make_groups.py from emoji-test.txt:",
        *header,
        *(f"{a:04X}..{b:04X} ; {g}" if a != b else f"{a:04X} ; {g}" for a, b, g in ranges),
        *(" ".join(f"{cp:04X}" for cp in cps) + f" ; {g}" for cps, g in exceptions.items()),
    ]
    text = "\n".join(lines) + "\n"
    written = parse(text)
    wrong = [cps for cps, g in groups.items() if GROUPS[written.group(cps)] != g]
    if wrong:
        raise SystemExit(f"{len(wrong)} sequences get the wrong group, e.g. {wrong[0]}")
    OUT.write_text(text, encoding="utf-8")
    print(f"{OUT}: {len(ranges)} ranges, {len(exceptions)} exceptions, {len(groups)} sequences checked")


if __name__ == "__main__":
    main(sys.argv[1])
