"""Processes for the stress suite: one embedded AWS, several app instances, a routing client."""

from __future__ import annotations

import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

from tests.support import free_port, upload_form

ROOT = Path(__file__).resolve().parent.parent

FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class Cluster:
    """An embedded AWS and `size` app processes; its worker runs events in threads, or each
    in a fresh process (as a Lambda invocation, with its own peak memory)."""

    def __init__(
        self,
        size: int = 3,
        stage: str = "stress",
        copies: int = 3,
        worker: str = "thread",
        **variables: str,
    ):
        self.aws_port = 0  # the embedded AWS binds a free port and says which
        self.logdir = Path(tempfile.mkdtemp(prefix="thumbs-stress-"))
        self.env = {
            **os.environ,
            **FAKE_AWS,
            "STAGE": stage,
            "LOCAL_AWS": "1",
            "LOCAL_AWS_PORT": "0",
            "LOCAL_WORKER": worker,
            "LOCAL_EVENT_COPIES": str(copies),
            "LOCAL_FAULTS": "1",
            # Every instance signs with the same key, as every Lambda instance does.
            "SECRET_KEY": secrets.token_urlsafe(48),
            "PYTHONUNBUFFERED": "1",
            "PROCESSING_TIMEOUT_SECONDS": "30",
            # Its own reconciler stays out of the way unless a scenario asks for it.
            "RECONCILE_SECONDS": "0",
            **variables,
        }
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "FLASK_DEBUG"):
            self.env.pop(name, None)
        self.size = size
        self.instances: list[str] = []
        self.events: list[dict] = []  # what the worker logged, one dict per JSON line
        self._processes: list[subprocess.Popen] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.aws_port}"

    def __enter__(self) -> Cluster:
        # The harness talks to the embedded AWS itself too: fake credentials only, ever.
        os.environ.update(FAKE_AWS)
        os.environ.pop("AWS_PROFILE", None)
        os.environ.pop("AWS_SESSION_TOKEN", None)
        aws = self._spawn("aws", [sys.executable, "-m", "local"])
        for line in aws.stdout:
            if "ready" in line:
                break
        else:
            raise RuntimeError(f"the embedded AWS did not start; see {self.logdir}")
        self.aws_port = int(line.rsplit(":", 1)[1])  # "... ready on http://127.0.0.1:PORT"
        self.env["LOCAL_AWS_PORT"] = str(self.aws_port)  # the app instances reuse it
        threading.Thread(target=self._collect, args=(aws,), daemon=True).start()
        for n in range(self.size):
            port = free_port()
            self._spawn(
                f"app{n}",
                [
                    sys.executable,
                    "-m",
                    "flask",
                    "--app",
                    "local",
                    "run",
                    "--port",
                    str(port),
                    "--no-reload",
                    "--no-debugger",
                ],
                capture=False,
            )
            self.instances.append(f"http://127.0.0.1:{port}")
        for url in self.instances:
            _wait_until_up(url + "/healthz")
        return self

    def __exit__(self, *exc) -> None:
        for process in self._processes:
            process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()

    def random(self) -> str:
        return random.choice(self.instances)

    def faults(self, **order) -> dict:
        """Arm (or with no order, read) the embedded AWS's injected faults."""
        url = self.endpoint + "/__embedded_aws__/faults"
        response = requests.post(url, json=order) if order else requests.get(url)
        return response.json()

    def worker_events(self, name: str) -> list[dict]:
        return [event for event in list(self.events) if event.get("event") == name]

    def _spawn(self, name: str, command: list[str], capture: bool = True) -> subprocess.Popen:
        log = open(self.logdir / f"{name}.log", "w")
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            text=True,
            stdout=subprocess.PIPE if capture else log,
            stderr=subprocess.STDOUT if capture else log,
        )
        self._processes.append(process)
        return process

    def _collect(self, process: subprocess.Popen) -> None:
        with open(self.logdir / "aws.log", "a") as log:
            for line in process.stdout:
                log.write(line)
                if line.startswith("{"):
                    try:
                        self.events.append(json.loads(line))
                    except ValueError:
                        pass


def _wait_until_up(url: str, attempts: int = 300) -> None:
    for _ in range(attempts):
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


class Visitor:
    """One browser: a cookie jar, and every request sent to a random instance."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.session = requests.Session()
        self.requests = 0

    def get(self, path_or_url: str, **kwargs) -> requests.Response:
        self.requests += 1
        return self.session.get(self._routed(path_or_url), timeout=60, **kwargs)

    def upload(self, filename: str, data: bytes, content_type: str = "image/jpeg"):
        """Open the upload page, post the file to S3 as its form says; (S3's answer, job id)."""
        action, fields = upload_form(self.get("/").text)
        fields = [(n, content_type if n == "Content-Type" else v) for n, v in fields]
        job_id = dict(fields)["key"].split("/")[1]
        answer = self.session.post(
            action,
            data=fields,
            allow_redirects=False,
            timeout=120,
            files={"file": (filename, data, content_type)},
        )
        return answer, job_id

    def wait(self, job_path: str, polls: int = 300, pause: float = 0.5) -> dict:
        """Poll a job's status until it ends; the last status when polls run out."""
        status = {}
        for _ in range(polls):
            status = self.get(job_path + "/status").json()
            if status.get("finished"):
                return status
            time.sleep(pause)
        return status

    def _routed(self, path_or_url: str) -> str:
        path = urlsplit(path_or_url)._replace(scheme="", netloc="").geturl()
        return self.cluster.random() + path
