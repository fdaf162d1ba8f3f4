"""docs/trace-format.md's tables, rendered from the field table so they cannot go stale.

The page is hand-written prose with generated regions between marker comments;
``python -m collector.docs`` rewrites those regions in place and ``--check``
fails when the page no longer matches ``collector.schema`` (a test runs it).
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pyarrow as pa

from collector import schema

DOC = Path(__file__).resolve().parents[1] / "docs" / "trace-format.md"
BEGIN = "<!-- BEGIN GENERATED {name}: python -m collector.docs -->"
END = "<!-- END GENERATED {name} -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _type(t) -> str:
    if isinstance(t, pa.ListType):
        return "list<struct>"
    return str(t)


def _rows(fields) -> list[str]:
    out = ["| column | kind | unit | Arrow type | description |", "|---|---|---|---|---|"]
    for f in fields:
        out.append(f"| `{f.name}` | {f.kind} | {f.unit or ''} | {_type(f.type)} | {_cell(f.description)} |")
    return out


def fields_markdown() -> str:
    """The node columns, then one table per nested column."""
    lines = [f"Format version {schema.FORMAT_VERSION}: {len(schema.NODE_FIELDS)} columns, one row per sample.",
             "", *_rows(schema.NODE_FIELDS)]
    for name, (fields, desc) in schema.NESTED.items():
        lines += ["", f"### `{name}`: {_cell(desc)}", "",
                  "Each row holds a list of structs with these fields:", "", *_rows(fields)]
    return "\n".join(lines)


def metadata_markdown() -> str:
    """The ``paratune.*`` keys of the schema metadata."""
    lines = ["| key | meaning |", "|---|---|"]
    lines += [f"| `paratune.{k}` | {_cell(v)} |" for k, v in schema.METADATA_KEYS.items()]
    return "\n".join(lines)


SECTIONS = {"fields": fields_markdown, "metadata": metadata_markdown}


def render(text: str) -> str:
    """``text`` with every generated region replaced by its current content."""
    for name, make in SECTIONS.items():
        begin, end = BEGIN.format(name=name), END.format(name=name)
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
        if not pattern.search(text):
            raise ValueError(f"markers for {name!r} missing: add {begin} ... {end}")
        text = pattern.sub(lambda _m: f"{begin}\n{make()}\n{end}", text)
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m collector.docs", description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the page is out of date")
    ap.add_argument("path", nargs="?", type=Path, default=DOC)
    args = ap.parse_args(argv)
    text = args.path.read_text(encoding="utf-8")
    new = render(text)
    if args.check:
        if new != text:
            print(f"{args.path} is out of date: run python -m collector.docs", file=sys.stderr)
            return 1
        return 0
    if new != text:
        args.path.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
