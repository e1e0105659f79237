"""The library's public names (celeb/__init__.py): cheap to import, each from the module that
defines it, and the only way the app reaches the library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import celeb

ROOT = Path(__file__).resolve().parent.parent
APP = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "celeb_app").glob("*.py"))]


def test_importing_celeb_imports_none_of_its_modules():
    code = "import celeb, sys; print(sorted(name for name in sys.modules if name.startswith('celeb.')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "[]", done.stderr


def test_every_name_comes_from_the_module_that_defines_it():
    for module, names in celeb._EXPORTS.items():
        source = (ROOT / "celeb" / module.replace(".", "/")).with_suffix(".py")  # "sort.report" too
        if not source.exists():
            source = ROOT / "celeb" / module.replace(".", "/") / "__init__.py"
        defined = _defined(ast.parse(source.read_text()))
        for name in names:
            # The engines package hands on its base class (engines/base.py) as its interface.
            assert name in defined or (module, name) == ("engines", "Engine"), (
                f"{name} is not defined in {module}"
            )
            assert getattr(celeb, name) is getattr(sys.modules[f"celeb.{module}"], name)
    assert sorted(celeb.__all__) == sorted(celeb._HOMES) and len(celeb._HOMES) == sum(
        map(len, celeb._EXPORTS.values())
    )


def test_type_checkers_see_the_same_names():
    tree = ast.parse((ROOT / "celeb" / "__init__.py").read_text())
    (block,) = [
        node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    ]
    seen = {alias.name: node.module for node in block.body for alias in node.names}
    assert seen == celeb._HOMES


def test_the_app_reaches_the_library_through_its_public_names_only():
    for script in APP:
        for node in ast.walk(ast.parse(script.read_text())):
            modules = [node.module] if isinstance(node, ast.ImportFrom) else []
            modules += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            inside = [name for name in modules if name and name.startswith("celeb.")]
            assert not inside, f"{script.relative_to(ROOT)}:{node.lineno} imports {inside}"


def _defined(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names.update(t.id for t in ast.walk(target) if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names
