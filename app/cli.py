"""`flask infra up|check|down|policy --stage NAME`: the AWS resources a stage needs."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from .config import Settings
from .services import current_settings

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
@click.confirmation_option(prompt="Delete the stage's buckets, their objects and the table?")
@with_appcontext
def down(stage):
    """Delete the stage's buckets (with their objects) and its table."""
    from . import infra

    settings = _settings(stage)
    infra.down(settings, log=click.echo)


@infra_cli.command("policy")
@stage_option
@with_appcontext
def policy(stage):
    """Print the stage's least-privilege IAM policy (the file zappa_settings.json attaches)."""
    from .iam import iam_policy

    settings = _settings(stage)
    click.echo(json.dumps(iam_policy(settings), indent=2))
