"""The operator's commands: `flask infra up|check|down|policy --stage NAME` (what a stage needs
in AWS) and `flask jobs failed-events [--replay]` (the events the worker failed on for good).

An operator runs them with `FLASK_APP=app.cli:operator_app`: they serve no page, so they need
neither the site's secret key nor its origin, which the site refuses to start without and
which a first deploy does not know yet when `flask infra up` must run.
"""

from __future__ import annotations

import dataclasses
import json

import click
from flask import Flask
from flask.cli import with_appcontext

from . import services
from .config import Settings
from .events import FailedEvents, ForeignEvent, describe_failure, stage_uploads
from .services import client, current_settings, services_for

# infra and iam are imported by the commands that use them: every cold start builds the app,
# and with it this CLI, but only `flask infra` needs them.

stage_option = click.option("--stage", help="stage name (default: STAGE, or local)")


def _settings(stage: str | None) -> Settings:
    settings = current_settings()
    return settings.for_stage(stage) if stage else settings


@click.group("infra")
def infra_cli():
    """Create, check or remove a stage's buckets and table."""


@infra_cli.command("up")
@stage_option
@with_appcontext
def up(stage):
    """Create the buckets and the table, or bring them to the expected setup."""
    from . import infra

    settings = _settings(stage)
    try:
        infra.up(settings, log=click.echo)
    except infra.InfraError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"stage {settings.stage} is up")


@infra_cli.command("check")
@stage_option
@with_appcontext
def check(stage):
    """Report what differs from the expected setup; exit 1 if anything does."""
    from . import infra

    settings = _settings(stage)
    problems = infra.check(settings)
    for problem in problems:
        click.echo(f"- {problem}")
    if problems:
        raise click.exceptions.Exit(1)
    click.echo(f"stage {settings.stage}: everything is as expected")


@infra_cli.command("down")
@stage_option
@click.confirmation_option(
    prompt="Delete the stage's buckets, their objects, the table, the queue and the role?"
)
@with_appcontext
def down(stage):
    """Delete the stage's buckets (with their objects), table, queue, alarms and role."""
    from . import infra

    settings = _settings(stage)
    infra.down(settings, log=click.echo)


@infra_cli.command("policy")
@stage_option
@with_appcontext
def policy(stage):
    """Print the stage's least-privilege IAM policy (the file zappa_settings.json attaches),
    with ACCOUNT where flask infra up puts the account's id."""
    from .iam import iam_policy

    settings = _settings(stage)
    click.echo(json.dumps(iam_policy(settings), indent=2))


@click.group("jobs")
def jobs_cli():
    """Look after jobs: the events the worker failed on for good."""


@jobs_cli.command("failed-events")
@stage_option
@click.option(
    "--replay", is_flag=True, help="start each upload's conversion again, then forget its event"
)
@with_appcontext
def failed_events(stage, replay):
    """List the events Lambda kept after the worker failed on them; --replay starts again the
    uploads to this stage they announce, and leaves any other event in the queue."""
    settings = _settings(stage)
    conversions = services_for(settings).conversions
    kept = FailedEvents(client("sqs", settings), settings.failed_events_queue)
    count, replayed = 0, 0
    for message, record in kept.read():
        count += 1
        try:
            uploads, foreign = stage_uploads(record.get("requestPayload"), settings), None
        except ForeignEvent as error:
            uploads, foreign = [], str(error)
        click.echo(describe_failure(record, uploads))
        if replay and not foreign:
            # Made anew from what was checked: never the kept payload, which anything allowed
            # to write to the queue may have written.
            for upload in uploads:
                conversions.start(dataclasses.replace(upload, started_by="replay"))
            kept.forget(message)
            replayed += 1
            click.echo("  replayed")
            continue
        kept.keep(message)
        if foreign:
            click.echo(f"  not an upload to stage {settings.stage} ({foreign}): left in the queue")
    summary = f"{count} failed event{'s' if count != 1 else ''}"
    click.echo(summary + (f", {replayed} replayed" if replay else ""))


def operator_app() -> Flask:
    """Return an app that carries only the operator's commands, with the environment's settings."""
    app = Flask(__name__)
    services.init_app(app, Settings.from_env())
    app.cli.add_command(infra_cli)
    app.cli.add_command(jobs_cli)
    return app
