"""The dependency locks: current with the lists people edit, consistent with each other, and
each use installs only its own (checked offline, from the files)."""

import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOCK = runpy.run_path(str(ROOT / "requirements" / "lock.py"))
TEST_TOOLS = {
    "pytest",
    "pytest-xdist",
    "hypothesis",
    "playwright",
    "ruff",
    "uv",
    "imagecodecs",
    "numpy",
    "pyvips",
    "matplotlib",
    "psutil",
    "pillow-heif",
}


def pins(lock: str) -> dict[str, str]:
    """Return a lock's packages and their versions."""
    text = (ROOT / lock).read_text()
    return {
        name.lower(): version
        for name, version in re.findall(
            r"^([A-Za-z0-9_.\-\[\],]+?)(?:\[[^\]]*\])?==(\S+)", text, re.M
        )
    }


@pytest.mark.parametrize("listed, lock", [(listed, lock) for listed, lock, _ in LOCK["LOCKS"]])
def test_every_lock_is_current_with_its_list(listed, lock):
    recorded = LOCK["recorded"](ROOT / lock)
    assert recorded == LOCK["digest"](ROOT / listed), (
        f"{lock} was made from another {listed} (or a file it includes): run make lock"
    )


@pytest.mark.parametrize("lock", [lock for _, lock, _ in LOCK["LOCKS"]])
def test_every_package_of_every_lock_is_pinned_with_hashes(lock):
    text = (ROOT / lock).read_text()
    entries = re.findall(r"^[A-Za-z0-9].*?(?=^[A-Za-z0-9]|\Z)", text, re.M | re.S)
    assert entries
    for entry in entries:
        assert "==" in entry.split()[0] and "--hash=sha256:" in entry, entry[:200]


def test_what_make_run_installs_holds_no_test_tool():
    run = set(pins("requirements/run.txt"))
    assert not run & TEST_TOOLS, run & TEST_TOOLS
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(
        r"^run: \$\(VENV\)/\.installed-run \$\(VENV\)/\.installed-embedded-aws$", makefile, re.M
    )
    assert re.search(r"^\$\(VENV\)/\.installed-run: requirements/run\.txt", makefile, re.M)


def test_the_same_package_has_the_same_version_in_every_lock():
    shipped = pins("requirements.txt")
    for lock in (
        "requirements/run.txt",
        "requirements/test.txt",
        "requirements/bench.txt",
        "requirements/deploy.txt",
    ):
        other = pins(lock)
        differs = {
            name: (version, other[name])
            for name, version in shipped.items()
            if name in other and other[name] != version
        }
        assert not differs, f"{lock} runs other versions than Lambda's: {differs}"
    run, test = pins("requirements/run.txt"), pins("requirements/test.txt")
    assert {name: v for name, v in run.items() if test.get(name, v) != v} == {}


def test_the_lambda_lock_holds_what_ships_and_nothing_for_deploying():
    shipped = set(pins("requirements.txt"))
    assert {"flask", "flask-wtf", "pillow", "boto3", "botocore", "durationpy"} <= shipped
    assert not shipped & {"zappa", "troposphere", "pyyaml", "requests", "moto", "pip"}
    assert set(pins("requirements/handler.txt")) == {"zappa"}


def test_heic_ships_its_decoder_alone_and_the_encoder_stays_with_the_tests():
    # pi-heif bundles libheif and libde265 (LGPL), decoders only; pillow-heif adds x265.
    for lock in ("requirements.txt", "requirements/run.txt"):
        assert "pi-heif" in pins(lock) and "pillow-heif" not in pins(lock), lock
    assert "pillow-heif" in pins("requirements/test.txt")
    assert pins("requirements.txt")["pi-heif"] == pins("requirements/test.txt")["pi-heif"]


def test_every_install_is_hash_checked_but_the_embedded_aws_distribution():
    """A lock cannot hold a folder: the embedded AWS is installed --no-deps, its one line."""
    recipes = (ROOT / "Makefile").read_text() + (ROOT / ".ci" / "run").read_text()
    installs = re.findall(r"pip install(?:[^\n]*\\\n)*[^\n]*", recipes)
    unhashed = [
        line
        for line in installs
        if not ("--require-hashes" in line and re.search(r"\s-r \S", line))
    ]
    assert len(installs) >= 3
    assert len(unhashed) == 1 and "--no-deps ./embedded-aws" in unhashed[0], unhashed


def test_the_run_lock_holds_what_the_embedded_aws_distribution_needs():
    """--no-deps is safe only while the run lock meets every dependency the distribution names."""
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "embedded-aws" / "pyproject.toml").read_text())["project"]
    run = pins("requirements/run.txt")
    for needed in map(Requirement, project["dependencies"]):
        assert needed.name in run, f"requirements/run.txt lacks {needed.name}"
        assert needed.specifier.contains(run[needed.name]), (needed, run[needed.name])
    # moto's extras pull in packages of their own: the lock must be resolved with them too.
    run_in = (ROOT / "requirements" / "run.in").read_text()
    locked_moto = Requirement(re.search(r"^moto\[.*$", run_in, re.M)[0])
    for needed in map(Requirement, project["dependencies"]):
        if needed.name == "moto":
            assert needed.extras <= locked_moto.extras, needed.extras - locked_moto.extras


def test_the_arm64_lock_ships_the_same_versions_as_the_default_one():
    assert pins("requirements/lambda-arm64.txt") == pins("requirements.txt")
    listed = (ROOT / "requirements" / "lambda-arm64.in").read_text()
    assert "-r ../requirements.in" in listed and "-c ../requirements.txt" in listed
