"""The README's first command, as a newcomer runs it: `make run` in a fresh clone.

`python3 .ci/front_door.py` (from the repository; CI runs it before `make test`):

1. clones the repository's HEAD into a throwaway folder, with no `.venv`;
2. runs `make run` there on two free ports, with an environment that holds nothing but
   PATH, HOME and the locale, so it creates `.venv` from `requirements/run.txt` alone;
3. checks that `.venv` holds exactly the packages of that lock (`pip freeze`), and the
   embedded AWS's own distribution (`embedded-aws/`, installed with --no-deps);
4. takes one photo through the real flow, as a browser without script does: the upload page,
   the presigned POST to the embedded S3, S3's redirect, the job's page, the worker run by
   S3's event, the status until done, and the thumbnail through the site's link;
5. stops `make run` and starts it again at once on the same ports: `/healthz` answers.

It uses the standard library only: it must not bring what the front door lacks.
"""

from __future__ import annotations

import html.parser
import http.cookiejar
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Generous: the first `make run` installs the lock; CI machines are slow.
INSTALL_SECONDS = 600
SERVE_SECONDS = 120
CONVERT_SECONDS = 120


class FrontDoorShut(RuntimeError):
    """The front door failed: the message says where."""


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="thumbs-front-door-"))
    try:
        clone = workdir / "thumbs"
        subprocess.run(["git", "clone", "--quiet", "--no-local", str(ROOT), str(clone)], check=True)
        site_port, aws_port = free_port(), free_port()
        say(f"a fresh clone in {clone}; make run on ports {site_port} and {aws_port}")
        with make_run(clone, site_port, aws_port, INSTALL_SECONDS) as site:
            same_packages(clone)
            say("the virtualenv holds exactly the packages of requirements/run.txt")
            thumbnail = one_photo(site, photo(clone))
            say(f"one photo converted through S3's event: a {thumbnail} thumbnail")
        lingering = time_wait(site_port, aws_port)
        say(f"stopped; {lingering} closed connections linger on its ports (TIME_WAIT)")
        with make_run(clone, site_port, aws_port, SERVE_SECONDS) as site:
            answer = json.load(urllib.request.urlopen(site + "/healthz", timeout=10))
            if answer.get("status") != "ok":
                raise FrontDoorShut(f"/healthz after a restart answered {answer}")
            say("stopped and started again at once: /healthz answers")
    except FrontDoorShut as shut:
        sys.exit(f"front door: FAILED: {shut}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    say("held")


def say(message: str) -> None:
    print(f"front door: {message}", flush=True)


def free_port() -> int:
    """A free port below the ephemeral range, where the system hands no port out by itself:
    the restart reuses it, and no other program may take it while it lies in TIME_WAIT."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for port in random.sample(range(max(1024, low - 8000), low), 200):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise FrontDoorShut("no free port below the ephemeral range")


def time_wait(*ports: int) -> int:
    """Count the TCP connections in TIME_WAIT on these local ports (Linux's /proc/net/tcp)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            count += state == "06" and int(local.rsplit(":", 1)[1], 16) in ports
    return count


class make_run:  # noqa: N801  (a context manager, read as a command)
    """`make run` in `clone` on the given ports; entered once it serves, stopped on exit."""

    def __init__(self, clone: Path, site_port: int, aws_port: int, ready_seconds: float):
        self.clone, self.ready_seconds = clone, ready_seconds
        self.site = f"http://127.0.0.1:{site_port}"
        self.ports = {"PORT": str(site_port), "LOCAL_AWS_PORT": str(aws_port)}
        self.output: list[str] = []

    def __enter__(self) -> str:
        bare = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
        self.process = subprocess.Popen(
            ["make", "run", *(f"{name}={value}" for name, value in self.ports.items())],
            cwd=self.clone,
            env=bare,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: stopped as Ctrl+C stops it
        )
        threading.Thread(target=self._drain, daemon=True).start()
        deadline = time.monotonic() + self.ready_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise FrontDoorShut("make run stopped:\n" + "".join(self.output[-40:]))
            try:
                urllib.request.urlopen(self.site + "/healthz", timeout=2).close()
            except OSError:
                time.sleep(0.5)
                continue
            self._said_where_it_listens()
            return self.site
        raise FrontDoorShut(f"make run did not serve within {self.ready_seconds} s")

    def _said_where_it_listens(self) -> None:
        """Before serving, make run names both addresses and says its data is in memory."""
        said = "".join(self.output)
        aws = f"http://127.0.0.1:{self.ports['LOCAL_AWS_PORT']}"
        before = said.split(" * Running on", 1)[0]
        for needed in (self.site, aws, "memory", "LOCAL_EVENT_LOSS", "LOCAL_FAULTS"):
            if needed not in before:
                raise FrontDoorShut(f"make run never said {needed!r} before serving")

    def __exit__(self, *failure) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGINT)
            self.process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        if failure[0] is not None:
            print("".join(self.output[-60:]), file=sys.stderr)

    def _drain(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)


def same_packages(clone: Path) -> None:
    """Fail unless `pip freeze` in the clone's .venv is the run lock, for this platform."""
    python = clone / ".venv" / "bin" / "python"
    frozen = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "freeze",
            "--all",
            "--exclude",
            "pip",
            "--exclude",
            "setuptools",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    locked = subprocess.run(
        [str(python), "-c", _LOCKED_HERE, str(clone / "requirements" / "run.txt")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # Besides the lock, exactly the embedded AWS: its own distribution, installed --no-deps.
    ours = [line for line in frozen.splitlines() if line.startswith("embedded-aws @ file://")]
    if len(ours) != 1:
        raise FrontDoorShut(f"the run virtualenv lacks the embedded-aws distribution:\n{frozen}")
    have, want = _pins(frozen.replace(ours[0], "")), _pins(locked)
    if have != want:
        raise FrontDoorShut(
            f"the run virtualenv differs from requirements/run.txt: extra {sorted(have - want)}, "
            f"missing {sorted(want - have)}"
        )


# The lock's pins whose markers hold here, read by the virtualenv's own pip (its vendored
# `packaging` evaluates markers as pip did when it installed them).
_LOCKED_HERE = """
import re, sys
from pip._vendor.packaging.requirements import Requirement
text = re.sub(r"\\\\\\n", " ", open(sys.argv[1]).read())
for line in text.splitlines():
    line = re.sub(r"--hash=\\S+", "", line.split("#", 1)[0]).strip()
    if line and not line.startswith("-"):
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate():
            print(f"{requirement.name}{requirement.specifier}")
"""


def _pins(text: str) -> set[str]:
    return {re.sub(r"[-_.]+", "-", line.strip().lower()) for line in text.splitlines() if line}


def one_photo(site: str, jpeg: bytes) -> str:
    """Upload a photo as a browser without script does; return the thumbnail's size."""
    cookies = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies))
    page = browser.open(site + "/", timeout=30).read().decode()
    form = UploadForm.read(page)
    body, content_type = multipart(form.fields, "photo.jpg", jpeg)
    request = urllib.request.Request(form.action, body, {"Content-Type": content_type})
    landed = browser.open(request, timeout=60)  # S3's 303, then the site's, are followed
    match = re.search(r"/jobs/([^/?#]+)$", landed.geturl())
    if not match:
        raise FrontDoorShut(f"the upload ended on {landed.geturl()}, not a job's page")
    status_url = f"{site}/jobs/{match[1]}/status"
    deadline = time.monotonic() + CONVERT_SECONDS
    while time.monotonic() < deadline:
        asked = urllib.request.Request(status_url, headers={"Accept": "application/json"})
        status = json.load(browser.open(asked, timeout=30))
        if status["status"] == "done":
            return _thumbnail(browser, site, status)
        if status["status"] == "failed":
            raise FrontDoorShut(f"the conversion failed: {status.get('message')}")
        time.sleep(0.5)
    raise FrontDoorShut(f"the job was not done within {CONVERT_SECONDS} s")


def _thumbnail(browser, site: str, status: dict) -> str:
    """Fetch the first rendition through the site's link (a redirect to S3); return its size."""
    rendition = status["renditions"][0]
    data = browser.open(urllib.parse.urljoin(site, rendition["url"]), timeout=30).read()
    if not data.startswith(b"\xff\xd8") and not data.startswith(b"RIFF"):
        raise FrontDoorShut(f"the thumbnail link gave {data[:16]!r}, not an image")
    return f"{rendition['width']}x{rendition['height']}"


class UploadForm(html.parser.HTMLParser):
    """The upload page's form: where it posts, and its hidden fields."""

    def __init__(self):
        super().__init__()
        self.action, self.fields, self._inside = "", {}, False

    @classmethod
    def read(cls, page: str) -> UploadForm:
        form = cls()
        form.feed(page)
        if not form.action or "policy" not in {name.lower() for name in form.fields}:
            raise FrontDoorShut("the upload page holds no presigned POST form")
        return form

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("id") == "upload":
            self.action, self._inside = attrs["action"], True
        elif tag == "input" and self._inside and attrs.get("type") == "hidden":
            self.fields[attrs["name"]] = attrs.get("value", "")

    def handle_endtag(self, tag):
        if tag == "form":
            self._inside = False


def multipart(fields: dict[str, str], filename: str, data: bytes) -> tuple[bytes, str]:
    """Encode a form as a browser does: the fields, then the file, last."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: image/jpeg\r\n\r\n".encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def photo(clone: Path) -> bytes:
    """A 1600 × 1200 JPEG photo, made by the Pillow that `make run` installed."""
    made = subprocess.run(
        [str(clone / ".venv" / "bin" / "python"), "-c", _PHOTO],
        capture_output=True,
        check=True,
    )
    return made.stdout


_PHOTO = """
import io, sys
from PIL import Image
image = Image.radial_gradient("L").resize((1600, 1200)).convert("RGB")
out = io.BytesIO()
image.save(out, "JPEG", quality=90)
sys.stdout.buffer.write(out.getvalue())
"""


if __name__ == "__main__":
    main()
