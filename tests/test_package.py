"""The Lambda package `make package` builds: its size, its contents (an allow-list, never
what else lies in a checkout), and its handler run by a fresh Python 3.12 that has only
boto3, as Lambda's runtime has."""

import fcntl
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import zipfile
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image

from app import infra
from app.config import Settings
from app.jobs import DONE, JobStore
from app.services import client
from deploy.package import ELF_MACHINES, FUNCTION_OPERATIONS, elf_machine, foreign_code

from lambda_stage import API_HOST, ROOT, lambda_environment, rest_event, zappa_cli
from support import jpeg_bytes, s3_event, upload_form

BUILD = ROOT / "build"
PACKAGE = BUILD / "thumbs-dev.zip"
ARM64_PACKAGE = BUILD / "thumbs-arm64.zip"  # the arm64 stage's (zappa_settings.json)
RUNTIME = BUILD / "lambda-runtime-python3.12"
MB = 1024 * 1024
# What the zip may hold at its top: the app, Zappa's handler and settings, and the packages
# of the Lambda lock (requirements.txt) and of requirements/handler.txt, by their import names.
SHIPPED = {
    "app",
    "templates",
    "static",
    "wsgi.py",
    "zappa_settings.py",
    "__pycache__",
}
NEVER_PACKAGED = {
    "tests",
    "moto",
    "pytest",
    "_pytest",
    "bench",
    "playwright",
    "hypothesis",
    "embedded_aws",
    "local",
    "stress",
}
# Zappa's deploy-time dependencies and the checkout's other folders: never at the top.
NEVER_AT_THE_TOP = {
    "requirements",
    "deploy",
    "docs",
    "troposphere",
    "yaml",
    "tqdm",
    "requests",
    "setuptools",
    "pip",
    "build",
}
BOTO3_AND_ITS_DEPENDENCIES = {
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "python-dateutil",
    "six",
    "urllib3",
}
SECRET = "packaged-secret-key-0123456789-abcdefghijklmnop"

# Lambda's bootstrap: /var/task first on the path, then the function the settings' handler names
# (`module.function`), called with (event, context).
DRIVER = """
import importlib, json, sys
sys.path.insert(0, sys.argv[1])

class Context:
    function_name = "thumbs-dev"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:thumbs-dev"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    def get_remaining_time_in_millis(self):
        return 60000

module, _, function = sys.argv[2].rpartition(".")
handler = getattr(importlib.import_module(module), function)
for line in sys.stdin:
    result = handler(json.loads(line), Context())
    print("@@", json.dumps({"result": result}), flush=True)
import boto3
print("@@", json.dumps({"modules": sorted(sys.modules), "boto3": boto3.__file__}), flush=True)
"""


@contextmanager
def build_lock():
    """Serialize builds: other test runs may share this working tree."""
    BUILD.mkdir(exist_ok=True)
    with open(BUILD / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def run(command: list, **options) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, **options)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


def python312() -> str:
    """Return a Python 3.12 as `make package` finds one; skip (fail in CI) without it."""
    found = run(
        ["make", "--no-print-directory", "-s", "-f", "-", "where"],
        cwd=ROOT,
        input="include Makefile\nwhere:\n\t@echo $(PYTHON312)\n",
    ).stdout.strip()
    if shutil.which(found) or Path(found).is_file():
        return found
    reason = f"Python 3.12 is needed to build the Lambda package, and {found!r} is not there"
    if os.environ.get("CI") == "true":
        pytest.fail(reason + " (CI must run the package tests)")
    pytest.skip(reason + ": pyenv install 3.12, or set PYTHON312")


@pytest.fixture(scope="module")
def package() -> zipfile.ZipFile:
    """The package, built by `make package` when it is missing or older than its sources."""
    python312()
    with build_lock():
        run(["make", "--no-print-directory", "package"], cwd=ROOT)
    with zipfile.ZipFile(PACKAGE) as archive:
        yield archive


@pytest.fixture(scope="module")
def arm64_package() -> zipfile.ZipFile:
    """The arm64 stage's package, built on this machine whatever its own architecture."""
    python312()
    with build_lock():
        run(["make", "--no-print-directory", "package", "STAGE=arm64"], cwd=ROOT)
    with zipfile.ZipFile(ARM64_PACKAGE) as archive:
        yield archive


@pytest.fixture(scope="module")
def lambda_python(package) -> Path:
    """A Python 3.12 with only boto3 (at the pinned version), as in Lambda's runtime."""
    boto3 = re.search(r"^boto3==\S+", (ROOT / "requirements.txt").read_text(), re.M).group(0)
    python = RUNTIME / "bin" / "python"
    with build_lock():
        if not (RUNTIME / boto3).exists():
            # The interpreter the package was built with, without its virtualenv.
            base = run(
                [
                    str(ROOT / ".venv312" / "bin" / "python"),
                    "-c",
                    "import sys; print(sys._base_executable)",
                ]
            ).stdout.strip()
            run([base, "-m", "venv", "--clear", str(RUNTIME)])
            run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", boto3])
            (RUNTIME / boto3).touch()
    listed = run([str(python), "-m", "pip", "list", "--format=json"]).stdout
    installed = {item["name"].lower() for item in json.loads(listed)}
    assert installed <= BOTO3_AND_ITS_DEPENDENCIES | {"pip"}, installed
    return python


def test_the_package_is_small_enough_for_lambda(package):
    assert PACKAGE.stat().st_size < 50 * MB
    assert sum(item.file_size for item in package.infolist()) < 250 * MB


def test_the_package_holds_the_app_and_nothing_of_development(package):
    names = set(package.namelist())
    handler_module = zappa_cli("dev").stage_config["lambda_handler"].rpartition(".")[0]
    assert {
        handler_module.replace(".", "/") + ".py",
        "zappa_settings.py",
        "wsgi.py",
        "app/__init__.py",
        "app/web.py",
        "app/worker.py",
        "zappa/handler.py",
        "templates/base.html",
    } <= names
    # Not Zappa's handler at the root, which serves whatever an event names: a function
    # configured for it fails to start instead.
    assert "handler.py" not in names
    assert {n for n in names if n.startswith("static/")} >= {
        f"static/{p.name}" for p in (ROOT / "static").iterdir() if p.is_file()
    }
    assert not {part for name in names for part in name.split("/")[:-1]} & NEVER_PACKAGED
    assert not {name.split("/")[0] for name in names} & (NEVER_PACKAGED | NEVER_AT_THE_TOP)
    tops = {name.split("/")[0] for name in names}
    assert tops - SHIPPED <= locked_top_levels(package), tops - SHIPPED - locked_top_levels(package)


def locked_top_levels(package: zipfile.ZipFile) -> set[str]:
    """Return the names the locked distributions install at the top (from their RECORDs)."""
    tops = set()
    for record in (n for n in package.namelist() if n.endswith(".dist-info/RECORD")):
        for line in package.read(record).decode().splitlines():
            tops.add(line.split(",")[0].split("/")[0])
    return tops


def test_the_package_ships_the_locked_sdk_with_the_models_of_the_services_it_calls(package):
    names = package.namelist()
    locked = re.search(r"^boto3==(\S+)", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    assert f"boto3-{locked}.dist-info/METADATA" in names
    models = [n for n in names if re.fullmatch(r"botocore/data/[^/]+/[^/]+/service-2\.json\.gz", n)]
    assert {n.split("/")[2] for n in models} == {"s3", "dynamodb", "ssm", "lambda", "sts"}
    assert len(models) == 5  # the latest API version of each only
    for name in models:  # cut to the operations the function calls, without documentation
        model = json.loads(gzip.decompress(package.read(name)))
        service = name.split("/")[2]
        assert set(model["operations"]) == set(FUNCTION_OPERATIONS[service]), service
        assert '"documentation"' not in json.dumps([model["operations"], model["shapes"]])
    assert "botocore/data/endpoints.json" in names or "botocore/data/endpoints.json.gz" in names


def test_a_zip_built_from_a_checkout_full_of_stray_files_holds_none_of_them(package, tmp_path):
    """Only what git tracks in app/, templates/, static/ and wsgi.py ships."""
    checkout = tmp_path / "checkout"
    run(["git", "clone", "--quiet", "--local", str(ROOT), str(checkout)])
    for path in (ROOT / "app", ROOT / "templates", ROOT / "static"):  # this tree as it is now
        shutil.copytree(path, checkout / path.name, dirs_exist_ok=True)
    shutil.copy2(ROOT / "wsgi.py", checkout / "wsgi.py")
    run(["git", "add", "--all", "app", "templates", "static", "wsgi.py"], cwd=checkout)
    strays = {
        "photos/holiday.jpg": b"\xff\xd8" + os.urandom(200_000),
        ".env.private": b"SECRET_KEY=do-not-ship",
        "notes-private.txt": b"passwords",
        "app copy/web.py": b"# an old copy",
        "app/scratch.py": b"# untracked, inside the app",
        "templates/draft.html": b"<p>draft</p>",
        "static/big-logo.png": b"\x89PNG" + os.urandom(100_000),
    }
    for name, data in strays.items():
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        (checkout / name).write_bytes(data)
    out = tmp_path / "stray.zip"
    builder = ROOT / "deploy" / "package.py"
    code = (
        f"import sys; sys.path.insert(0, {str(builder.parent)!r}); import package; "
        f"package.build('dev', __import__('pathlib').Path({str(out)!r}), "
        f"root=__import__('pathlib').Path({str(checkout)!r}), "
        f"cache=__import__('pathlib').Path({str(BUILD)!r}))"
    )
    with build_lock():
        run([str(ROOT / ".venv312" / "bin" / "python"), "-c", code], cwd=checkout)
    with zipfile.ZipFile(out) as built:
        names = set(built.namelist())
    assert not names & set(strays)
    assert not [n for n in names if "private" in n or n.startswith("photos/")]
    assert names == set(package.namelist())  # the same files as the package of this tree


def test_the_package_is_the_same_byte_for_byte_from_the_same_inputs(package, tmp_path):
    again = tmp_path / "again.zip"
    code = (
        "import sys, pathlib; sys.path.insert(0, 'deploy'); import package; "
        f"package.build('dev', pathlib.Path({str(again)!r}))"
    )
    with build_lock():
        run([str(ROOT / ".venv312" / "bin" / "python"), "-c", code], cwd=ROOT)
    digest = [hashlib.sha256(path.read_bytes()).hexdigest() for path in (PACKAGE, again)]
    assert digest[0] == digest[1]


def test_every_module_is_compiled_for_python_312_with_checked_hashes(package):
    names = package.namelist()
    assert not [n for n in names if n.endswith(".pyc") and ".cpython-312." not in n]
    for source in ("wsgi.py", "app/web.py", "app/entry.py", "flask/app.py"):
        folder, _, module = source.rpartition("/")
        cached = f"{folder + '/' if folder else ''}__pycache__/{module[:-3]}.cpython-312.pyc"
        flags = int.from_bytes(package.read(cached)[4:8], "little")
        assert flags == 0b11, (source, flags)  # hash-based, checked against the source


@pytest.mark.parametrize(
    "distribution, extension", [("pillow", "PIL/_imaging"), ("pi_heif", "_pi_heif")]
)
def test_the_package_holds_native_code_built_for_cp312_manylinux_x86_64(
    package, distribution, extension
):
    names = package.namelist()
    (wheel,) = [n for n in names if re.fullmatch(rf"{distribution}-[\d.]+\.dist-info/WHEEL", n)]
    tags = re.findall(r"^Tag: (\S+)$", package.read(wheel).decode(), re.M)
    assert tags and all(re.fullmatch(r"cp312-cp312-manylinux\w*_x86_64", t) for t in tags), tags
    assert f"{extension}.cpython-312-x86_64-linux-gnu.so" in names


def native_machines(package: zipfile.ZipFile) -> dict[str, int]:
    """Return each ELF file of a package and its header's e_machine."""
    machines = {}
    for name in package.namelist():
        with package.open(name) as member:
            header = member.read(20)
        if header[:4] == b"\x7fELF":
            machines[name] = int.from_bytes(header[18:20], "little")
    return machines


def wheel_tags(package: zipfile.ZipFile) -> dict[str, list[str]]:
    """Return each installed distribution's wheel tags, from its WHEEL file."""
    return {
        name.split("/")[0]: re.findall(r"^Tag: (\S+)$", package.read(name).decode(), re.M)
        for name in package.namelist()
        if re.fullmatch(r"[^/]+\.dist-info/WHEEL", name)
    }


def test_every_native_library_of_the_default_package_is_x86_64(package):
    machines = native_machines(package)
    assert len(machines) > 10  # Pillow's, pi-heif's and their bundled libraries, MarkupSafe's
    assert set(machines.values()) == {ELF_MACHINES["x86_64"]}


def test_the_arm64_package_holds_manylinux_aarch64_wheels_and_aarch64_code_only(arm64_package):
    tags = wheel_tags(arm64_package)
    native = {
        dist for dist, found in tags.items() if not all(t.endswith("-none-any") for t in found)
    }
    assert {d.split("-")[0] for d in native} == {"pillow", "pi_heif", "markupsafe"}
    for dist in native:
        assert all(re.fullmatch(r"cp312-cp312-manylinux\w*_aarch64", t) for t in tags[dist]), dist
    machines = native_machines(arm64_package)
    assert len(machines) > 10
    assert set(machines.values()) == {ELF_MACHINES["arm64"]}, {
        name: machine for name, machine in machines.items() if machine != ELF_MACHINES["arm64"]
    }
    names = set(arm64_package.namelist())
    assert "PIL/_imaging.cpython-312-aarch64-linux-gnu.so" in names
    assert "_pi_heif.cpython-312-aarch64-linux-gnu.so" in names


def test_readelf_reads_the_arm64_package_as_aarch64(arm64_package, tmp_path):
    """The same verdict from binutils' reader of the ELF header as from the builder's own."""
    if not shutil.which("readelf"):
        pytest.skip("readelf (binutils) is not installed")
    name = "PIL/_imaging.cpython-312-aarch64-linux-gnu.so"
    library = tmp_path / "_imaging.so"
    library.write_bytes(arm64_package.read(name))
    header = run(["readelf", "-h", str(library)]).stdout
    assert re.search(r"^\s*Machine:\s+AArch64$", header, re.M), header
    assert re.search(r"^\s*Class:\s+ELF64$", header, re.M), header


def test_the_arm64_package_ships_what_the_default_one_does_but_its_native_code(
    package, arm64_package
):
    def portable(archive: zipfile.ZipFile) -> set[str]:
        """The names that say nothing of a machine: not a library, its folder, a wheel's tags
        nor the RECORD that lists them."""
        return {
            name
            for name in archive.namelist()
            if not re.search(r"\.so(\.|$)|\.libs/|dist-info/(WHEEL|RECORD)$", name)
        }

    assert portable(arm64_package) == portable(package)
    for name in ("app/worker.py", "app/imaging.py", "wsgi.py", "PIL/Image.py"):
        assert arm64_package.read(name) == package.read(name), name
    assert "API_STAGE='arm64'" in arm64_package.read("zappa_settings.py").decode()


def test_the_builder_refuses_native_code_built_for_another_machine(tmp_path):
    def elf(machine: int) -> bytes:
        return b"\x7fELF\x02\x01\x01" + bytes(11) + machine.to_bytes(2, "little") + bytes(44)

    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "x86.so").write_bytes(elf(62))
    (tmp_path / "lib" / "arm.so").write_bytes(elf(183))
    (tmp_path / "module.py").write_text("print('not ELF')")
    assert elf_machine(tmp_path / "module.py") is None
    assert foreign_code(tmp_path, "arm64") == [tmp_path / "lib" / "x86.so"]
    assert foreign_code(tmp_path, "x86_64") == [tmp_path / "lib" / "arm.so"]


def test_the_heic_decoder_ships_libheif_and_libde265_and_no_encoder(package):
    names = package.namelist()
    libraries = {n.split("/")[-1].split("-")[0] for n in names if n.startswith("pi_heif.libs/")}
    assert libraries == {"libheif", "libde265"}  # LGPL decoders; no x265 encoder (GPL)
    assert not [n for n in names if "x265" in n or n.startswith("pillow_heif")]


def test_the_settings_module_in_the_package_is_the_dev_stage(package):
    text = package.read("zappa_settings.py").decode()
    assert "WEBSOCKET_HANDLER_MODULE=None" in text or "WEBSOCKET_HANDLER_MODULE" not in text
    assert "API_STAGE='dev'" in text and "DEBUG=False" in text and "BINARY_SUPPORT=True" in text
    assert "'arn:aws:s3:::thumbs-dev-uploads': ['app.worker.handle_s3_event']" in text


def test_the_packaged_handler_serves_the_page_and_converts_an_upload(
    package, lambda_python, site_aws, tmp_path
):
    task = tmp_path / "task"
    package.extractall(task)
    settings = dev_stage_on(site_aws["endpoint"])
    page_event = rest_event("GET", "/", "", {}, None, "dev", API_HOST)
    page, modules = run_in_lambda(lambda_python, task, [page_event], site_aws["endpoint"])
    assert page[0]["statusCode"] == 200, page[0]
    _, fields = upload_form(page[0]["body"])
    prefix = dict(fields)["key"].removesuffix("${filename}")
    job_id = prefix.split("/")[1]
    assert dict(fields)["success_action_redirect"].startswith(f"https://{API_HOST}/dev/jobs/")

    key = f"{prefix}photo.jpg"
    data = jpeg_bytes((1600, 1200))
    client("s3", settings).put_object(Bucket=settings.uploads_bucket, Key=key, Body=data)
    _, converting = run_in_lambda(
        lambda_python,
        task,
        [s3_event(settings.uploads_bucket, key, len(data))],
        site_aws["endpoint"],
    )
    job = JobStore(client("dynamodb", settings), settings.jobs_table).get(job_id)
    assert job.status == DONE, job
    assert {(r["name"], r["width"]) for r in job.renditions} == {("thumb", 256), ("preview", 1024)}
    assert not {"moto", "pytest"} & {m.split(".")[0] for m in modules["modules"]}
    assert "PIL" in converting["modules"]  # the worker converted in that process
    assert not {"pi_heif", "_pi_heif"} & set(converting["modules"])  # a JPEG needs no libheif
    assert modules["boto3"].startswith(str(task))  # the package's SDK, not the runtime's


def test_the_packaged_handler_converts_a_heic_with_the_packaged_decoder(
    package, lambda_python, site_aws, tmp_path
):
    from tests.heic import heic

    task = tmp_path / "task"
    package.extractall(task)
    settings = dev_stage_on(site_aws["endpoint"])
    key = "uploads/heicjob00000001/owner-tag/IMG_0001.HEIC"
    data = heic(Image.new("RGB", (1600, 1200), (200, 60, 40)))
    client("s3", settings).put_object(Bucket=settings.uploads_bucket, Key=key, Body=data)
    event = s3_event(settings.uploads_bucket, key, len(data))
    _, modules = run_in_lambda(lambda_python, task, [event], site_aws["endpoint"])
    job = JobStore(client("dynamodb", settings), settings.jobs_table).get("heicjob00000001")
    assert job.status == DONE, job
    assert {(r["name"], r["width"]) for r in job.renditions} == {("thumb", 256), ("preview", 1024)}
    assert {"pi_heif", "_pi_heif"} <= set(modules["modules"])
    assert not [m for m in modules["modules"] if m.startswith("pillow_heif")]


def test_the_packaged_handler_refuses_zappas_commands_and_runs_nothing(
    package, lambda_python, site_aws, tmp_path
):
    task, marker = tmp_path / "task", tmp_path / "ran"
    package.extractall(task)
    dev_stage_on(site_aws["endpoint"])
    commands = [
        {"raw_command": f"open({str(marker)!r}, 'w').close()"},
        {"command": "app.cli.operator_app"},
        {"Records": [{"s3": {"configurationId": "x:app.cli.operator_app"}}]},
    ]
    results, modules = run_in_lambda(lambda_python, task, commands, site_aws["endpoint"])
    assert [result["statusCode"] for result in results] == [400, 400, 400]
    assert not marker.exists()
    assert not {"wsgi", "app.cli", "app.worker"} & set(modules["modules"])  # nothing built


def dev_stage_on(endpoint: str) -> dict:
    """Create the dev stage's buckets, table and secret on the embedded AWS; its settings."""
    settings = Settings(stage="dev", aws_endpoint_url=endpoint)
    infra.up(settings, log=lambda m: None)
    client("ssm", settings).put_parameter(
        Name="/thumbs/dev/secret-key", Value=SECRET, Type="SecureString", Overwrite=True
    )
    return settings


def run_in_lambda(python: Path, task: Path, events: list, endpoint: str):
    """Feed `events` to the unpacked handler, in a fresh process; return results and modules."""
    stage_config = zappa_cli("dev").stage_config
    environment = {
        **lambda_environment(stage_config, "thumbs-dev"),
        "SITE_ORIGIN": f"https://{API_HOST}",
        "PATH": os.environ["PATH"],
        "LANG": "C.UTF-8",
        "LAMBDA_TASK_ROOT": str(task),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": endpoint,  # the embedded AWS: nothing reaches AWS itself
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",  # /var/task is read-only
    }
    driver = task.parent / "bootstrap.py"
    driver.write_text(DRIVER)
    done = run(
        [str(python), str(driver), str(task), stage_config["lambda_handler"]],
        cwd=task,
        env=environment,
        input="".join(json.dumps(e) + "\n" for e in events),
    )
    lines = [json.loads(line[3:]) for line in done.stdout.splitlines() if line.startswith("@@ ")]
    return [line["result"] for line in lines[:-1]], lines[-1]


def test_cutting_a_model_keeps_what_its_operations_reach_and_refuses_an_unknown_one():
    """The builder's cut, on a small model: it needs no Python 3.12."""
    from deploy.package import PackageError, _cut_model

    model = {
        "metadata": {"protocol": "json"},
        "clientContextParams": {"X": {"type": "string", "documentation": "botocore reads it"}},
        "operations": {
            "GetThing": {
                "input": {"shape": "GetInput"},
                "output": {"shape": "GetOutput"},
                "errors": [{"shape": "Missing"}],
                "documentation": "gone",
            },
            "DropThing": {"input": {"shape": "DropInput"}},
        },
        "shapes": {
            "GetInput": {"type": "structure", "members": {"Id": {"shape": "Id"}}},
            "GetOutput": {"type": "structure", "members": {"Tags": {"shape": "TagMap"}}},
            "TagMap": {"type": "map", "key": {"shape": "Id"}, "value": {"shape": "Text"}},
            "Id": {"type": "string", "documentation": "gone"},
            "Text": {"type": "string"},
            "Missing": {"type": "structure", "members": {}},
            "DropInput": {"type": "structure", "members": {"Other": {"shape": "Other"}}},
            "Other": {"type": "string"},
        },
    }
    cut = _cut_model(model, ("GetThing",))
    assert list(cut["operations"]) == ["GetThing"]
    assert set(cut["shapes"]) == {"GetInput", "GetOutput", "TagMap", "Id", "Text", "Missing"}
    assert "documentation" not in json.dumps([cut["operations"], cut["shapes"]])
    assert cut["clientContextParams"]["X"]["documentation"]
    with pytest.raises(PackageError, match="no \\['PutThing'\\]"):
        _cut_model(model, ("GetThing", "PutThing"))
