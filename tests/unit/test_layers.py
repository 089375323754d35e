"""No import runs back up a layer: the CLI wires the service, the service wires the
feature packages, and nothing below imports what is above it (imports inside functions
count too)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import seedbed

PACKAGE = Path(seedbed.__file__).parent
# Top first: a module may import its own layer and the ones after it, never one before.
LAYERS = (
    ("seedbed.cli",),
    ("seedbed.web",),
    ("seedbed.service",),
)


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, root: Path = PACKAGE) -> set[str]:
    """Every module `path` imports, as absolute names (relative imports resolved)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def layer(module: str) -> int:
    """The module's layer: its index in LAYERS, or len(LAYERS) for every feature module."""
    for index, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    return len(LAYERS)


def upward_imports(root: Path = PACKAGE) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        name = module_name(path, root)
        for target in sorted(imported(path, root)):
            if target.startswith("seedbed") and layer(target) < layer(name):
                found.append(f"{name} imports {target}")
    return found


def test_no_import_runs_back_up_a_layer() -> None:
    assert upward_imports() == []


def test_the_walk_sees_relative_and_function_level_imports(tmp_path: Path) -> None:
    """The check itself: a feature module importing the service, the CLI or the web layer
    from inside a function is found."""
    tree = imported(PACKAGE / "cluster" / "manager.py")
    assert "seedbed.cluster.jobs" in tree and "seedbed.store" in tree  # resolved relative imports
    root = tmp_path / "seedbed"
    (root / "lan").mkdir(parents=True)
    (root / "lan" / "probe.py").write_text(
        "from . import dnsmasq\n\n\ndef late():\n    from ..service import Seedbed\n"
        "    from .. import cli\n    import seedbed.web\n")
    (root / "web.py").write_text("from .service import Seedbed\nfrom .cli import main\n")
    assert upward_imports(root) == ["seedbed.lan.probe imports seedbed.cli",
                                    "seedbed.lan.probe imports seedbed.service",
                                    "seedbed.lan.probe imports seedbed.service.Seedbed",
                                    "seedbed.lan.probe imports seedbed.web",
                                    "seedbed.web imports seedbed.cli",
                                    "seedbed.web imports seedbed.cli.main"]


def test_every_module_imports_on_its_own() -> None:
    """A module imported first, in a fresh interpreter, must not meet a half-initialised one
    (an import cycle that the test run's import order hides)."""
    names = sorted(module_name(p) for p in PACKAGE.rglob("*.py") if p.name != "__main__.py")
    script = ("import importlib, sys\n"
              "for name in sys.argv[1:]:\n"
              "    for loaded in [m for m in sys.modules if m.split('.')[0] == 'seedbed']:\n"
              "        del sys.modules[loaded]\n"
              "    try:\n"
              "        importlib.import_module(name)\n"
              "    except Exception as exc:\n"
              "        print(f'{name}: {exc!r}')\n")
    result = subprocess.run([sys.executable, "-c", script, *names], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
