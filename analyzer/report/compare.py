"""``paratune compare`` as text: the two runs, their aligned phases, the differences."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table


def render(result: dict, console: Console, ref: str, other: str, show_all: bool, history: bool) -> None:
    """``ref``/``other``: how to name A and B; ``history``: A is an application's stored runs."""
    console.print(f"[bold]A[/] (reference) {ref}: {result['duration_a']:.0f} s, {result['bottleneck_a']}\n"
                  f"[bold]B[/] {other}: {result['duration_b']:.0f} s, {result['bottleneck_b']}; "
                  "changes are B relative to A")
    if result.get("aligned_phases"):
        console.print("aligned phases: " + ", ".join(f"A{p['a']}↔B{p['b']} {p['label']}"
                                                     for p in result["aligned_phases"]))
    rows = [d for d in result["differences"] if d.significant or show_all]
    effect = "robust z" if history else "effect (d)"
    t = Table(title=f"{sum(d.significant for d in result['differences'])} significant difference(s)",
              title_justify="left")
    for col in ("scope", "metric", "A", "B", "change", effect):
        t.add_column(col, justify="right" if col in ("A", "B", "change", effect) else "left")
    for d in rows:
        style = "bold red" if d.significant else ""
        t.add_row(d.scope, d.metric, f"{d.a:.4g}", f"{d.b:.4g}", f"{d.relative * 100:+.0f}%",
                  f"[{style}]{d.effect:+.2f}[/]" if style else f"{d.effect:+.2f}")
    console.print(t)
