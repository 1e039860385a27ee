"""Who may invoke the function for S3: the uploads bucket, in this account, through one statement.

Zappa 0.63 gives S3 leave to invoke the function twice on every `zappa deploy` and `zappa
update`: once under a random statement id, which it never removes (the resource policy grows
with each update, and Lambda caps it at 20 KB), and once under `s3-<bucket>`, with no
SourceAccount (a deleted bucket's name, re-created by another account, could invoke the
function). `flask infra up`, run after each deploy and update, leaves exactly one S3 statement:
its own, with a fixed id, the uploads bucket's ARN as SourceArn and this account as
SourceAccount. It adds it before it removes Zappa's, so S3 never loses its leave.

A stage served by a function URL (auth NONE) must let anyone invoke the function through
that URL. Zappa 0.63 lets anyone invoke it at all: its `FunctionURLAllowPublicAccessInvoke`
statement grants `lambda:InvokeFunction` to every principal with no condition, so any AWS
account could invoke the function directly, with any event (Zappa's handler runs a
`raw_command` event's Python). `flask infra up` puts that statement back under the same id
(so that `zappa update`, finding it, leaves it alone) with the condition AWS documents for
function URLs, `lambda:InvokedViaFunctionUrl`: through the URL, and no other way.
"""

from __future__ import annotations

import json

from ..config import Settings
from .base import Clients, Difference, apply

STATEMENT_ID = "thumbs-uploads-bucket"
S3 = "s3.amazonaws.com"
INVOKE = "lambda:InvokeFunction"
# Zappa's statement id for a function URL's public invocation, kept so Zappa leaves it alone.
URL_INVOKE_ID = "FunctionURLAllowPublicAccessInvoke"
VIA_URL_ONLY = {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}


def up(settings: Settings, clients: Clients, log) -> list[str]:
    """Leave exactly one S3 invoke permission on the deployed function: this one."""
    return apply(_differences(settings, clients) or [], log)


def check(settings: Settings, clients: Clients) -> list[str]:
    """Return how the function's S3 invoke permissions differ from the one expected."""
    return [problem for problem, _ in _differences(settings, clients) or []]


def down(settings: Settings, clients: Clients, log) -> None:
    """Nothing: the permission is the function's, and goes with it (zappa undeploy)."""


def s3_statements(policy: dict) -> list[dict]:
    """Return the statements of a function's resource policy that let S3 invoke it."""
    return [s for s in policy.get("Statement", []) if _principal(s) == S3]


def wanted_condition(function_arn: str, uploads_bucket: str) -> dict:
    """Return the condition of the one S3 statement: this bucket, in the function's account."""
    return {
        "StringEquals": {"AWS:SourceAccount": function_arn.split(":")[4]},
        "ArnLike": {"AWS:SourceArn": f"arn:aws:s3:::{uploads_bucket}"},
    }


def _differences(settings: Settings, clients: Clients) -> list[Difference] | None:
    """Return what to change; None when the function is not deployed (or runs locally)."""
    if settings.relaxed:
        return None  # the embedded AWS runs no function
    lambda_, name = clients["lambda"], settings.function_name
    try:
        arn = lambda_.get_function_configuration(FunctionName=name)["FunctionArn"]
    except lambda_.exceptions.ResourceNotFoundException:
        return None  # the function part says so
    try:
        policy = json.loads(lambda_.get_policy(FunctionName=name)["Policy"])
    except lambda_.exceptions.ResourceNotFoundException:
        policy = {}
    condition = wanted_condition(arn, settings.uploads_bucket)
    source = condition["ArnLike"]["AWS:SourceArn"]
    account = condition["StringEquals"]["AWS:SourceAccount"]
    ours = [s for s in s3_statements(policy) if s.get("Sid") == STATEMENT_ID]
    differences: list[Difference] = []
    if not ours or (ours[0].get("Condition"), ours[0].get("Action")) != (condition, INVOKE):

        def add() -> None:
            if ours:
                lambda_.remove_permission(FunctionName=name, StatementId=STATEMENT_ID)
            lambda_.add_permission(
                FunctionName=name,
                StatementId=STATEMENT_ID,
                Action=INVOKE,
                Principal=S3,
                SourceArn=source,
                SourceAccount=account,
            )

        differences.append(
            (f"function {name} has no S3 invoke permission for {source} in {account} only", add)
        )
    for other in s3_statements(policy):
        sid = other.get("Sid")
        if sid == STATEMENT_ID:
            continue
        differences.append(
            (
                f"function {name} lets S3 invoke it under another statement, {sid}",
                lambda sid=sid: lambda_.remove_permission(FunctionName=name, StatementId=sid),
            )
        )
    return differences + _public_invocations(lambda_, name, policy)


def _public_invocations(lambda_, name: str, policy: dict) -> list[Difference]:
    """Return a fix for each statement that lets anyone invoke the function other than
    through its function URL."""
    found = []
    for statement in policy.get("Statement", []):
        public = statement.get("Principal") in ("*", {"AWS": "*"})
        if not public or statement.get("Action") != INVOKE:
            continue
        if statement.get("Condition") == VIA_URL_ONLY:
            continue
        sid = statement.get("Sid")

        def through_the_url_only(sid=sid) -> None:
            lambda_.remove_permission(FunctionName=name, StatementId=sid)
            lambda_.add_permission(
                FunctionName=name,
                StatementId=URL_INVOKE_ID,
                Action=INVOKE,
                Principal="*",
                InvokedViaFunctionUrl=True,
            )

        found.append(
            (
                f"function {name} lets anyone invoke it directly (statement {sid}), not only "
                "through its function URL",
                through_the_url_only,
            )
        )
    return found


def _principal(statement: dict) -> str | None:
    principal = statement.get("Principal")
    return principal.get("Service") if isinstance(principal, dict) else principal
