"""docs/settings.md names every environment variable the app reads (os.environ / os.getenv under app/)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def environment_reads(root: Path) -> dict[str, str]:
    """Variable name -> the first file under `root` that reads it with os.environ.get/[...]/setdefault or
    os.getenv, or through a module constant (ENV_VAR = "...") passed to one of them."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {t.id: n.value.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
                     and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
                     for t in n.targets if isinstance(t, ast.Name)}

        def name_of(arg) -> str | None:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                return arg.value
            if isinstance(arg, ast.Name):
                return constants.get(arg.id)
            return None

        for node in ast.walk(tree):
            key = None
            if isinstance(node, ast.Call) and node.args:
                f = node.func
                if isinstance(f, ast.Attribute) and (
                        (f.attr in ("get", "setdefault") and ast.unparse(f.value) in ("os.environ", "env", "environ"))
                        or (f.attr == "getenv" and ast.unparse(f.value) == "os")):
                    key = name_of(node.args[0])
            elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
                key = name_of(node.slice)
            if key and key.isupper():
                found.setdefault(key, str(path.relative_to(root.parent)))
    return found


def test_every_environment_variable_the_app_reads_is_documented():
    reads = environment_reads(ROOT / "app")
    assert {"ALBERT_STUDIO_DEVICE", "ALBERT_STUDIO_DATA", "ALBERT_STUDIO_DB", "ALBERT_STUDIO_THREADS"} <= set(reads)
    doc = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    missing = {k: v for k, v in reads.items() if f"`{k}`" not in doc}
    assert missing == {}, f"read in app/ but not in docs/settings.md: {missing}"


def test_the_reader_finds_each_form_of_read(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "m.py").write_text(
        'import os\nENV_VAR = "A_ONE"\nos.environ.get(ENV_VAR)\nos.getenv("A_TWO")\nos.environ["A_THREE"]\n'
        'env = os.environ\nenv.get("A_FOUR", "")\nos.environ.get(name)\n')
    assert sorted(environment_reads(tmp_path / "app")) == ["A_FOUR", "A_ONE", "A_THREE", "A_TWO"]
