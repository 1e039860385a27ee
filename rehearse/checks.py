"""What the deploy guide (docs/deploy.md) promises of a stage, each a small check through boto3.

A check takes the `Deployed` stage and returns its problems, one sentence each (none: it
holds). Each reads what AWS would answer, never Thumbs' own code, so a wrong `flask infra`
cannot vouch for itself.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from deploy.package import ELF_MACHINES

HANDLER = "app.entry.lambda_handler"  # the one entry point (Zappa's `lambda_handler` setting)
ZAPPA_POLICY_NAME = "zappa-permissions"
S3_STATEMENT_ID = "thumbs-uploads-bucket"  # the one S3 permission flask infra up leaves
ASYNC_RETRIES = 2


@dataclass
class Deployed:
    """One stage as deployed: its Zappa settings, its package and boto3 clients on the AWS."""

    stage: str
    config: dict  # the stage's Zappa settings, as the rehearsal deployed them
    package: Path
    client: Callable[[str], object]
    notes: dict = field(default_factory=dict)  # what one step tells a later check

    @property
    def function_name(self) -> str:
        return f"{self.config['project_name']}-{self.stage}"

    @property
    def uploads_bucket(self) -> str:
        (source,) = [e["event_source"] for e in self.config["events"] if "event_source" in e]
        return source["arn"].split(":::")[-1]

    @property
    def serves_through_a_function_url(self) -> bool:
        return bool(self.config.get("function_url_enabled")) and not self.config.get(
            "apigateway_enabled", True
        )

    def function(self) -> dict:
        return self.client("lambda").get_function_configuration(FunctionName=self.function_name)

    def account(self) -> str:
        return self.function()["FunctionArn"].split(":")[4]

    def resource_policy(self) -> list[dict]:
        lambda_ = self.client("lambda")
        try:
            policy = lambda_.get_policy(FunctionName=self.function_name)["Policy"]
        except lambda_.exceptions.ResourceNotFoundException:
            return []
        return json.loads(policy)["Statement"]


def role_holds_exactly_the_policy_file(deployed: Deployed) -> list[str]:
    """The role's one inline policy is deploy/policy-<stage>.json, for the function's account
    (the file holds ACCOUNT where it goes); nothing else is attached."""
    iam, name = deployed.client("iam"), f"{deployed.function_name}-ZappaLambdaExecutionRole"
    problems = []
    if deployed.function()["Role"].split("/")[-1] != name:
        problems.append(f"the function does not run with the role {name}")
    inline = iam.list_role_policies(RoleName=name)["PolicyNames"]
    if inline != [ZAPPA_POLICY_NAME]:
        problems.append(f"role {name} has the inline policies {inline}, not [{ZAPPA_POLICY_NAME}]")
    else:
        document = iam.get_role_policy(RoleName=name, PolicyName=ZAPPA_POLICY_NAME)
        wanted = policy_for_account(Path(deployed.config["attach_policy"]), deployed.account())
        if document["PolicyDocument"] != wanted:
            problems.append(f"role {name}'s policy is not {deployed.config['attach_policy']}")
    attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    if attached:
        problems.append(f"role {name} has managed policies attached: {attached}")
    return problems


def policy_for_account(path: Path, account: str) -> dict:
    """Return a policy file's document with its ACCOUNT placeholders (an ARN's account field,
    a condition's value) replaced by `account`."""
    text = path.read_text().replace(":ACCOUNT:", f":{account}:")
    return json.loads(text.replace('"ACCOUNT"', f'"{account}"'))


def function_is_configured_as_the_stage(deployed: Deployed) -> list[str]:
    """Runtime, architecture, memory, timeout, handler, environment and code, as the settings."""
    config, function = deployed.config, deployed.function()
    wanted = {
        "Runtime": config["runtime"],
        "Architectures": [config.get("architecture", "x86_64")],
        "MemorySize": config["memory_size"],
        "Timeout": config["timeout_seconds"],
        "Handler": HANDLER,
        "Environment": config.get("aws_environment_variables", {}),
        "CodeSize": deployed.package.stat().st_size,
    }
    have = {name: function.get(name) for name in wanted}
    have["Environment"] = function.get("Environment", {}).get("Variables", {})
    return [
        f"the function's {name} is {have[name]!r}, not {value!r}"
        for name, value in wanted.items()
        if have[name] != value
    ]


def package_is_built_for_the_stage(deployed: Deployed) -> list[str]:
    """The package's Zappa settings name this stage, it holds the entry point's module, and
    every native library in it is built for the function's architecture (its ELF header)."""
    with zipfile.ZipFile(deployed.package) as archive:
        baked = archive.read("zappa_settings.py").decode()
        names = set(archive.namelist())
        headers = {name: archive.open(name).read(20) for name in names}
    (architecture,) = deployed.function().get("Architectures", ["x86_64"])
    machine = ELF_MACHINES[architecture]
    foreign = sorted(
        name
        for name, header in headers.items()
        if header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") != machine
    )
    problems = [
        f"{deployed.package.name} holds native code not built for {architecture}: {name}"
        for name in foreign[:3]
    ]
    if f"API_STAGE={deployed.stage!r}" not in baked.splitlines():
        problems.append(f"{deployed.package.name} was built for another stage (zappa package)")
    module = HANDLER.rsplit(".", 1)[0].replace(".", "/")
    if not {f"{module}.py", f"{module}.pyc"} & names:
        problems.append(f"{deployed.package.name} holds no {module}.py, the entry point")
    return problems


def reserved_concurrency_is_as_set(deployed: Deployed) -> list[str]:
    """The function reserves the concurrency the settings give (`lambda_concurrency`), or none."""
    found = deployed.client("lambda").get_function_concurrency(FunctionName=deployed.function_name)
    have, wanted = (
        found.get("ReservedConcurrentExecutions"),
        deployed.config.get("lambda_concurrency"),
    )
    if have != wanted:
        return [f"the function reserves {have} concurrent executions, not {wanted}"]
    return []


def uploads_notify_the_function(deployed: Deployed) -> list[str]:
    """The uploads bucket sends its ObjectCreated events under uploads/ to the function only."""
    (source,) = [e["event_source"] for e in deployed.config["events"] if "event_source" in e]
    notification = deployed.client("s3").get_bucket_notification_configuration(
        Bucket=deployed.uploads_bucket
    )
    notification.pop("ResponseMetadata", None)
    arn = deployed.function()["FunctionArn"]
    wanted = [
        {
            "Id": deployed.function_name,
            "LambdaFunctionArn": arn,
            "Events": source["events"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": source["prefix"]}]}},
        }
    ]
    have = notification.pop("LambdaFunctionConfigurations", [])
    problems = [] if have == wanted else [f"bucket notifies {have}, not {wanted}"]
    if any(notification.values()):
        problems.append(f"the uploads bucket also notifies {notification}")
    return problems


def rest_api_proxies_every_path_to_the_function(deployed: Deployed) -> list[str]:
    """One REST API: / and /{proxy+} to the function, binary types, the stage's deployment."""
    apigateway = deployed.client("apigateway")
    apis = [a for a in apigateway.get_rest_apis()["items"] if a["name"] == deployed.function_name]
    if len(apis) != 1:
        return [f"{len(apis)} REST APIs are named {deployed.function_name}, not 1"]
    api, problems = apis[0], []
    resources = apigateway.get_resources(restApiId=api["id"])["items"]
    paths = sorted(r["path"] for r in resources)
    if paths != ["/", "/{proxy+}"]:
        problems.append(f"the REST API's resources are {paths}, not ['/', '/{{proxy+}}']")
    arn = deployed.function()["FunctionArn"]
    for resource in resources:
        methods = sorted(resource.get("resourceMethods", {}))
        if methods != ["ANY"]:
            problems.append(f"{resource['path']} answers {methods}, not ['ANY']")
            continue
        integration = apigateway.get_integration(
            restApiId=api["id"], resourceId=resource["id"], httpMethod="ANY"
        )
        if integration["type"] != "AWS_PROXY" or arn not in integration["uri"]:
            problems.append(f"{resource['path']} is not proxied to {arn}")
    if deployed.config.get("binary_support") and api.get("binaryMediaTypes") != ["*/*"]:
        problems.append(f"the REST API's binary media types are {api.get('binaryMediaTypes')}")
    stages = [s["stageName"] for s in apigateway.get_stages(restApiId=api["id"])["item"]]
    if stages != [deployed.stage]:
        problems.append(f"the REST API's stages are {stages}, not [{deployed.stage!r}]")
    return problems


def function_url_serves_the_site(deployed: Deployed) -> list[str]:
    """One public function URL, and no REST API (the stage's kind without API Gateway)."""
    lambda_ = deployed.client("lambda")
    configs = lambda_.list_function_url_configs(FunctionName=deployed.function_name)
    kinds = [c["AuthType"] for c in configs["FunctionUrlConfigs"]]
    problems = [] if kinds == ["NONE"] else [f"the function's URLs are {kinds}, not one public"]
    apis = [
        a
        for a in deployed.client("apigateway").get_rest_apis()["items"]
        if a["name"] == deployed.function_name
    ]
    if apis:
        problems.append("a REST API serves a stage that has none")
    return problems


def reconciler_is_scheduled(deployed: Deployed) -> list[str]:
    """Each scheduled event is a rule, enabled, with the function as its one target."""
    events, arn = deployed.client("events"), deployed.function()["FunctionArn"]
    wanted = sorted(
        (e["function"], e["expression"]) for e in deployed.config["events"] if "expression" in e
    )
    have, problems = [], []
    for name in events.list_rule_names_by_target(TargetArn=arn)["RuleNames"]:
        rule = events.describe_rule(Name=name)
        have.append((rule.get("Description"), rule.get("ScheduleExpression")))
        if rule["State"] != "ENABLED":
            problems.append(f"rule {name} is {rule['State']}")
        targets = [t["Arn"] for t in events.list_targets_by_rule(Rule=name)["Targets"]]
        if targets != [arn]:
            problems.append(f"rule {name} targets {targets}, not the function alone")
    if sorted(have) != wanted:
        problems.append(f"the scheduled rules are {sorted(have)}, not {wanted}")
    return problems


def failed_events_go_to_the_queue(deployed: Deployed) -> list[str]:
    """The function's asynchronous failures go, after two retries, to its failed-events queue."""
    lambda_ = deployed.client("lambda")
    try:
        found = lambda_.get_function_event_invoke_config(FunctionName=deployed.function_name)
    except lambda_.exceptions.ResourceNotFoundException:
        return ["the function has no on-failure destination"]
    queue = f"thumbs-{deployed.stage}-failed-events"
    destination = found.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
    problems = []
    if destination != f"arn:aws:sqs:{deployed.config['aws_region']}:{deployed.account()}:{queue}":
        problems.append(f"the function's failures go to {destination}, not the queue {queue}")
    if found.get("MaximumRetryAttempts") != ASYNC_RETRIES:
        problems.append(f"the function retries {found.get('MaximumRetryAttempts')} times")
    return problems


def one_s3_permission_for_this_bucket_and_account(deployed: Deployed) -> list[str]:
    """S3 may invoke the function through one statement: the uploads bucket, in this account."""
    s3 = [
        s
        for s in deployed.resource_policy()
        if s.get("Principal") == {"Service": "s3.amazonaws.com"}
    ]
    wanted = {
        "Sid": S3_STATEMENT_ID,
        "Action": "lambda:InvokeFunction",
        "Condition": {
            "StringEquals": {"AWS:SourceAccount": deployed.account()},
            "ArnLike": {"AWS:SourceArn": f"arn:aws:s3:::{deployed.uploads_bucket}"},
        },
    }
    have = [{name: s.get(name) for name in wanted} for s in s3]
    if have != [wanted]:
        return [f"S3 may invoke the function through {have}, not only {[wanted]}"]
    return []


def resource_policy_does_not_grow(deployed: Deployed) -> list[str]:
    """The function's resource policy holds as many statements as after the first deploy."""
    size = len(deployed.resource_policy())
    first = deployed.notes.setdefault("policy_size", size)
    return [] if size == first else [f"the resource policy grew from {first} to {size} statements"]


def changed_setting_reached_the_function(deployed: Deployed) -> list[str]:
    """The setting changed before `zappa update` is in the function's environment."""
    name, value = deployed.notes["changed_setting"]
    have = deployed.function().get("Environment", {}).get("Variables", {}).get(name)
    return [] if have == value else [f"the function's {name} is {have!r}, not {value!r}"]


def site_is_served_by_its_rest_api_or_url(deployed: Deployed) -> list[str]:
    """The stage's way in: its REST API, or its function URL for a stage of that kind."""
    if deployed.serves_through_a_function_url:
        return function_url_serves_the_site(deployed)
    return rest_api_proxies_every_path_to_the_function(deployed)


def nobody_invokes_the_function_but_through_its_url(deployed: Deployed) -> list[str]:
    """No statement lets every principal invoke the function, but through its function URL
    (Zappa's own would let any AWS account invoke it directly, with any event)."""
    problems = []
    for statement in deployed.resource_policy():
        public = statement.get("Principal") in ("*", {"AWS": "*"})
        if public and statement.get("Action") == "lambda:InvokeFunction":
            if statement.get("Condition") != {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}:
                problems.append(f"statement {statement.get('Sid')} lets anyone invoke it")
            elif not deployed.serves_through_a_function_url:
                problems.append(f"statement {statement.get('Sid')}: a stage with no URL")
    return problems


def api_is_throttled(deployed: Deployed) -> list[str]:
    """The REST API's stage is throttled as the settings say (a stage with a URL has none)."""
    if deployed.serves_through_a_function_url:
        return []
    from app.config import Settings

    apigateway = deployed.client("apigateway")
    apis = [a for a in apigateway.get_rest_apis()["items"] if a["name"] == deployed.function_name]
    if len(apis) != 1:
        return []  # the REST API's own check says so
    method = apigateway.get_stage(restApiId=apis[0]["id"], stageName=deployed.stage)
    method = method.get("methodSettings", {}).get("*/*", {})
    settings = Settings(stage=deployed.stage)
    wanted = (float(settings.api_rate_limit), settings.api_burst_limit)
    have = (method.get("throttlingRateLimit"), method.get("throttlingBurstLimit"))
    return [] if have == wanted else [f"the API is throttled to {have}, not {wanted}"]


def log_groups_expire(deployed: Deployed) -> list[str]:
    """The function's log group exists, and it and every group under its name keep their
    lines as long as the settings say, not forever."""
    from app.config import Settings

    wanted = Settings(stage=deployed.stage).log_retention_days
    prefix = f"/aws/lambda/{deployed.function_name}"
    groups = deployed.client("logs").describe_log_groups(logGroupNamePrefix=prefix)["logGroups"]
    if prefix not in [group["logGroupName"] for group in groups]:
        return [f"no log group {prefix}"]
    return [
        f"log group {group['logGroupName']} keeps its lines {group.get('retentionInDays')} "
        f"days, not {wanted}"
        for group in groups
        if group.get("retentionInDays") != wanted
    ]


# What must hold right after each Zappa command, before `flask infra up` runs.
RIGHT_AFTER_ZAPPA = (nobody_invokes_the_function_but_through_its_url,)

# What a deployed stage must hold after `flask infra up` follows each deploy and update.
DEPLOYED = (
    role_holds_exactly_the_policy_file,
    function_is_configured_as_the_stage,
    package_is_built_for_the_stage,
    reserved_concurrency_is_as_set,
    uploads_notify_the_function,
    site_is_served_by_its_rest_api_or_url,
    reconciler_is_scheduled,
    failed_events_go_to_the_queue,
    one_s3_permission_for_this_bucket_and_account,
    nobody_invokes_the_function_but_through_its_url,
    api_is_throttled,
    log_groups_expire,
    resource_policy_does_not_grow,
)
