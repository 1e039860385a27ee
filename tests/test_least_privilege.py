"""The attached IAM policy allows every AWS call the function makes, and nothing more.

The whole flow runs through the real Zappa handler on moto, every page and the worker
included; each call is recorded as IAM sees it, with what browsers do through presigned
requests (S3 authorizes those as the function that signed them).
"""

import re
import sys
from urllib.parse import urlsplit

import pytest

from deploy.package import FUNCTION_OPERATIONS
from embedded_aws.context import LambdaContext
from rehearse.checks import policy_for_account

from deployed import ROOT, upload_photo
from iam_check import OWNED, Access, Recorder, allowing, arn_matches, unused_grants
from lambda_stage import ACCOUNT, scheduled_event, site_urls
from support import s3_event

# The runtime writes the logs with the role; Lambda sends failed events to their queue with it.
RUNTIME_ONLY = {"Logs", "FailedEvents"}
SCHEDULED = scheduled_event("thumbs-dev-app.reconciler.handle_schedule")


@pytest.fixture
def walked(deployed, monkeypatch):
    """The recorder of a whole visit and its conversions, and the routes it reached."""
    recorder = Recorder()
    recorder.install(monkeypatch)
    routes = walk_the_site(deployed, recorder, monkeypatch)
    return recorder, routes


@pytest.fixture
def recorded(walked):
    """The accesses of a whole visit and its conversions, and the routes it reached."""
    recorder, routes = walked
    return recorder.accesses, routes


def walk_the_site(deployed, recorder, monkeypatch) -> set[str]:
    """Do all a visitor can: upload by form and by script, convert, look, list, download,
    try again, delete; and what the schedule does: reconcile."""
    browser = deployed.browser()
    page, landed, key = upload_photo(browser)
    recorder.browser_post(deployed.settings.uploads_bucket, key)
    job_url = landed.header("Location")
    browser.get(job_url)
    size = convert(deployed, key)
    convert(deployed, key, size)  # S3 delivers at least once: a duplicate event
    status = browser.get(job_url + "/status").json()
    for rendition in status["renditions"]:
        recorder.browser_get(rendition["src"])
        for link in (rendition["url"], rendition["download_url"]):
            recorder.browser_get(browser.get(link).header("Location"))
    try_again(deployed, browser, monkeypatch)
    reconcile(deployed, monkeypatch)
    more_uploads(browser, page.text)
    _, _, not_an_image = upload_photo(browser, "notes.jpg", b"not a picture")
    recorder.browser_post(deployed.settings.uploads_bucket, not_an_image)
    convert(deployed, not_an_image)
    history = browser.get(
        next(u for u in site_urls(page.text) if urlsplit(u).path.rstrip("/").endswith("/jobs"))
    )
    for link in site_urls(history.text):
        if ".s3." in (urlsplit(link).hostname or ""):
            recorder.browser_get(link)
    share(browser, recorder, job_url)
    delete(browser, browser.get(job_url).text)
    browser.get("/dev/healthz")
    return {route_of(method, url) for method, url, _ in browser.log}


def try_again(deployed, browser, monkeypatch) -> None:
    """A job whose every attempt died: its page offers Try again, which starts it anew."""
    _, landed, key = upload_photo(browser, "crashes.jpg")
    job_id, owner = key.split("/")[1:3]
    from app.jobs import JobStore

    jobs = JobStore(deployed.dynamodb(), deployed.settings.jobs_table)
    for _ in range(deployed.settings.max_attempts):
        jobs.claim(job_id, owner, key, "crashes.jpg", 0.0, deployed.settings.max_attempts)
    retried = post_form(browser, browser.get(landed.header("Location")).text, "/retry")
    assert retried.status == 303, retried.text


def reconcile(deployed, monkeypatch) -> None:
    """An upload whose event and redirect were both lost, found by the scheduled reconciler."""
    deployed.s3().put_object(
        Bucket=deployed.settings.uploads_bucket, Key="uploads/lost/owner/lost.jpg", Body=b"x"
    )
    monkeypatch.setenv("DELAYED_AFTER_SECONDS", "0")
    deployed.handler(SCHEDULED, LambdaContext("thumbs-dev"))


def convert(deployed, key: str, size: int | None = None) -> int:
    """Deliver the upload's event (of `size` bytes: a converted upload is deleted)."""
    if size is None:
        head = deployed.s3().head_object(Bucket=deployed.settings.uploads_bucket, Key=key)
        size = head["ContentLength"]
    deployed.handler(
        s3_event(deployed.settings.uploads_bucket, key, size), LambdaContext("thumbs-dev")
    )
    return size


def more_uploads(browser, page: str) -> None:
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    jobs_url = re.search(r'data-jobs-url="([^"]+)"', page).group(1)
    made = browser.request(
        "POST",
        jobs_url,
        body=b'{"count": 2}',
        headers={"Content-Type": "application/json", "X-CSRFToken": token},
    )
    assert made.status == 201, made.text


def post_form(browser, page: str, action_ends: str):
    """Submit the page's form whose action ends with `action_ends`, with its CSRF token."""
    action = re.search(rf'<form method="post" action="([^"]+{action_ends})"', page).group(1)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return browser.request(
        "POST",
        action,
        body=f"csrf_token={token}".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def share(browser, recorder, job_url: str) -> None:
    """Share a done job, open its link as anyone would, download from it, stop sharing."""
    assert post_form(browser, browser.get(job_url).text, "/share").status == 303
    job_page = browser.get(job_url).text
    link = re.search(r'id="share-link" type="text" readonly value="([^"]+)"', job_page).group(1)
    shared = browser.get(urlsplit(link).path).text
    for download in re.findall(r'href="([^"]+/files/[^"]+)"', shared):
        recorder.browser_get(browser.get(download.replace("&amp;", "&")).header("Location"))
    assert post_form(browser, job_page, "/unshare").status == 303


def delete(browser, job_page: str) -> None:
    deleted = post_form(browser, job_page, "/delete")
    assert deleted.status == 303, deleted.text


def route_of(method: str, url: str) -> str:
    """Return the app's endpoint for a request the browser made."""
    adapter = sys.modules["wsgi"].app.url_map.bind("localhost")
    path = urlsplit(url).path.removeprefix("/dev")
    return adapter.match(path or "/", method=method)[0]


def attached_policy(deployed) -> dict:
    """The policy file Zappa's settings name, for moto's account, as flask infra up puts it."""
    return policy_for_account(ROOT / deployed.stage_config["attach_policy"], ACCOUNT)


def test_the_walk_reaches_every_route_of_the_site(deployed, recorded):
    _, routes = recorded
    every = {rule.endpoint for rule in sys.modules["wsgi"].app.url_map.iter_rules()}
    missing = every - routes - {"static"}
    assert not missing, (
        f"walk_the_site never reaches {missing}: add them, so the AWS calls "
        "they make are checked against the policy"
    )


def test_the_policy_allows_every_call_the_function_makes(deployed, recorded):
    accesses, _ = recorded
    policy = attached_policy(deployed)
    refused = [a for a in accesses if not allowing(policy, a)]
    assert not refused, "the policy refuses:\n" + "\n".join(map(str, refused))
    assert {a.via for a in accesses} >= {
        "ssm.GetParameter",
        "dynamodb.PutItem",
        "dynamodb.BatchGetItem",
        "lambda.Invoke",
        "s3.GetObject",
        "s3.PutObject",
        "browser POST",
        "browser GET",
    }


def test_the_package_ships_the_sdk_model_of_every_operation_the_function_calls(walked):
    """The package cuts botocore's models to deploy/package.py's FUNCTION_OPERATIONS: a call
    to any other would fail on Lambda (the client would have no such method)."""
    recorder, _ = walked
    called = set(recorder.calls)
    shipped = {f"{s}.{o}" for s, operations in FUNCTION_OPERATIONS.items() for o in operations}
    assert {
        "s3.PutObject",
        "dynamodb.UpdateItem",
        "ssm.GetParameter",
        "lambda.Invoke",
        "sts.GetCallerIdentity",
    } <= called
    assert called <= shipped, f"not in FUNCTION_OPERATIONS: {sorted(called - shipped)}"


def test_the_policy_allows_nothing_the_function_does_not_do(deployed, recorded):
    accesses, _ = recorded
    unused = unused_grants(attached_policy(deployed), accesses, RUNTIME_ONLY)
    assert not unused, "the policy grants what nothing uses:\n" + "\n".join(unused)


def test_every_s3_call_the_function_makes_names_the_buckets_owner(walked):
    """A presigned POST or GET cannot carry ExpectedBucketOwner; every call the function
    makes itself does, so S3 refuses a bucket of the same name in another account."""
    recorder, _ = walked
    assert {"GetObject", "PutObject", "ListObjectsV2", "DeleteObjects"} <= {
        operation for operation, _ in recorder.bucket_owners
    }
    strays = [(op, owner) for op, owner in recorder.bucket_owners if owner != ACCOUNT]
    assert not strays, f"S3 calls without this account as the expected owner: {strays}"


def test_the_policy_names_this_stage_and_this_account_and_no_wildcard_beyond_keys(deployed):
    """Every statement names the account: in its ARNs, or, for S3 (whose ARNs hold no
    account), by aws:ResourceAccount, which also holds the browsers' presigned requests."""
    policy = attached_policy(deployed)
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow" and "NotAction" not in statement
        assert not any("*" in action for action in statement["Action"])
        resources = statement["Resource"]
        for resource in resources if isinstance(resources, list) else [resources]:
            assert "thumbs-dev" in resource or "/thumbs/dev/" in resource, resource
            assert "*" not in resource.rstrip("*").rstrip(":"), resource
            service, account = resource.split(":")[2], resource.split(":")[4]
            if service == "s3":
                equals = statement["Condition"]["StringEquals"]
                assert equals == {"aws:ResourceAccount": ACCOUNT}, statement["Sid"]
            else:
                assert account == ACCOUNT, resource


def test_the_committed_policy_holds_a_placeholder_where_the_account_goes(deployed):
    committed = (ROOT / deployed.stage_config["attach_policy"]).read_text()
    assert not re.search(r"\d{12}", committed)
    assert committed.count(":ACCOUNT:") == 7 and committed.count('"ACCOUNT"') == 4


def test_the_checker_itself_refuses_what_iam_would(deployed):
    policy = attached_policy(deployed)
    assert not allowing(
        policy, Access("s3:GetObject", "arn:aws:s3:::thumbs-dev-results/other", OWNED)
    )
    assert not allowing(
        policy,
        Access("s3:GetObject", "arn:aws:s3:::thumbs-production-results/results/j/t.jpg", OWNED),
    )
    assert not allowing(
        policy,
        Access("s3:ListBucket", "arn:aws:s3:::thumbs-dev-uploads", (("s3:prefix", ""), *OWNED)),
    )
    assert not allowing(
        policy, Access("dynamodb:Scan", "arn:aws:dynamodb:us-east-1:1:table/thumbs-dev-jobs")
    )
    assert not arn_matches("arn:aws:s3:::a/*", "arn:aws:s3:::b/a/x")
    # A bucket of that name in another account (bucket names are global) is out of reach.
    results = "arn:aws:s3:::thumbs-dev-results/results/j/t.jpg"
    assert allowing(policy, Access("s3:GetObject", results, OWNED))
    elsewhere = (("aws:ResourceAccount", "210987654321"),)
    assert not allowing(policy, Access("s3:GetObject", results, elsewhere))
    assert not allowing(
        policy,
        Access("dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:210987654321:table/thumbs-dev-jobs"),
    )
