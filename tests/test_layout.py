"""The code's shape: the app never imports the embedded AWS, which imports nothing of Thumbs
and is the installed distribution; building the app starts nothing; the code map
(docs/architecture.md) is the tree."""

import ast
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEVELOPMENT_ONLY = {
    "embedded_aws",
    "local",
    "moto",
    "tests",
    "pytest",
    "playwright",
    "stress",
    "bench",
    "rehearse",
}

BUILD_AN_APP = """
import json, sys, threading
from app import create_app
create_app({"TESTING": True, "LOCAL_AWS": True, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
print(json.dumps({"modules": sorted(sys.modules),
                  "threads": [t.name for t in threading.enumerate()]}))
"""


def imported_modules(path: Path) -> set[str]:
    """Return the top-level names of every module `path` imports, at any depth."""
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_no_module_of_the_app_imports_the_embedded_aws_or_a_test_tool():
    offenders = {
        str(path.relative_to(ROOT)): imported_modules(path) & DEVELOPMENT_ONLY
        for path in (ROOT / "app").rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


THUMBS = {"app", "local", "tests", "stress", "bench", "rehearse", "deploy", "wsgi"}


def test_the_embedded_aws_imports_nothing_of_thumbs():
    source = ROOT / "embedded-aws" / "src" / "embedded_aws"
    offenders = {
        str(path.relative_to(ROOT)): imported_modules(path) & THUMBS
        for path in source.rglob("*.py")
    }
    assert len(offenders) > 10
    assert {path: names for path, names in offenders.items() if names} == {}


def test_import_embedded_aws_is_the_installed_distribution_not_a_folder_here():
    import sysconfig
    from importlib.metadata import distribution

    import embedded_aws

    installed = Path(sysconfig.get_paths()["purelib"]).resolve()
    package = Path(embedded_aws.__file__).resolve().parent
    assert package.is_relative_to(installed)
    assert not (ROOT / "embedded_aws").exists()
    project = tomllib.loads((ROOT / "embedded-aws" / "pyproject.toml").read_text())["project"]
    assert distribution("embedded-aws").version == embedded_aws.__version__ == project["version"]
    # What runs is what is in the folder: make installs it again when its code changes.
    source = ROOT / "embedded-aws" / "src" / "embedded_aws"
    for module in source.glob("*.py"):
        assert (package / module.name).read_bytes() == module.read_bytes(), (
            f"the installed embedded_aws/{module.name} is stale: run make test"
        )


def test_building_the_app_starts_nothing():
    done = subprocess.run(
        [sys.executable, "-c", BUILD_AN_APP], cwd=ROOT, capture_output=True, text=True, check=True
    )
    built = json.loads(done.stdout.strip().splitlines()[-1])
    assert not {m.split(".")[0] for m in built["modules"]} & DEVELOPMENT_ONLY
    assert built["threads"] == ["MainThread"]


def test_the_code_map_is_the_tree():
    page = (ROOT / "docs" / "architecture.md").read_text()
    table = page.split("## Code map", 1)[1].split("\n\n", 2)[1]
    mapped = set()
    for cell in re.findall(r"^\| ([^|]+) \|", table, re.M)[2:]:
        mapped |= {name.strip("`") for name in re.findall(r"`[^`]+`", cell)}
    for name in mapped:
        assert (ROOT / name.rstrip("/")).exists(), f"the code map names {name}, which is gone"
    modules = {f"app/{p.name}" for p in (ROOT / "app").glob("*.py")}
    packages = {f"{p.parent.name}/" for p in ROOT.glob("*/__init__.py")} - {"app/", "tests/"}
    assert modules | packages <= mapped, f"not in the code map: {(modules | packages) - mapped}"
