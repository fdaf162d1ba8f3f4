"""Run the reliability suite and rewrite the table of docs/reliability.md from what it recorded.

    .venv/bin/python scripts/reliability_report.py           # every test, slow ones included
    .venv/bin/python scripts/reliability_report.py --fast    # without the slow ones (rows kept)

Each test under tests/reliability/ records (title, cases, survived, lost, note) through the
``reliability`` fixture; with PARATUNE_RELIABILITY_REPORT set the session writes them as
JSON, which becomes the table.  Rows of tests that did not run this time (``--fast``, a
skip) are kept from the current page, marked as such, so a partial run never deletes a
figure.  Exits non-zero when a test failed; the table is written anyway, failures included.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from docblock import replace_block  # noqa: E402

PAGE = ROOT / "docs" / "reliability.md"
BEGIN = "<!-- BEGIN GENERATED reliability: python scripts/reliability_report.py -->"
END = "<!-- END GENERATED reliability -->"
HEADER = "| area | test | cases | survived | lost | what happened |"


def run_suite(fast: bool, extra: list[str]) -> tuple[int, list[dict]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rows.json"
        env = {**os.environ, "PARATUNE_RELIABILITY_REPORT": str(out), "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, "-m", "pytest", "tests/reliability", "-q", "-p", "no:cacheprovider"]
        if fast:
            cmd += ["-m", "not slow"]
        rc = subprocess.run(cmd + extra, cwd=ROOT, env=env).returncode
        rows = json.loads(out.read_text()) if out.exists() else []
    return rc, rows


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def old_rows() -> dict[tuple[str, str], str]:
    """The current table's lines, by (area, test), to keep figures a partial run did not redo."""
    if not PAGE.exists() or BEGIN not in PAGE.read_text():
        return {}
    block = PAGE.read_text().split(BEGIN, 1)[1].split(END, 1)[0]
    kept = {}
    for line in block.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) == 6 and cells[0] not in ("area", "---"):
            kept[(cells[0], cells[1])] = line
    return kept


def table(rows: list[dict], kept: dict[tuple[str, str], str], when: str) -> str:
    lines = [HEADER, "|---|---|---|---|---|---|"]
    fresh = {}
    for r in rows:
        mark = "" if r["survived"] == r["cases"] else " **FAILED**"
        fresh[(_cell(r["area"]), _cell(r["title"]))] = (
            f"| {_cell(r['area'])} | {_cell(r['title'])} | {r['cases']:,} | {r['survived']:,}{mark} "
            f"| {_cell(r['lost'])} | {_cell(r['note'])} |")
    for key, line in kept.items():
        if key not in fresh:
            fresh[key] = line if "(earlier run)" in line else line.rstrip(" |") + " (earlier run) |"
    lines += [fresh[k] for k in sorted(fresh)]
    total = sum(r["cases"] for r in rows)
    return "\n".join([BEGIN, f"Generated {when} from {len(rows)} tests ({total:,} cases) of this run.", "",
                      *lines, END])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="leave out the slow tests (their rows are kept)")
    ap.add_argument("pytest_args", nargs="*", help="more pytest arguments, e.g. -k fuzz")
    args = ap.parse_args(argv)
    rc, rows = run_suite(args.fast, args.pytest_args)
    if not rows:
        print("the suite recorded nothing; the page is left as it is", file=sys.stderr)
        return rc or 1
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    replace_block(PAGE, BEGIN, END, table(rows, old_rows(), when), heading="## Results\n\n")
    print(f"{PAGE.relative_to(ROOT)}: {len(rows)} rows", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
