"""Logs are JSON lines with the job id and the visitor's owner tag (a keyed digest), never
the visitor id, a ticket or a presigned link."""

import html
import json
import logging
import re
import sys
from urllib.parse import urlsplit

import pytest
from werkzeug.exceptions import HTTPException

from app import worker
from app.jobs import JobStore
from embedded_aws.context import LambdaContext

from deployed import upload_photo
from support import SCRIPT, jpeg_bytes, open_upload_page, put_upload, raising, s3_event


def lines(capsys) -> list[dict]:
    return [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]


@pytest.fixture
def uploaded_job(services, monkeypatch):
    monkeypatch.setenv("STAGE", "test")
    key = "uploads/job-123/owner-tag-123/cat.jpg"
    data = jpeg_bytes((2000, 1000))
    put_upload(services, key, data)
    return "job-123", key, len(data)


def test_a_finished_job_logs_its_timings_and_sizes(services, uploaded_job, capsys):
    job_id, key, size = uploaded_job
    capsys.readouterr()
    worker.handle_s3_event(s3_event(services.storage.uploads_bucket, key, size), None)
    (done,) = [line for line in lines(capsys) if line["event"] == "job_done"]
    assert (done["job_id"], done["visitor"]) == (job_id, "owner-tag-123")
    assert done["source_bytes"] == size
    assert done["renditions"]["thumb"]["width"] == 256
    for field in ("queued_ms", "conversion_ms", "total_ms", "peak_rss_mb"):
        assert isinstance(done[field], int) and done[field] >= 0
    assert done["total_ms"] >= done["conversion_ms"]


def test_a_duplicate_is_logged_as_such(services, uploaded_job, capsys):
    _, key, size = uploaded_job
    event = s3_event(services.storage.uploads_bucket, key, size)
    worker.handle_s3_event(event, None)
    capsys.readouterr()
    worker.handle_s3_event(event, None)
    (line,) = lines(capsys)
    assert line["event"] == "duplicate_ignored" and line["reason"] == "already done"


def test_web_lines_carry_the_job_but_never_the_ticket_or_the_visitor(client, capsys):
    form = open_upload_page(client)
    capsys.readouterr()
    client.get(f"/jobs/{form.ticket}/status", headers=SCRIPT)
    output = capsys.readouterr().out
    (line,) = [json.loads(x) for x in output.splitlines() if x.startswith("{")]
    assert line["event"] == "request" and line["endpoint"] == "web.status"
    assert line["status"] == 200 and line["job_id"] == form.job_id
    assert form.ticket not in output
    with client.session_transaction() as session:
        visitor = session["visitor"]
    assert visitor not in output and line["visitor"] == form.owner


def embedded_metrics(line: dict) -> list[tuple[str, str, list]]:
    """Check a line as CloudWatch reads Embedded Metric Format; return its metrics."""
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    assert isinstance(line["_aws"]["Timestamp"], int)
    assert directive["Namespace"] == "Thumbs"
    found = []
    for metric in directive["Metrics"]:
        assert isinstance(line[metric["Name"]], int | float), metric  # the value is in the line
        assert metric["Unit"] in ("Milliseconds", "Count")
        found.append((metric["Name"], metric["Unit"], directive["Dimensions"]))
    for dimension_set in directive["Dimensions"]:
        assert all(isinstance(line[name], str) for name in dimension_set)  # each one named
    return found


def test_a_finished_job_carries_its_metrics_and_its_invocation(services, uploaded_job, capsys):
    from embedded_aws.context import LambdaContext

    _, key, size = uploaded_job
    context = LambdaContext("thumbs-test")
    capsys.readouterr()
    worker.handle_s3_event(s3_event(services.storage.uploads_bucket, key, size), context)
    logged = lines(capsys)
    (done,) = [line for line in logged if line["event"] == "job_done"]
    assert embedded_metrics(done) == [
        ("conversion_ms", "Milliseconds", [["stage"]]),
        ("total_ms", "Milliseconds", [["stage"]]),
        ("conversions", "Count", [["stage"]]),
    ]
    assert done["stage"] == "test" and done["conversions"] == 1
    assert all(line["aws_request_id"] == context.aws_request_id for line in logged)
    assert all(isinstance(line["cold_start"], bool) for line in logged)


def test_a_failure_is_counted_by_its_code(services, monkeypatch, capsys):
    monkeypatch.setenv("STAGE", "test")
    key = "uploads/job-9/owner-9/notes.jpg"
    put_upload(services, key, b"not a picture")
    capsys.readouterr()
    worker.handle_s3_event(s3_event(services.storage.uploads_bucket, key), None)
    (failed,) = [line for line in lines(capsys) if line["event"] == "job_failed"]
    assert embedded_metrics(failed) == [("failures", "Count", [["stage"], ["stage", "code"]])]
    assert (failed["code"], failed["failures"]) == ("not_an_image", 1)


def test_only_the_first_invocation_of_a_process_is_its_cold_start(capsys):
    import logging

    from app import logs

    logs._cold[0] = True
    logger = logging.getLogger("app.test")
    for number in range(2):
        logs.invocation(type("Context", (), {"aws_request_id": f"request-{number}"})())
        logs.event(logger, "probe")
    first, second = [line for line in lines(capsys) if line["event"] == "probe"]
    assert (first["aws_request_id"], first["cold_start"]) == ("request-0", True)
    assert (second["aws_request_id"], second["cold_start"]) == ("request-1", False)


def test_no_line_the_function_logs_holds_a_ticket_or_a_share_token(
    deployed, function_log, monkeypatch
):
    """Every route that takes a ticket or a share token, through Lambda's entry point and
    Zappa's handler, an error no handler takes included; then every line written or logged."""
    browser = deployed.browser()
    walk_every_route_with_a_secret_in_its_path(deployed, browser, monkeypatch)
    lines = function_log.lines()
    secrets = secrets_in_paths(browser)
    requests = [line for line in lines if '"event": "request"' in line]
    assert len(secrets) >= 4 and len(requests) == len(browser.log)  # one line each
    assert not [line for line in lines if any(secret in line for secret in secrets)]
    assert any('"event": "unhandled_error"' in line for line in lines)
    # And the check would see it: Zappa's own access line names the path.
    zappa_access = logging.getLogger("zappa.wsgi")
    level, _ = zappa_access.level, zappa_access.setLevel(logging.INFO)
    try:
        browser.get("/dev/jobs/forged.ticket.value")
    finally:
        zappa_access.setLevel(level)
    assert any("forged.ticket.value" in line for line in function_log.lines())


def walk_every_route_with_a_secret_in_its_path(deployed, browser, monkeypatch) -> None:
    """Upload, look, convert, download, share and open the shared link, try again, delete,
    follow a forged link, and meet an error no handler takes."""
    from app import web

    _, landed, key = upload_photo(browser)
    job_url = landed.header("Location")
    browser.get(job_url)
    size = deployed.s3().head_object(Bucket=deployed.settings.uploads_bucket, Key=key)
    deployed.handler(
        s3_event(deployed.settings.uploads_bucket, key, size["ContentLength"]),
        LambdaContext("thumbs-dev"),
    )
    for rendition in browser.get(job_url + "/status").json()["renditions"]:
        assert browser.get(rendition["download_url"]).status == 302
    assert post_form(browser, job_url, "/share").status == 303
    link = re.search(r'id="share-link"[^>]*value="([^"]+)"', browser.get(job_url).text).group(1)
    shared = browser.get(urlsplit(link).path)
    for download in re.findall(r'href="([^"]+/files/[^"]+)"', shared.text):
        assert browser.get(html.unescape(download)).status == 302
    assert post_form(browser, job_url, "/unshare").status == 303
    assert browser.get(urlsplit(link).path).status == 404
    _, crashed, crashed_key = upload_photo(browser, "crashes.jpg")
    job_id, owner = crashed_key.split("/")[1:3]
    jobs = JobStore(deployed.dynamodb(), deployed.settings.jobs_table)
    for _ in range(deployed.settings.max_attempts):
        jobs.claim(job_id, owner, crashed_key, "crashes.jpg", 0.0, deployed.settings.max_attempts)
    assert post_form(browser, crashed.header("Location"), "/retry").status == 303
    assert browser.get("/dev/jobs/forged.ticket.value/status").status == 404
    with monkeypatch.context() as patched:
        patched.setattr(web, "present", raising(RuntimeError("no handler takes this")))
        assert browser.get(job_url + "/status", headers=SCRIPT).status == 500
    assert post_form(browser, job_url, "/delete").status == 303
    reached = {route_of(method, url) for method, url, _ in browser.log}
    with_secret = {
        rule.endpoint
        for rule in sys.modules["wsgi"].app.url_map.iter_rules()
        if "<ticket>" in rule.rule or "<token>" in rule.rule
    }
    assert with_secret <= reached, f"the walk misses {with_secret - reached}"


def post_form(browser, page_url: str, action_ends: str):
    """Submit the form of the page at `page_url` whose action ends with `action_ends`."""
    page = browser.get(page_url).text
    action = re.search(rf'<form method="post" action="([^"]+{action_ends})"', page).group(1)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return browser.request(
        "POST",
        html.unescape(action),
        body=f"csrf_token={token}".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def route_of(method: str, url: str) -> str | None:
    adapter = sys.modules["wsgi"].app.url_map.bind("localhost")
    try:
        return adapter.match(urlsplit(url).path.removeprefix("/dev") or "/", method=method)[0]
    except HTTPException:
        return None


def secrets_in_paths(browser) -> set[str]:
    """Return every ticket and share token the browser's requests carried in their paths."""
    return {
        secret
        for _, url, _ in browser.log
        for secret in re.findall(r"/(?:jobs|shared)/([^/?#]+)", urlsplit(url).path)
    }
