"""Zappa's `settings` callback (zappa_settings.json, `callbacks`): no public window at deploy.

A function URL with auth NONE needs two statements in the function's resource policy: anyone
may call `lambda:InvokeFunctionUrl` (on a URL of auth type NONE), and `lambda:InvokeFunction`
(since October 2025). Zappa 0.63 grants the second to every principal with no condition, so
from `zappa deploy` until `flask infra up` narrowed it, any AWS account that learned the
function's name could invoke it directly, with any event. This gives Zappa, before any
command runs, a version of the step that grants them which adds the second one with the
condition AWS documents for function URLs, `lambda:InvokedViaFunctionUrl`, and puts back one
an older deploy left without it. No statement is ever without it, and `zappa update`, which
adds only the statements it does not find, keeps it.

Zappa runs it with its own command line (.venv312, which has Zappa and boto3 only), from
the checkout, where it finds `deploy/` (Zappa's working-directory import).
"""

from __future__ import annotations

import json

# Zappa's statement ids for a public function URL (FUNCTION_URL_PUBLIC_PERMISSION_RULES).
URL_ID = "FunctionURLAllowPublicAccess"
INVOKE_ID = "FunctionURLAllowPublicAccessInvoke"
VIA_URL_ONLY = {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}


class ZappaChanged(RuntimeError):
    """This Zappa grants a function URL's permissions some other way: refuse to deploy."""


def guard_function_url(cli) -> None:
    """Make Zappa grant a public function URL's InvokeFunction through the URL only."""
    zappa = cli.zappa
    if not callable(getattr(zappa, "update_function_url_policy", None)):
        raise ZappaChanged(
            "Zappa no longer has update_function_url_policy: check how it grants a function "
            "URL's permissions before deploying (deploy/zappa_callbacks.py)"
        )
    zappa_own = zappa.update_function_url_policy

    def update_function_url_policy(function_name, function_url_config):
        if function_url_config["authorizer"] != "NONE":
            return zappa_own(function_name, function_url_config)  # no public statement
        return grant_public_url(zappa.lambda_client, function_name)

    zappa.update_function_url_policy = update_function_url_policy


def grant_public_url(lambda_client, function_name: str) -> None:
    """Let anyone call the function through its URL (auth NONE), and no other way."""
    statements = {s.get("Sid"): s for s in _statements(lambda_client, function_name)}
    if URL_ID not in statements:
        lambda_client.add_permission(
            FunctionName=function_name,
            StatementId=URL_ID,
            Action="lambda:InvokeFunctionUrl",
            Principal="*",
            FunctionUrlAuthType="NONE",
        )
    invoke = statements.get(INVOKE_ID)
    if invoke is not None and invoke.get("Condition") == VIA_URL_ONLY:
        return
    if invoke is not None:  # left by an unguarded deploy: the window closes now
        lambda_client.remove_permission(FunctionName=function_name, StatementId=INVOKE_ID)
    lambda_client.add_permission(
        FunctionName=function_name,
        StatementId=INVOKE_ID,
        Action="lambda:InvokeFunction",
        Principal="*",
        InvokedViaFunctionUrl=True,
    )


def _statements(lambda_client, function_name: str) -> list[dict]:
    try:
        policy = lambda_client.get_policy(FunctionName=function_name)["Policy"]
    except lambda_client.exceptions.ResourceNotFoundException:
        return []
    return json.loads(policy)["Statement"]
