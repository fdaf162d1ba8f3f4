"""The layers point one way: paratune_base <- collector <- analyzer <- paratune (the CLI)."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ["paratune_base", "collector", "analyzer", "paratune"]


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


@pytest.mark.parametrize("layer", LAYERS)
def test_no_layer_imports_one_above_it(layer):
    above = set(LAYERS[LAYERS.index(layer) + 1:])
    wrong = {str(p.relative_to(ROOT)): sorted(_imports(p) & above) for p in (ROOT / layer).rglob("*.py")}
    assert not {k: v for k, v in wrong.items() if v}


def test_the_check_sees_an_upward_import(tmp_path):
    bad = tmp_path / "x.py"
    bad.write_text("def f():\n    from paratune.cli import main\n")
    assert "paratune" in _imports(bad)
