"""The function's IAM role, made before `zappa deploy -z`, which does not make it.

Zappa 0.63 creates its role `thumbs-<stage>-ZappaLambdaExecutionRole` and puts the policy of
`attach_policy` on it only when it builds the package itself: with a built package (`-z`),
`zappa deploy` fails on a new account (GetRole: NoSuchEntity) and `zappa update` never brings
a changed policy to the role. `flask infra up` makes the role as Zappa would (its name, its
trust policy, the inline policy `zappa-permissions`) with the least-privilege policy of
`app/iam.py`, which `deploy/policy-<stage>.json` holds, for the account STS names, and nothing
else.

The trust policy is Zappa's, with no `aws:SourceAccount` condition, and must stay so. IAM puts
that key in the request context only when the calling service passes it ("AWS global
condition context keys", aws:SourceAccount, Availability), and a condition on a key that is
absent fails: Lambda could no longer assume the role, and the function would not run. No page
of AWS's documentation says that Lambda, API Gateway or EventBridge passes it when assuming a
role given to it: Lambda's "Defining Lambda function permissions with an execution role"
(lambda-intro-execution-role) shows the trust policy with no condition, and says that
`aws:SourceArn` applies only to policies where the function is the target resource; API
Gateway's "Control access to a REST API with IAM permissions" (permissions) and EventBridge's
execution-role example (eb-service-cross-account) show theirs without one too. What keeps
another account from using this role is `iam:PassRole`: only a principal of this account
allowed to pass the role can hand it to a function, an API or a rule.
"""

from __future__ import annotations

import json

from ..config import Settings
from ..iam import iam_policy
from .base import Clients, Difference, apply, quiet

POLICY_NAME = "zappa-permissions"  # Zappa's name for the inline policy
# Zappa's own trust policy (zappa/policies/assume_policy.json): API Gateway calls the function
# with this role, so a plain `zappa deploy` finds nothing to change.
TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "",
            "Effect": "Allow",
            "Principal": {
                "Service": [
                    "apigateway.amazonaws.com",
                    "lambda.amazonaws.com",
                    "events.amazonaws.com",
                ]
            },
            "Action": "sts:AssumeRole",
        }
    ],
}


def role_name(settings: Settings) -> str:
    """Return the name Zappa gives the stage's role."""
    return f"{settings.function_name}-ZappaLambdaExecutionRole"


def up(settings: Settings, clients: Clients, log) -> list[str]:
    """Create the role with the function's policy, or bring it to that setup."""
    if settings.relaxed:
        return []  # the embedded AWS runs no function: no role to give it
    iam, name = clients["iam"], role_name(settings)
    role = _role(iam, name)
    created = role is None
    if created:
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_POLICY))[
            "Role"
        ]
    manual = apply(_differences(settings, iam, role, clients.account), quiet if created else log)
    if created:
        log(f"created role {name}: the function's least-privilege policy, and nothing else")
    return manual


def check(settings: Settings, clients: Clients) -> list[str]:
    """Return what differs from the expected setup of the role."""
    if settings.relaxed:
        return []
    iam, name = clients["iam"], role_name(settings)
    role = _role(iam, name)
    if role is None:
        return [f"role {name} is missing"]
    return [problem for problem, _ in _differences(settings, iam, role, clients.account)]


def down(settings: Settings, clients: Clients, log) -> None:
    """Delete the role and its policies (after zappa undeploy: the function uses it)."""
    if settings.relaxed:
        return
    iam, name = clients["iam"], role_name(settings)
    if _role(iam, name) is None:
        log(f"role {name} was already gone")
        return
    for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        iam.delete_role_policy(RoleName=name, PolicyName=policy)
    for policy in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
    iam.delete_role(RoleName=name)
    log(f"deleted role {name}")


def _role(iam, name: str) -> dict | None:
    try:
        return iam.get_role(RoleName=name)["Role"]
    except iam.exceptions.NoSuchEntityException:
        return None


def _differences(settings: Settings, iam, role: dict, account: str) -> list[Difference]:
    name, differences = role["RoleName"], []
    if _document(role["AssumeRolePolicyDocument"]) != TRUST_POLICY:
        differences.append(
            (
                f"role {name} is not trusted by exactly Zappa's services",
                lambda: iam.update_assume_role_policy(
                    RoleName=name, PolicyDocument=json.dumps(TRUST_POLICY)
                ),
            )
        )
    wanted = iam_policy(settings, account)
    inline = iam.list_role_policies(RoleName=name)["PolicyNames"]
    have = (
        _document(iam.get_role_policy(RoleName=name, PolicyName=POLICY_NAME)["PolicyDocument"])
        if POLICY_NAME in inline
        else None
    )
    if have != wanted:
        differences.append(
            (
                f"role {name}'s policy {POLICY_NAME} is not the function's least-privilege "
                f"policy (flask infra policy --stage {settings.stage})",
                lambda: iam.put_role_policy(
                    RoleName=name, PolicyName=POLICY_NAME, PolicyDocument=json.dumps(wanted)
                ),
            )
        )
    for other in sorted(set(inline) - {POLICY_NAME}):
        differences.append(
            (
                f"role {name} has another inline policy, {other}",
                lambda other=other: iam.delete_role_policy(RoleName=name, PolicyName=other),
            )
        )
    for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        arn = attached["PolicyArn"]
        differences.append(
            (
                f"role {name} has the managed policy {arn} attached",
                lambda arn=arn: iam.detach_role_policy(RoleName=name, PolicyArn=arn),
            )
        )
    return differences


def _document(document) -> dict:
    """Return a policy document as a dict (boto3 decodes IAM's URL-encoded JSON; a stub may not)."""
    return json.loads(document) if isinstance(document, str) else document
