"""What an account holds, named: to show what `zappa undeploy` leaves, and what removal leaves."""

from __future__ import annotations

from collections.abc import Callable


def inventory(client: Callable[[str], object]) -> set[str]:
    """Return every resource of the kinds a stage creates, as "kind name"."""
    s3, found = client("s3"), set()
    for bucket in s3.list_buckets()["Buckets"]:
        found.add(f"bucket {bucket['Name']}")
        notification = s3.get_bucket_notification_configuration(Bucket=bucket["Name"])
        for kind in ("LambdaFunction", "Queue", "Topic"):
            for each in notification.get(f"{kind}Configurations", []):
                found.add(f"notification {bucket['Name']} -> {each[kind + 'Arn']}")
    found |= {f"table {name}" for name in client("dynamodb").list_tables()["TableNames"]}
    queues = client("sqs").list_queues().get("QueueUrls", [])
    found |= {f"queue {url.rsplit('/', 1)[-1]}" for url in queues}
    found |= {f"role {role['RoleName']}" for role in client("iam").list_roles()["Roles"]}
    functions = client("lambda").list_functions()["Functions"]
    found |= {f"function {f['FunctionName']}" for f in functions}
    apis = client("apigateway").get_rest_apis()["items"]
    found |= {f"rest api {api['name']}" for api in apis}
    stacks = client("cloudformation").list_stacks()["StackSummaries"]
    found |= {f"stack {s['StackName']}" for s in stacks if s["StackStatus"] != "DELETE_COMPLETE"}
    found |= {f"rule {rule['Name']}" for rule in client("events").list_rules()["Rules"]}
    parameters = client("ssm").describe_parameters()["Parameters"]
    found |= {f"parameter {p['Name']}" for p in parameters}
    groups = client("logs").describe_log_groups()["logGroups"]
    found |= {f"log group {g['logGroupName']}" for g in groups}
    return found


def removed_by_the_readme(stage: str, config: dict) -> set[str]:
    """Return what the guide's removal steps delete after `zappa undeploy`, as inventory names."""
    # Deploying a built package, Zappa uploads only its CloudFormation template (for the REST
    # API) to its bucket: a stage without API Gateway leaves no bucket to remove.
    zappa_bucket = (
        {f"bucket {config['s3_bucket']}"} if config.get("apigateway_enabled", True) else set()
    )
    return zappa_bucket | {
        # flask infra down --stage STAGE
        f"bucket thumbs-{stage}-uploads",
        f"bucket thumbs-{stage}-results",
        f"table thumbs-{stage}-jobs",
        f"queue thumbs-{stage}-failed-events",
        f"role {config['project_name']}-{stage}-ZappaLambdaExecutionRole",
        # aws ssm delete-parameter --name /thumbs/STAGE/secret-key
        f"parameter {config['aws_environment_variables']['SECRET_KEY_PARAMETER']}",
        # and aws s3 rb s3://thumbs-STAGE-zappa-packages --force: the bucket above
    }


def differences(have: set[str], wanted: set[str]) -> list[str]:
    """Return what is there and should not be, and what should be there and is not."""
    return [f"left behind: {name}" for name in sorted(have - wanted)] + [
        f"missing: {name}" for name in sorted(wanted - have)
    ]
