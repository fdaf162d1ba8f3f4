"""Plain reference for analyzer.phases._cap: the merges done one by one on a
list, the cheapest found by a full scan each time (leftmost on ties)."""
from __future__ import annotations

import math


def cap(run, phases, limit):
    phases = list(phases)

    def rise(i):
        p, q = phases[i], phases[i + 1]
        if p.end_i in run.breaks:
            return math.inf
        return run.cost(p.start_i, q.end_i) - run.cost(p.start_i, p.end_i) - run.cost(q.start_i, q.end_i)

    def same(i):
        return (0 <= i < len(phases) - 1 and phases[i].label == phases[i + 1].label
                and phases[i].end_i not in run.breaks)

    while len(phases) > limit:
        rises = [rise(i) for i in range(len(phases) - 1)]
        if not rises or min(rises) == math.inf:
            break
        i = rises.index(min(rises))
        phases[i:i + 2] = [run.phase(phases[i].start_i, phases[i + 1].end_i)]
        while True:
            if same(i - 1):
                i -= 1
                phases[i:i + 2] = [run.phase(phases[i].start_i, phases[i + 1].end_i)]
            elif same(i):
                phases[i:i + 2] = [run.phase(phases[i].start_i, phases[i + 1].end_i)]
            else:
                break
    return phases
