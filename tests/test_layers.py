"""The capability layers run one way: face geometry (alignment) below parsing, paste-back above both."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import faceedit

PACKAGE = Path(faceedit.__file__).parent


def _imports(module: str) -> list[tuple[str, str | None]]:
    """Every import of a faceedit module's source, anywhere in it (module level or inside functions), as
    ``(absolute module name, name of the enclosing function or None)``; ``importlib.import_module("x")``
    calls count too."""
    path = PACKAGE / (module.replace(".", "/") + ".py")
    tree = ast.parse(path.read_text(), str(path))
    package = ("faceedit." + module).rsplit(".", 1)[0]
    found: list[tuple[str, str | None]] = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Import):
                found.extend((alias.name, function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                found.append((base, function))
                found.extend((f"{base}.{alias.name}", function) for alias in child.names)
            elif (isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute)
                  and child.func.attr == "import_module" and child.args
                  and isinstance(child.args[0], ast.Constant) and isinstance(child.args[0].value, str)):
                found.append((child.args[0].value, function))
            visit(child, inner)

    visit(tree, None)
    return found


def test_alignment_never_imports_parsing() -> None:
    imported = _imports("faces.alignment")
    assert imported, "the parser of this test found no import at all"
    assert not [m for m, _ in imported if m == "faceedit.faces.parsing" or m.startswith("faceedit.faces.parsing.")]
    # nothing above alignment either
    upward = {"faceedit.faces.parsing", "faceedit.faces.depth", "faceedit.compose.paste", "faceedit.compose.mixups",
              "faceedit.compose.transfer"}
    assert [(m, f) for m, f in imported if m in upward] == []


def test_parsing_builds_on_alignment_and_paste_on_both() -> None:
    assert "faceedit.faces.alignment.face_landmarks" in {m for m, _ in _imports("faces.parsing")}
    assert not [m for m, _ in _imports("faces.parsing") if m == "faceedit.compose.paste"]
    paste = {m for m, _ in _imports("compose.paste")}
    assert {"faceedit.faces.alignment", "faceedit.faces.parsing"} <= paste


def test_importing_alignment_loads_no_parser() -> None:
    code = ("import sys, faceedit.faces.alignment as a; a.head_ellipse_mask(8); "
            "print(sorted(m for m in sys.modules if m in ('faceedit.faces.parsing', 'faceedit.compose.paste')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_paste_back_lives_in_paste() -> None:
    import faceedit.faces.alignment as alignment
    import faceedit.compose.paste

    assert not hasattr(alignment, "paste_back")
    assert faceedit.paste_back is faceedit.compose.paste.paste_back
