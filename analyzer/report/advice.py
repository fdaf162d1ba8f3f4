"""``paratune advise`` as text: the allocation, the notes, the options to paste, the node classes."""
from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from analyzer.advice import WARN, Advice
from analyzer.report.format import human_bytes, span


def allocation_line(adv: Advice) -> str:
    al = adv.allocation
    if not al.known:
        return f"no Slurm allocation recorded: compared with the node ({al.cpus} CPUs, {human_bytes(al.mem_bytes)})"
    parts = [f"{al.cpus} CPUs", f"{human_bytes(al.mem_bytes)} memory" if al.mem_bytes else "memory unlimited",
             f"time limit {span(al.time_limit_s)}" if al.time_limit_s else "no time limit"]
    if al.gpus:
        parts.append(f"{al.gpus} GPU(s)")
    if al.licenses:
        parts.append(f"licences {al.licenses}")
    return f"{al.nodes} node(s) × " + ", ".join(parts) + f"  (from {al.source})"


def options(adv: Advice) -> str:
    """The suggested options, one per kind, as one sbatch line."""
    seen, opts = set(), []
    for n in adv.notes:
        if n.suggest and n.suggest.split("=")[0] not in seen:
            seen.add(n.suggest.split("=")[0])
            opts.append(n.suggest)
    return "sbatch " + " ".join(opts) if opts else ""


def summary(adv: Advice) -> str:
    """One line for Slurm's AdminComment and logs."""
    if not adv.notes:
        return "paratune: nothing to change"
    kinds = ",".join(dict.fromkeys(n.kind for n in adv.notes))
    line = options(adv)
    return f"paratune: {kinds}" + (f"; next time {line}" if line else "")


def panel(adv: Advice) -> Panel:
    """The short advice panel of the analyze report and the body of advise."""
    lines = Text()
    if not adv.notes:
        lines.append("nothing to change" + (": the job used what it asked for" if adv.allocation.known else ""),
                     style="green")
    for n in adv.notes:
        lines.append("! " if n.severity == WARN else "• ", style="yellow" if n.severity == WARN else "cyan")
        lines.append(f"{n.kind}: ", style="bold")
        lines.append(n.message + (f" [{n.host}]" if n.host else ""))
        if n.suggest:
            lines.append(f"  {n.suggest}", style="bold green")
        lines.append(f"\n    {n.evidence}\n", style="dim")
    line = options(adv)
    if line:
        lines.append(f"\nnext time: {line}", style="bold")
    return Panel(lines, title="advice", border_style="green")


def classes_table(adv: Advice) -> Table:
    t = Table(title="node classes (best first)", title_justify="left")
    for name, justify in (("class", "left"), ("fits", "left"), ("runtime", "right"), ("cost", "right"),
                          ("confidence", "right"), ("why", "left")):
        t.add_column(name, justify=justify)
    for p in adv.node_classes:
        t.add_row(p.name, "yes" if p.fits else "no",
                  span(p.predicted_runtime_s) if p.predicted_runtime_s is not None else "-",
                  f"{p.predicted_cost:.3f}" if p.predicted_cost is not None else "-",
                  f"{p.confidence:.0%}", "; ".join(p.why))
    return t


def render(adv: Advice, console: Console) -> None:
    who = f"job {adv.job}" if adv.job else "run"
    head = Text.from_markup(f"[bold]{who}[/]  ran {span(adv.elapsed_s)} on "
                            f"{', '.join(u.host for u in adv.usage)}\n{allocation_line(adv)}")
    parts = [head, panel(adv)]
    if adv.node_classes:
        parts.append(classes_table(adv))
    console.print(Group(*parts))
