#!/usr/bin/env python3
"""Runs a benchmark command of two builds in turn and prints every figure of the new one beside the old one's.

usage: bench-compare.py RUNS NEW_CMD OLD_CMD

Both commands are run RUNS times, alternating (new, old, new, old, ...), so both share the machine's state of each
moment. A figure is a number in a line; lines are matched by their text with the numbers taken out. For each line
the medians over the runs are printed, and for each figure new/old (below 1.00 is faster when the figure is a time,
slower when it is a rate: the line says which it is).
"""
import re
import statistics
import subprocess
import sys

NUMBER = re.compile(r"(?<![A-Za-z_\d.])-?\d+(?:\.\d+)?")


def figures(output):
    lines = {}
    for line in output.splitlines():
        key = NUMBER.sub("#", line).strip()
        values = [float(v) for v in NUMBER.findall(line)]
        if values:
            lines.setdefault(key, (line, values))
    return lines


def main():
    runs, new_cmd, old_cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    samples = {"new": [], "old": []}
    for _ in range(runs):
        for name, command in (("new", new_cmd), ("old", old_cmd)):
            result = subprocess.run(command, shell=True, capture_output=True, text=True)
            if result.returncode != 0:
                sys.exit(f"{name}: {command} failed ({result.returncode}): {result.stderr[-400:]}")
            samples[name].append(figures(result.stdout))
    keys = list(samples["new"][0].keys())
    for key in keys:
        new = [s[key][1] for s in samples["new"] if key in s]
        old = [s[key][1] for s in samples["old"] if key in s]
        line = samples["new"][0][key][0]
        if not old:
            print(f"{line}\n    (no such figure in the old build)")
            continue
        width = min(len(v) for v in new + old)
        new_medians = [statistics.median(v[i] for v in new) for i in range(width)]
        old_medians = [statistics.median(v[i] for v in old) for i in range(width)]
        ratios = [f"{n:g}/{o:g} = {n / o:.2f}" if o else f"{n:g}/{o:g}" for n, o in zip(new_medians, old_medians)]
        print(f"{line}\n    new/old (median of {runs}): " + "; ".join(ratios))


if __name__ == "__main__":
    main()
