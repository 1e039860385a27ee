"""`python -m rehearse [STAGE ...]`: rehearse the deploy guide of each stage on a fresh
embedded AWS; print every step and check; exit 1 if a step or a check failed."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import boto3

from embedded_aws.process import NotReady, running
from local import LOCAL_COMMAND

from . import STAGES
from .report import Report
from .stage import FAKE_CREDENTIALS, ROOT, StageRehearsal, StepFailed, clean_environment


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehearse", description=__doc__)
    parser.add_argument("stages", nargs="*", default=list(STAGES), help=f"default: {STAGES}")
    args = parser.parse_args(argv)
    missing = [s for s in args.stages if not (ROOT / "build" / f"thumbs-{s}.zip").exists()]
    if missing:
        sys.exit(f"No package for {missing}: build it first (make package builds dev's).")
    began, report, broken = time.monotonic(), Report(), []
    with tempfile.TemporaryDirectory(prefix="thumbs-rehearsal-") as folder:
        with embedded_aws(Path(folder)) as endpoint:
            print(f"rehearse: embedded AWS on {endpoint}, logs in {folder}", flush=True)
            for stage in args.stages:
                print(f"\nstage {stage}", flush=True)
                try:
                    StageRehearsal(stage, endpoint, clients(endpoint), Path(folder), report).run()
                except StepFailed as failure:
                    broken.append(f"{stage}: {failure}")
                    print(f"  FAILED  {failure}", flush=True)
        failed = report.failed + broken
        seconds = time.monotonic() - began
        print(
            f"\nrehearse: {len(args.stages)} stage(s), {len(report.steps)} steps, "
            f"{len(report.checks)} checks, {len(failed)} failed, in {seconds:.0f} s",
            flush=True,
        )
    return 1 if failed else 0


def clients(endpoint: str):
    """Return a maker of boto3 clients on the embedded AWS, with its fake credentials."""
    session = boto3.Session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=FAKE_CREDENTIALS["AWS_DEFAULT_REGION"],
    )
    made: dict[str, object] = {}

    def client(service: str):
        if service not in made:
            made[service] = session.client(service, endpoint_url=endpoint)
        return made[service]

    return client


@contextmanager
def embedded_aws(folder: Path):
    """Run a fresh embedded AWS on a free port for the rehearsal; yield its endpoint."""
    # Lambda's default account quota, enforced as AWS does (100 left unreserved), which moto
    # only does when told: a cap the account cannot give fails the rehearsal.
    environment = clean_environment(
        "", LOCAL_AWS_PORT="0", RECONCILE_SECONDS="0", MOTO_LAMBDA_CONCURRENCY_QUOTA="1000"
    )
    del environment["AWS_ENDPOINT_URL"]
    with (folder / "embedded-aws.log").open("w") as log:
        try:
            with running(environment, log.write, command=LOCAL_COMMAND, cwd=ROOT) as endpoint:
                yield endpoint
        except NotReady as failure:
            raise SystemExit(f"{failure}: see {log.name}") from None


if __name__ == "__main__":
    sys.exit(main())
