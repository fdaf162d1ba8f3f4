"""docs/trace-format.md matches the field table it is generated from."""
import re

import pytest

from collector import docs, schema


def test_page_is_up_to_date():
    text = docs.DOC.read_text(encoding="utf-8")
    assert docs.render(text) == text, "docs/trace-format.md is stale: run python -m collector.docs"
    assert docs.main(["--check"]) == 0


def test_every_column_and_key_is_documented():
    text = docs.DOC.read_text(encoding="utf-8")
    for name in schema.FIELDS:
        assert f"| `{name}` |" in text, name
    for fields, _ in schema.NESTED.values():
        for f in fields:
            assert f"| `{f.name}` | {f.kind} |" in text, f.name
    for key in schema.METADATA_KEYS:
        assert f"`paratune.{key}`" in text, key


def test_check_catches_a_stale_page(tmp_path, capsys):
    page = tmp_path / "page.md"
    stale = docs.DOC.read_text(encoding="utf-8").replace("| `load1` |", "| `load_1` |")
    page.write_text(stale)
    assert docs.main(["--check", str(page)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert docs.main([str(page)]) == 0
    assert docs.main(["--check", str(page)]) == 0


def test_render_needs_its_markers():
    with pytest.raises(ValueError, match=r"markers for '\w+' missing"):
        docs.render("no markers here")


def test_pipes_in_descriptions_are_escaped():
    assert docs._cell("a|b\nc") == "a\\|b c"
    assert not re.search(r"(?<!\\)\|", docs._cell("x | y").replace("\\|", ""))
