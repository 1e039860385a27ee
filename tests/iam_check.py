"""Record the AWS calls the code makes, as IAM sees them, and evaluate an IAM policy on them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import app.services

from lambda_stage import ACCOUNT


@dataclass(frozen=True)
class Access:
    """One IAM authorization: an action on a resource, with the condition keys it carries."""

    action: str
    resource: str
    context: tuple = ()
    via: str = ""

    def key(self, name: str) -> str | None:
        return dict(self.context).get(name)


# Every bucket here is moto's default account's: the account that owns it, as IAM sees it.
OWNED = (("aws:ResourceAccount", ACCOUNT),)


def _s3(operation: str, params: dict, region: str) -> list[Access]:
    bucket = f"arn:aws:s3:::{params['Bucket']}"
    objects = {
        "GetObject": "s3:GetObject",
        "HeadObject": "s3:GetObject",
        "PutObject": "s3:PutObject",
        "DeleteObject": "s3:DeleteObject",
    }
    if operation in objects:
        return [Access(objects[operation], f"{bucket}/{params['Key']}", OWNED)]
    if operation == "DeleteObjects":  # authorized per key, as DeleteObject
        return [
            Access("s3:DeleteObject", f"{bucket}/{item['Key']}", OWNED)
            for item in params["Delete"]["Objects"]
        ]
    if operation in ("ListObjectsV2", "ListObjects"):
        prefix = (("s3:prefix", params.get("Prefix", "")),)
        return [Access("s3:ListBucket", bucket, prefix + OWNED)]
    if operation == "HeadBucket":
        return [Access("s3:ListBucket", bucket, OWNED)]
    raise AssertionError(f"no IAM mapping for s3 {operation}: add one here")


def _dynamodb(operation: str, params: dict, region: str) -> list[Access]:
    if operation == "BatchGetItem":  # authorized per table, as BatchGetItem
        return [
            Access("dynamodb:BatchGetItem", f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{name}")
            for name in params["RequestItems"]
        ]
    table = f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{params['TableName']}"
    if operation in ("GetItem", "PutItem", "UpdateItem", "DeleteItem"):
        return [Access(f"dynamodb:{operation}", table)]
    if operation in ("Query", "Scan"):
        index = f"/index/{params['IndexName']}" if params.get("IndexName") else ""
        return [Access(f"dynamodb:{operation}", table + index)]
    raise AssertionError(f"no IAM mapping for dynamodb {operation}: add one here")


def _ssm(operation: str, params: dict, region: str) -> list[Access]:
    if operation == "GetParameter":
        name = params["Name"].lstrip("/")
        return [Access("ssm:GetParameter", f"arn:aws:ssm:{region}:{ACCOUNT}:parameter/{name}")]
    raise AssertionError(f"no IAM mapping for ssm {operation}: add one here")


def _lambda(operation: str, params: dict, region: str) -> list[Access]:
    if operation == "Invoke":
        name = params["FunctionName"].split(":function:")[-1].split(":")[0]
        return [
            Access("lambda:InvokeFunction", f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}")
        ]
    raise AssertionError(f"no IAM mapping for lambda {operation}: add one here")


def _sts(operation: str, params: dict, region: str) -> list[Access]:
    if operation == "GetCallerIdentity":
        return []  # STS API reference: "No permissions are required to perform this operation."
    raise AssertionError(f"no IAM mapping for sts {operation}: add one here")


_MAPPINGS = {"s3": _s3, "dynamodb": _dynamodb, "ssm": _ssm, "lambda": _lambda, "sts": _sts}


@dataclass
class Recorder:
    """Every call made through clients from app.services.client, and what browsers do with
    presigned requests (authorized as the function that signed them)."""

    accesses: list[Access] = field(default_factory=list)
    # Every call made, as service.Operation (some need no authorization: no access).
    calls: list[str] = field(default_factory=list)
    # Each S3 call the function made, and the bucket owner it expected (None: it named none).
    bucket_owners: list[tuple[str, str | None]] = field(default_factory=list)

    def install(self, monkeypatch) -> None:
        """Record the calls of every client made from now on (kept clients are dropped)."""
        app.services.forget()
        original = app.services.client

        def recording_client(service: str, settings: dict):
            made = original(service, settings)
            made.meta.events.register("provide-client-params", self._keep_params)
            made.meta.events.register("before-call", self._record)
            return made

        monkeypatch.setattr(app.services, "client", recording_client)

    @staticmethod
    def _keep_params(params, context, **_):
        # API parameters as the code passed them; before-call sees only the serialized request.
        context["thumbs.params"] = dict(params)

    def _record(self, model, context, **_):
        service, params = model.service_model.service_name, context["thumbs.params"]
        if service not in _MAPPINGS:
            raise AssertionError(f"no IAM mapping for service {service}: add one here")
        self.calls.append(f"{service}.{model.name}")
        if service == "s3":
            self.bucket_owners.append((model.name, params.get("ExpectedBucketOwner")))
        for access in _MAPPINGS[service](model.name, params, context["client_region"]):
            self.accesses.append(
                Access(access.action, access.resource, access.context, f"{service}.{model.name}")
            )

    def browser_post(self, bucket: str, key: str) -> None:
        self.accesses.append(
            Access("s3:PutObject", f"arn:aws:s3:::{bucket}/{key}", OWNED, "browser POST")
        )

    def browser_get(self, url: str) -> None:
        parts = urlsplit(url)
        bucket = parts.hostname.split(".s3.")[0]
        self.accesses.append(
            Access(
                "s3:GetObject",
                f"arn:aws:s3:::{bucket}/{unquote(parts.path.lstrip('/'))}",
                OWNED,
                "browser GET",
            )
        )


def _glob(pattern: str, value: str) -> bool:
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, value, re.S) is not None


def arn_matches(pattern: str, arn: str) -> bool:
    """IAM's ARN match: wildcards match within each of the six colon-separated parts."""
    wanted, actual = pattern.split(":", 5), arn.split(":", 5)
    return len(wanted) == len(actual) == 6 and all(map(_glob, wanted, actual))


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def condition_holds(condition: dict, access: Access) -> bool:
    """Evaluate the StringLike/StringEquals conditions used here; anything else never holds."""
    for operator, keys in condition.items():
        for name, allowed in keys.items():
            value = access.key(name)
            if value is None or operator not in ("StringLike", "StringEquals"):
                return False
            match = _glob if operator == "StringLike" else str.__eq__
            if not any(match(pattern, value) for pattern in _as_list(allowed)):
                return False
    return True


def allowing(policy: dict, access: Access) -> list[dict]:
    """Return the statements of `policy` that allow `access`."""
    return [
        s
        for s in policy["Statement"]
        if s["Effect"] == "Allow"
        and any(_glob(a.lower(), access.action.lower()) for a in _as_list(s["Action"]))
        and any(arn_matches(r, access.resource) for r in _as_list(s["Resource"]))
        and condition_holds(s.get("Condition", {}), access)
    ]


def unused_grants(policy: dict, accesses: list[Access], exempt: set[str]) -> list[str]:
    """Return each action × resource × condition value a statement grants that nothing used."""
    unused = []
    for statement in policy["Statement"]:
        if statement.get("Sid") in exempt:
            continue
        values = [
            (name, v)
            for keys in statement.get("Condition", {}).values()
            for name, allowed in keys.items()
            for v in _as_list(allowed)
        ] or [None]
        for action in _as_list(statement["Action"]):
            for resource in _as_list(statement["Resource"]):
                for value in values:
                    single = {**statement, "Action": action, "Resource": resource}
                    if value:
                        single["Condition"] = {"StringLike": {value[0]: value[1]}}
                    if not any(allowing({"Statement": [single]}, a) for a in accesses):
                        unused.append(
                            f"{statement.get('Sid')}: {action} on {resource}"
                            + (f" if {value[0]} is {value[1]}" if value else "")
                        )
    return unused
