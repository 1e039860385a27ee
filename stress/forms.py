"""Hostile forms: a visitor edits the upload form S3 receives, with a second visitor as the
victim. Every attack must be refused, or stored where it harms nobody; the victim's job and
images must stay as they were."""

from __future__ import annotations

import boto3
import requests
from botocore.config import Config

from tests.support import multipart, upload_form, with_a_second_file

from .cluster import FAKE_AWS, Cluster, Visitor
from .scenarios import Outcome, picture


def run(cluster: Cluster) -> Outcome:
    outcome = Outcome("hostile forms")
    victim = Visitor(cluster)
    answer, victim_job = victim.upload("victim.jpg", picture(1))
    job_path = answer.headers["Location"].split("?")[0].rsplit("/uploaded", 1)[0]
    victim.get(answer.headers["Location"])
    before = victim.wait(job_path)
    s3 = _s3(cluster)
    victims = _victims_objects(s3, cluster, victim_job)
    for name, attack in ATTACKS.items():
        try:
            problem = attack(cluster, s3, victim_job)
        except Exception as error:  # an attack that crashes the harness is a finding too
            problem = f"{type(error).__name__}: {error}"
        outcome.counts["refused or harmless"] += problem is None
        if problem:
            outcome.problems.append(f"{name}: {problem}")
    after = victim.wait(job_path)
    if after.get("status") != "done" or _images(after) != _images(before):
        outcome.problems.append(f"the victim's job changed: {after}")
    if _victims_objects(s3, cluster, victim_job) != victims:
        outcome.problems.append("something was written under the victim's job")
    outcome.counts["attacks"] = len(ATTACKS)
    return outcome


def _s3(cluster: Cluster):
    return boto3.client(
        "s3",
        endpoint_url=cluster.endpoint,
        region_name=FAKE_AWS["AWS_DEFAULT_REGION"],
        aws_access_key_id=FAKE_AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
        config=Config(s3={"addressing_style": "path"}),
    )


def _bucket(cluster: Cluster, kind: str) -> str:
    return f"thumbs-{cluster.env['STAGE']}-{kind}"


def _victims_objects(s3, cluster: Cluster, job_id: str) -> list[tuple[str, str]]:
    """Every object of the victim's job, uploads and results, with its ETag."""
    found = []
    for kind, prefix in (("uploads", f"uploads/{job_id}/"), ("results", f"results/{job_id}/")):
        listing = s3.list_objects_v2(Bucket=_bucket(cluster, kind), Prefix=prefix)
        found += [(item["Key"], item["ETag"]) for item in listing.get("Contents", [])]
    return sorted(found)


def _images(status: dict) -> list:
    return [(r["name"], r["width"], r["height"]) for r in status.get("renditions", [])]


def _form(cluster: Cluster):
    visitor = Visitor(cluster)
    action, fields = upload_form(visitor.get("/").text)
    return action, fields


def _post(
    action: str, fields, file=("a.jpg", b"\xff\xd8\xff\xe0 x", "image/jpeg"), after=(), headers=None
) -> requests.Response:
    body, content_type = multipart(fields, file, after)
    return requests.post(
        action,
        data=body,
        headers={"Content-Type": content_type, **(headers or {})},
        allow_redirects=False,
        timeout=60,
    )


def _refused(response: requests.Response, status: int = 403) -> str | None:
    if response.status_code == status and "<Code>" in response.text:
        return None
    return f"answered {response.status_code} {response.text[:120]!r}, not a refusal"


def _duplicate(name: str, first: str):
    def attack(cluster, s3, victim_job):
        action, fields = _form(cluster)
        return _refused(_post(action, [(name, first.format(job=victim_job)), *fields]))

    return attack


def _after_the_file(cluster, s3, victim_job):
    action, fields = _form(cluster)
    answer = _post(
        action, fields, after=[("acl", "public-read"), ("key", f"uploads/{victim_job}/x/evil.jpg")]
    )
    if answer.status_code != 303:
        return f"answered {answer.status_code}"
    key = dict(fields)["key"].replace("${filename}", "a.jpg")
    grants = s3.get_object_acl(Bucket=_bucket(cluster, "uploads"), Key=key)["Grants"]
    public = [g for g in grants if g["Grantee"].get("URI", "").endswith("AllUsers")]
    return "the object became public" if public else None


def _second_file(cluster, s3, victim_job):
    action, fields = _form(cluster)
    body, content_type = with_a_second_file(fields)
    answer = requests.post(
        action,
        data=body,
        headers={"Content-Type": content_type},
        allow_redirects=False,
        timeout=120,
    )
    key = dict(fields)["key"].replace("${filename}", "tiny.jpg")
    if answer.status_code == 303:
        size = s3.head_object(Bucket=_bucket(cluster, "uploads"), Key=key)["ContentLength"]
        return None if size == 1 else f"stored {size} bytes"
    return _refused(answer, 400)


def _listing_type(cluster, s3, victim_job):
    action, fields = _form(cluster)
    typed = [(n, v) for n, v in fields if n != "Content-Type"] + [
        ("Content-Type", "image/jpeg,text/html")
    ]
    return _refused(_post(action, typed))


def _upper_case_key(cluster, s3, victim_job):
    action, fields = _form(cluster)
    return _refused(_post(action, [("KEY", f"uploads/{victim_job}/x/evil.jpg"), *fields]))


def _line_break(cluster, s3, victim_job):
    action, fields = _form(cluster)
    edited = [
        (n, v + "\r\nLocation: https://evil.test/" if n == "success_action_redirect" else v)
        for n, v in fields
    ]
    return _refused(_post(action, edited), 400)


def _forged_authorization(cluster, s3, victim_job):
    from datetime import UTC, datetime

    action, fields = _form(cluster)
    now = datetime.now(UTC)
    headers = {
        "X-Amz-Date": now.strftime("%Y%m%dT%H%M%SZ"),
        "X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD",
        "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/{now:%Y%m%d}/us-east-1/s3/"
        "aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=00",
    }
    target = action.replace(_bucket(cluster, "uploads"), _bucket(cluster, "results"))
    forged = [("key", f"results/{victim_job}/thumb.jpg"), ("Content-Type", "text/html")]
    html = ("thumb.jpg", b"<script>alert(1)</script>", "text/html")
    return _refused(_post(target, forged, file=html, headers=headers))


def _anonymous_listing(cluster, s3, victim_job):
    answer = requests.get(
        f"{cluster.endpoint}/{_bucket(cluster, 'uploads')}?list-type=2", timeout=60
    )
    if "<Contents>" in answer.text:
        return "an anonymous request listed the bucket"
    return _refused(answer)


ATTACKS = {
    "another job's key placed first": _duplicate("key", "uploads/{job}/x/evil.jpg"),
    "Content-Type text/html placed first": _duplicate("Content-Type", "text/html"),
    "a redirect placed first": _duplicate("success_action_redirect", "https://evil.test/"),
    "fields after the file": _after_the_file,
    "a 25 MB file after the file": _second_file,
    "Content-Type image/jpeg,text/html": _listing_type,
    "KEY in capitals": _upper_case_key,
    "a line break in a field": _line_break,
    "a forged Authorization header": _forged_authorization,
    "an anonymous listing": _anonymous_listing,
}
