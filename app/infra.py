"""Create, check and remove what Thumbs needs in AWS; every step is idempotent."""

from __future__ import annotations

from botocore.exceptions import ClientError

from .jobs import VISITOR_INDEX
from .storage import RESULTS_PREFIX, UPLOADS_PREFIX

LOCAL_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*"]


def site_origins(settings: dict) -> list[str]:
    """Return the origins whose pages may talk to the buckets from a browser."""
    configured = [o.strip().rstrip("/") for o in (settings.get("SITE_ORIGIN") or "").split(",")]
    origins = [o for o in configured if o]
    if settings.get("LOCAL_AWS") or settings.get("TESTING"):
        origins += LOCAL_ORIGINS
    return origins


def bucket_setup(settings: dict) -> dict[str, dict]:
    """Return, per bucket, the configuration it must have."""
    origins = site_origins(settings)
    ttl_days = settings["JOB_TTL_DAYS"]

    def setup(prefix: str, methods: list[str], days: int, exposed: list[str]) -> dict:
        rules = [{"ID": "expire", "Status": "Enabled", "Filter": {"Prefix": prefix},
                  "Expiration": {"Days": days},
                  "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}]
        cors = [{"AllowedMethods": methods, "AllowedOrigins": origins, "AllowedHeaders": ["*"],
                 "ExposeHeaders": exposed, "MaxAgeSeconds": 3600}] if origins else []
        return {"cors": cors, "lifecycle": rules}

    return {
        # An upload is worth nothing once converted; a day covers every retry.
        settings["UPLOADS_BUCKET"]: setup(UPLOADS_PREFIX, ["POST"], 1, ["ETag", "Location"]),
        settings["RESULTS_BUCKET"]: setup(RESULTS_PREFIX, ["GET", "HEAD"], ttl_days,
                                          ["Content-Length", "Content-Type"]),
    }


_PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True, "IgnorePublicAcls": True,
    "BlockPublicPolicy": True, "RestrictPublicBuckets": True,
}
_ENCRYPTION = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}


def up(settings: dict, s3, dynamodb, log=print) -> None:
    """Create the buckets and the table, or bring them to the expected configuration."""
    for bucket, setup in bucket_setup(settings).items():
        _create_bucket(s3, bucket, settings["AWS_REGION"], log)
        s3.put_public_access_block(Bucket=bucket,
                                   PublicAccessBlockConfiguration=_PUBLIC_ACCESS_BLOCK)
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=_ENCRYPTION)
        if setup["cors"]:
            s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": setup["cors"]})
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket, LifecycleConfiguration={"Rules": setup["lifecycle"]})
    table = settings["JOBS_TABLE"]
    _create_table(dynamodb, table, log)
    if _ttl_attribute(dynamodb, table) != "expires_at":
        dynamodb.update_time_to_live(
            TableName=table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
        )


def check(settings: dict, s3, dynamodb) -> list[str]:
    """Return what differs from the expected setup, one sentence each (empty: all is well)."""
    problems = []
    for bucket, setup in bucket_setup(settings).items():
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError:
            problems.append(f"bucket {bucket} is missing")
            continue
        problems += _bucket_problems(s3, bucket, setup)
    table = settings["JOBS_TABLE"]
    try:
        description = dynamodb.describe_table(TableName=table)["Table"]
    except dynamodb.exceptions.ResourceNotFoundException:
        return problems + [f"table {table} is missing"]
    indexes = {i["IndexName"] for i in description.get("GlobalSecondaryIndexes", [])}
    if VISITOR_INDEX not in indexes:
        problems.append(f"table {table} has no {VISITOR_INDEX} index")
    if description.get("BillingModeSummary", {}).get("BillingMode") != "PAY_PER_REQUEST":
        problems.append(f"table {table} is not on demand")
    if _ttl_attribute(dynamodb, table) != "expires_at":
        problems.append(f"table {table} has no TTL on expires_at")
    return problems


def down(settings: dict, s3, dynamodb, log=print) -> None:
    """Delete the buckets (with everything in them) and the table."""
    for bucket in bucket_setup(settings):
        try:
            paginator = s3.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=bucket):
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:
                    s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            s3.delete_bucket(Bucket=bucket)
            log(f"deleted bucket {bucket}")
        except s3.exceptions.NoSuchBucket:
            log(f"bucket {bucket} was already gone")
    try:
        dynamodb.delete_table(TableName=settings["JOBS_TABLE"])
        log(f"deleted table {settings['JOBS_TABLE']}")
    except dynamodb.exceptions.ResourceNotFoundException:
        log(f"table {settings['JOBS_TABLE']} was already gone")


def connect_queue(settings: dict, s3, sqs) -> str:
    """Send the uploads bucket's ObjectCreated events to a queue (the embedded AWS's trigger)."""
    queue_url = sqs.create_queue(
        QueueName=f"thumbs-{settings['STAGE']}-events",
        # A delivery stays hidden while the worker may still be converting it.
        Attributes={"VisibilityTimeout": str(settings["PROCESSING_TIMEOUT_SECONDS"])},
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    s3.put_bucket_notification_configuration(
        Bucket=settings["UPLOADS_BUCKET"],
        NotificationConfiguration={"QueueConfigurations": [{
            "QueueArn": arn["Attributes"]["QueueArn"], "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": UPLOADS_PREFIX}]}},
        }]},
    )
    return queue_url


def _create_bucket(s3, bucket: str, region: str, log) -> None:
    options = {} if region == "us-east-1" else {
        "CreateBucketConfiguration": {"LocationConstraint": region}}
    try:
        s3.create_bucket(Bucket=bucket, **options)
        log(f"created bucket {bucket}")
    except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        pass


def _create_table(dynamodb, table: str, log) -> None:
    try:
        dynamodb.create_table(
            TableName=table, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "job_id", "AttributeType": "S"},
                {"AttributeName": "visitor_id", "AttributeType": "S"},
                {"AttributeName": "created_at", "AttributeType": "N"},
            ],
            KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[{
                "IndexName": VISITOR_INDEX,
                "KeySchema": [{"AttributeName": "visitor_id", "KeyType": "HASH"},
                              {"AttributeName": "created_at", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }],
        )
        dynamodb.get_waiter("table_exists").wait(TableName=table,
                                                 WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        log(f"created table {table}")
    except dynamodb.exceptions.ResourceInUseException:
        pass


def _ttl_attribute(dynamodb, table: str) -> str | None:
    description = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    if description.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        return description.get("AttributeName")
    return None


def _bucket_problems(s3, bucket: str, setup: dict) -> list[str]:
    problems = []
    try:
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        if block != _PUBLIC_ACCESS_BLOCK:
            problems.append(f"bucket {bucket} does not block all public access")
    except ClientError:
        problems.append(f"bucket {bucket} does not block public access")
    try:
        rules = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    except ClientError:
        rules = []
    if setup["cors"] and [sorted(r["AllowedOrigins"]) for r in rules] != \
            [sorted(r["AllowedOrigins"]) for r in setup["cors"]]:
        problems.append(f"bucket {bucket} CORS does not allow exactly {setup['cors'][0]['AllowedOrigins']}")
    try:
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    except ClientError:
        rules = []
    if not any(r.get("Expiration") == setup["lifecycle"][0]["Expiration"] for r in rules):
        problems.append(f"bucket {bucket} has no lifecycle rule expiring objects")
    try:
        s3.get_bucket_encryption(Bucket=bucket)
    except ClientError:
        problems.append(f"bucket {bucket} has no default encryption")
    return problems


def secret_parameter(stage: str) -> str:
    """Return the SSM parameter that holds a stage's SECRET_KEY, by convention."""
    return f"/thumbs/{stage}/secret-key"


def iam_policy(settings: dict, function_name: str) -> dict:
    """Return the least-privilege IAM policy of a stage's function (web and worker alike)."""
    region, uploads, results = (settings["AWS_REGION"], settings["UPLOADS_BUCKET"],
                                settings["RESULTS_BUCKET"])
    table = f"arn:aws:dynamodb:{region}:*:table/{settings['JOBS_TABLE']}"
    statements = [
        {"Sid": "Logs", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream",
                                   "logs:PutLogEvents"],
         "Resource": f"arn:aws:logs:{region}:*:log-group:/aws/lambda/{function_name}:*"},
        # The browser's POST and GET are authorized as the function that signed them.
        {"Sid": "Uploads", "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
         "Resource": f"arn:aws:s3:::{uploads}/{UPLOADS_PREFIX}*"},
        {"Sid": "Results", "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
         "Resource": f"arn:aws:s3:::{results}/{RESULTS_PREFIX}*"},
        {"Sid": "ListJobObjects", "Action": ["s3:ListBucket"],
         "Resource": [f"arn:aws:s3:::{uploads}", f"arn:aws:s3:::{results}"],
         "Condition": {"StringLike": {"s3:prefix": [f"{UPLOADS_PREFIX}*", f"{RESULTS_PREFIX}*"]}}},
        {"Sid": "Jobs", "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                                   "dynamodb:DeleteItem"],
         "Resource": table},
        {"Sid": "History", "Action": ["dynamodb:Query"],
         "Resource": f"{table}/index/{VISITOR_INDEX}"},
    ]
    name = (settings.get("SECRET_KEY_PARAMETER") or secret_parameter(settings["STAGE"])).lstrip("/")
    statements.append({"Sid": "SecretKey", "Action": ["ssm:GetParameter"],
                       "Resource": f"arn:aws:ssm:{region}:*:parameter/{name}"})
    return {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", **statement} for statement in statements]}
