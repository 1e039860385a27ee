"""The function's least-privilege IAM policy: what the web views, the worker and the browsers
(through presigned requests, with the function's authority) do, on this stage's resources only.

Every statement names the account: in its ARNs, or, for S3, whose ARNs hold none (bucket names
are global), with `aws:ResourceAccount`, so a bucket of the same name in another account is
out of reach even where no `ExpectedBucketOwner` can be sent (a browser's presigned POST or
GET). The files under deploy/ hold the placeholder `ACCOUNT` where the account goes: `flask
infra up` puts the policy on the role for the account STS names, so no account id is committed.
"""

from __future__ import annotations

from .config import Settings, secret_parameter
from .jobs import OWNER_INDEX
from .storage import RESULTS_PREFIX, UPLOADS_PREFIX

# What the committed policy files hold in place of the account's id.
ACCOUNT = "ACCOUNT"


def iam_policy(settings: Settings, account: str = ACCOUNT) -> dict:
    """Return the IAM policy of a stage's function (web, worker and reconciler alike), for
    `account` (by default the placeholder the committed files hold)."""
    function_name = settings.function_name
    region, uploads, results = (
        settings.aws_region,
        settings.uploads_bucket,
        settings.results_bucket,
    )
    table = f"arn:aws:dynamodb:{region}:{account}:table/{settings.jobs_table}"
    log_group = f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{function_name}"
    ours = {"StringEquals": {"aws:ResourceAccount": account}}
    parameter = settings.secret_key_parameter or secret_parameter(settings.stage)
    statements = [
        # Lambda's runtime writes the function's logs with its role.
        {
            "Sid": "Logs",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [log_group, f"{log_group}:*"],
        },
        # The browser's POST (PutObject) is authorized as the function that signed it; the
        # worker reads the upload; deleting a job deletes it.
        {
            "Sid": "Uploads",
            "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
            "Resource": f"arn:aws:s3:::{uploads}/{UPLOADS_PREFIX}*",
            "Condition": ours,
        },
        # The worker writes renditions; the browser's presigned GETs read them.
        {
            "Sid": "Results",
            "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
            "Resource": f"arn:aws:s3:::{results}/{RESULTS_PREFIX}*",
            "Condition": ours,
        },
        # Deleting a job lists its objects, under its own prefix only; the reconciler lists
        # the uploads S3 keeps, and the redirect looks for its own.
        {
            "Sid": "ListUploads",
            "Action": ["s3:ListBucket"],
            "Resource": f"arn:aws:s3:::{uploads}",
            "Condition": {**ours, "StringLike": {"s3:prefix": [f"{UPLOADS_PREFIX}*"]}},
        },
        {
            "Sid": "ListResults",
            "Action": ["s3:ListBucket"],
            "Resource": f"arn:aws:s3:::{results}",
            "Condition": {**ours, "StringLike": {"s3:prefix": [f"{RESULTS_PREFIX}*"]}},
        },
        {
            "Sid": "Jobs",
            "Action": [
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
            ],
            "Resource": table,
        },
        {
            "Sid": "History",
            "Action": ["dynamodb:Query"],
            "Resource": f"{table}/index/{OWNER_INDEX}",
        },
        # The reconciler, Try again and a replay start a conversion by invoking the function
        # itself, asynchronously, with an S3 event.
        {
            "Sid": "StartConversions",
            "Action": ["lambda:InvokeFunction"],
            "Resource": f"arn:aws:lambda:{region}:{account}:function:{function_name}",
        },
        # Lambda sends the events the worker failed on for good to this queue, with this role.
        {
            "Sid": "FailedEvents",
            "Action": ["sqs:SendMessage"],
            "Resource": f"arn:aws:sqs:{region}:{account}:{settings.failed_events_queue}",
        },
        # A SecureString under the AWS-managed key: SSM decrypts for the caller, no KMS grant.
        {
            "Sid": "SecretKey",
            "Action": ["ssm:GetParameter"],
            "Resource": f"arn:aws:ssm:{region}:{account}:parameter/{parameter.lstrip('/')}",
        },
    ]
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", **statement} for statement in statements],
    }
