"""`flask infra up|check|down --stage NAME`: the AWS resources a stage needs."""

from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import with_appcontext

from . import config, infra
from .aws import client


def _stage_settings(stage: str | None) -> dict:
    settings = dict(current_app.config)
    if stage and stage != settings["STAGE"]:
        # Another stage: its own names. Names in the environment belong to the app's stage
        # (local mode puts them there for the worker).
        named = config.defaults(stage)
        for name in ("STAGE", "UPLOADS_BUCKET", "RESULTS_BUCKET", "JOBS_TABLE"):
            settings[name] = named[name]
        settings["SECRET_KEY_PARAMETER"] = infra.secret_parameter(stage)
    return settings


@click.group("infra")
def infra_cli():
    """Create, check or remove a stage's buckets and table."""


@infra_cli.command("up")
@click.option("--stage", help="stage name (default: STAGE, or local)")
@with_appcontext
def up(stage):
    """Create the buckets and the table, or bring them to the expected setup."""
    settings = _stage_settings(stage)
    try:
        infra.up(settings, client("s3", settings), client("dynamodb", settings), log=click.echo)
    except infra.InfraError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"stage {settings['STAGE']} is up")


@infra_cli.command("check")
@click.option("--stage", help="stage name (default: STAGE, or local)")
@with_appcontext
def check(stage):
    """Report what differs from the expected setup; exit 1 if anything does."""
    settings = _stage_settings(stage)
    problems = infra.check(settings, client("s3", settings), client("dynamodb", settings))
    for problem in problems:
        click.echo(f"- {problem}")
    if problems:
        raise click.exceptions.Exit(1)
    click.echo(f"stage {settings['STAGE']}: buckets and table are as expected")


@infra_cli.command("down")
@click.option("--stage", help="stage name (default: STAGE, or local)")
@click.confirmation_option(prompt="Delete the stage's buckets, their objects and the table?")
@with_appcontext
def down(stage):
    """Delete the stage's buckets (with their objects) and its table."""
    settings = _stage_settings(stage)
    infra.down(settings, client("s3", settings), client("dynamodb", settings), log=click.echo)


@infra_cli.command("policy")
@click.option("--stage", help="stage name (default: STAGE, or local)")
@with_appcontext
def policy(stage):
    """Print the stage's least-privilege IAM policy (the file zappa_settings.json attaches)."""
    settings = _stage_settings(stage)
    function_name = f"thumbs-{settings['STAGE']}"
    click.echo(json.dumps(infra.iam_policy(settings, function_name), indent=2))
