"""The operator's commands: `flask infra up|check|down|policy` (what a stage needs in AWS) and
`flask jobs failed-events [--replay]` (the events the worker failed on for good)."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from . import infra
from .config import Settings
from .events import FailedEvents, describe_failure
from .iam import iam_policy
from .services import client, current_settings, services_for

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
    settings = _settings(stage)
    problems = infra.check(settings)
    for problem in problems:
        click.echo(f"- {problem}")
    if problems:
        raise click.exceptions.Exit(1)
    click.echo(f"stage {settings.stage}: everything is as expected")


@infra_cli.command("down")
@stage_option
@click.confirmation_option(prompt="Delete the stage's buckets, their objects and the table?")
@with_appcontext
def down(stage):
    """Delete the stage's buckets (with their objects) and its table."""
    settings = _settings(stage)
    infra.down(settings, log=click.echo)


@infra_cli.command("policy")
@stage_option
@with_appcontext
def policy(stage):
    """Print the stage's least-privilege IAM policy (the file zappa_settings.json attaches)."""
    settings = _settings(stage)
    click.echo(json.dumps(iam_policy(settings), indent=2))


@click.group("jobs")
def jobs_cli():
    """Look after jobs: the events the worker failed on for good."""


@jobs_cli.command("failed-events")
@stage_option
@click.option("--replay", is_flag=True, help="invoke the worker again with each, then forget it")
@with_appcontext
def failed_events(stage, replay):
    """List the events Lambda kept after the worker failed on them; --replay tries them again."""
    settings = _settings(stage)
    services = services_for(settings)
    kept = FailedEvents(client("sqs", settings), settings.failed_events_queue)
    count = 0
    for message, record in kept.read():
        count += 1
        click.echo(describe_failure(record))
        if replay:
            services.conversions.replay(record["requestPayload"])
            kept.forget(message)
            click.echo("  replayed")
        else:
            kept.keep(message)
    click.echo(
        f"{count} failed event{'s' if count != 1 else ''}" + (", replayed" if replay else "")
    )
