#!/usr/bin/env python3
"""Writes crates/berth/symbol-order.txt from a traced daemon (see scripts/symbol-order.sh).

Inputs: the lld map of the traced binary, `perf script` lines of the daemon's user page faults
(taken with read-ahead off, so each fault is one 4 KiB page the daemon touched first), and the
current order file. A function goes into the new list when a fault landed in it, when it was
listed before and a page it covers was touched (a listed function next to an earlier one faults
no more: without this rule a second run would drop it), or when it shares a touched page that
holds no listed function. Functions are listed in the order the
daemon first touched them, so start-up code sits together ahead of the request paths.
"""
import bisect
import re
import sys

LINE = re.compile(r"^\s*([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+ (\s*)(\S.*)$")
SECTION = re.compile(r":\(\.text\.([^)\s]+)\)$")
FAULT = re.compile(r"^\s*\S+\s+(\d+)/\d+\s+([0-9.]+):.*address=0x([0-9a-f]+)")


def text_sections(map_path):
    """(address, size, symbol) of every function section (`.text.<symbol>`) in the output .text."""
    sections, out = [], None
    with open(map_path, errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if not m:
                continue
            addr, size, indent, rest = int(m.group(1), 16), int(m.group(2), 16), len(m.group(3)), m.group(4)
            if indent == 0:
                out = rest
            elif out == ".text" and indent == 8 and size:
                name = SECTION.search(rest)
                if name:
                    sections.append((addr, size, name.group(1)))
    sections.sort()
    return sections


def faults(perf_lines, daemon_pid):
    """(time, address) of the daemon's page faults, oldest first. The CLI's are left out:
    listing its functions after the daemon's spread the daemon's over more of the text."""
    found = []
    with open(perf_lines) as f:
        for line in f:
            m = FAULT.match(line)
            if m and m.group(1) == daemon_pid:
                found.append((float(m.group(2)), int(m.group(3), 16)))
    found.sort()
    return found


def main():
    map_path, perf_lines, daemon_pid, old_path, new_path = sys.argv[1:6]
    sections = text_sections(map_path)
    if not sections:
        sys.exit("no function sections found in the linker map")
    starts = [s[0] for s in sections]
    lo, hi = sections[0][0], sections[-1][0] + sections[-1][1]
    try:
        old = {line.strip() for line in open(old_path) if line.strip() and not line.startswith("#")}
    except FileNotFoundError:
        old = set()
    page_first = {}
    section_first = {}
    for t, a in faults(perf_lines, daemon_pid):
        if not lo <= a < hi:
            continue
        page_first.setdefault(a >> 12, t)
        i = bisect.bisect_right(starts, a) - 1
        if i >= 0 and a < sections[i][0] + sections[i][1]:
            section_first.setdefault(i, t)
    if not section_first:
        sys.exit("no daemon faults in the binary's text: was the trace taken?")
    def pages(i):
        addr, size, _ = sections[i]
        return range(addr >> 12, ((addr + size - 1) >> 12) + 1)

    listed_pages = {p for i, s in enumerate(sections) if s[2] in old for p in pages(i)}
    chosen = dict(section_first)
    for i, (_, _, name) in enumerate(sections):
        if i in chosen:
            continue
        touched = [p for p in pages(i) if p in page_first]
        # Listed functions stay while their pages are used. On a touched page outside the
        # list, only the first function run there faulted; the others on it may have run too,
        # so all of them are taken (a few too many, instead of one more round per page).
        if touched and (name in old or not any(p in listed_pages for p in touched)):
            chosen[i] = min(page_first[p] for p in touched)
    order = sorted(chosen, key=lambda i: (chosen[i], sections[i][0]))
    with open(new_path, "w") as f:
        for i in order:
            f.write(sections[i][2] + "\n")
    size = sum(sections[i][1] for i in order)
    print(f"{len(order)} functions, {size // 1024} KiB of {(hi - lo) // 1024} KiB text; {len(page_first)} pages touched")


if __name__ == "__main__":
    main()
