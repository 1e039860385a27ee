"""The real Zappa handler, fed API Gateway and S3 events, with the dev stage's settings, on moto."""

import base64
import json
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

import zappa.handler

from app.jobs import DONE, UPLOADED
from embedded_aws.context import LambdaContext

from deployed import assert_on_stage, upload_photo
from lambda_stage import API_HOST, json_urls, rest_event, site_urls
from support import s3_event, upload_form

STATIC = Path(__file__).resolve().parent.parent / "static"


def test_the_upload_page_keeps_the_stage_in_every_url_it_makes(deployed):
    browser = deployed.browser()
    page = browser.get("/dev/")
    assert page.status == 200 and page.header("Content-Type").startswith("text/html")
    assert_on_stage(site_urls(page.text), browser)
    _, fields = upload_form(page.text)
    fields = dict(fields)
    redirect = fields["success_action_redirect"]
    assert re.fullmatch(rf"https://{re.escape(API_HOST)}/dev/jobs/[\w.-]+/uploaded", redirect)
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert {"success_action_redirect": redirect} in policy["conditions"]


def test_the_session_cookie_survives_zappas_duplicated_set_cookie_headers(deployed):
    browser = deployed.browser()
    page = browser.get("/dev/")
    delivered = page.set_cookies()
    # Zappa 0.63 sends each Set-Cookie under two spellings, in headers and multiValueHeaders:
    # harmless only while every copy is the same cookie, so the order cannot matter.
    names = {line.split("=", 1)[0] for line in delivered}
    assert names == {"thumbs"} and len(set(delivered)) == 1, delivered
    assert all(attribute in delivered[0] for attribute in ("Secure", "HttpOnly", "SameSite=Lax"))
    visitor_cookie = browser.cookies["thumbs"]
    ticket = re.search(r"/jobs/([^/]+)/uploaded", page.text).group(1)
    assert browser.get(f"/dev/jobs/{ticket}/status").status == 200
    # Flask signs a permanent session again on each request, with that second's timestamp:
    # the visitor is the same when the signed payload is (payload.timestamp.signature).
    assert browser.cookies["thumbs"].rsplit(".", 2)[0] == visitor_cookie.rsplit(".", 2)[0]
    stranger = deployed.browser()
    assert stranger.get(f"/dev/jobs/{ticket}/status").status == 403


def test_a_photo_goes_from_the_page_through_s3_and_the_worker_to_done(deployed):
    browser = deployed.browser()
    _, landed, key = upload_photo(browser)
    assert landed.status == 303
    job_url = landed.header("Location")
    assert re.fullmatch(r"/dev/jobs/[\w.-]+", job_url)
    job_page = browser.get(job_url)
    assert job_page.status == 200
    assert_on_stage(site_urls(job_page.text), browser)
    status = browser.get(job_url + "/status").json()
    assert status["status"] == UPLOADED
    assert_on_stage(json_urls(status), browser)

    size = deployed.s3().head_object(Bucket=deployed.settings.uploads_bucket, Key=key)
    result = deployed.handler(
        s3_event(deployed.settings.uploads_bucket, key, size["ContentLength"]),
        LambdaContext("thumbs-dev"),
    )
    assert result is None  # the worker ran: Zappa returns what it returns

    status = browser.get(job_url + "/status").json()
    assert status["status"] == DONE
    assert {r["name"] for r in status["renditions"]} == {"thumb", "preview"}
    for rendition in status["renditions"]:
        link = urlsplit(rendition["src"])
        assert link.hostname.startswith(deployed.settings.results_bucket + ".s3")
        assert "X-Amz-Signature=" in link.query
    done_page = browser.get(job_url)
    assert "Download thumb" in done_page.text
    assert_on_stage(site_urls(done_page.text), browser)


def test_a_post_body_arrives_base64_encoded_and_is_read(deployed):
    browser = deployed.browser()
    page = browser.get("/dev/")
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text).group(1)
    jobs_url = re.search(r'data-jobs-url="([^"]+)"', page.text).group(1)
    reply = browser.request(
        "POST",
        jobs_url,
        body=json.dumps({"count": 2}).encode(),
        headers={"Content-Type": "application/json", "X-CSRFToken": token},
    )
    assert reply.status == 201, reply.text
    uploads = reply.json()["uploads"]
    assert len(uploads) == 2
    assert_on_stage(json_urls(uploads), browser)
    refused = browser.request(
        "POST", jobs_url, body=b'{"count": 2}', headers={"Content-Type": "application/json"}
    )
    assert refused.status == 400  # no CSRF token


def test_deleting_an_upload_posts_a_form_through_the_handler(deployed):
    browser = deployed.browser()
    _, landed, key = upload_photo(browser, "to delete.jpg")
    job_page = browser.get(landed.header("Location"))
    action = re.search(r'<form method="post" action="([^"]+)" class="delete">', job_page.text)
    token = re.search(r'name="csrf_token" value="([^"]+)"', job_page.text).group(1)
    deleted = browser.request(
        "POST",
        action.group(1),
        body=f"csrf_token={token}".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert deleted.status == 303 and deleted.header("Location").startswith("/dev/")
    listing = deployed.s3().list_objects_v2(Bucket=deployed.settings.uploads_bucket)
    assert key not in [item["Key"] for item in listing.get("Contents", [])]
    assert browser.get(landed.header("Location")).status == 404


def test_static_files_come_back_byte_for_byte(deployed):
    browser = deployed.browser()
    page = browser.get("/dev/")
    assets = [u for u in site_urls(page.text) if "/static/" in u]
    assert assets, "the page loads no static file"
    for url in assets:
        reply = browser.get(url)
        name = urlsplit(url).path.rsplit("/", 1)[1]
        assert reply.status == 200 and reply.body == (STATIC / name).read_bytes(), url


def test_a_binary_response_is_base64_encoded_for_api_gateway(deployed):
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+"
        "hHgAHggJ/PchI7wAAAABJRU5ErkJggg=="
    )
    zappa.handler.LambdaHandler()  # the cold start: imports wsgi
    sys.modules["wsgi"].app.add_url_rule(
        "/probe.png", "probe", lambda: (png, 200, {"Content-Type": "image/png"})
    )
    event = rest_event("GET", "/probe.png", "", {}, None, "dev", API_HOST)
    result = deployed.handler(event, LambdaContext("thumbs-dev"))
    assert result["statusCode"] == 200 and result["isBase64Encoded"] is True
    assert base64.b64decode(result["body"]) == png


def test_a_custom_domain_named_in_site_origin_serves_without_the_stage_prefix(deployed):
    # Lambda's environment, restored by the fixture: SITE_ORIGIN names both hosts.
    deployed.set_environment(SITE_ORIGIN=f"https://thumbs.example.com,https://{API_HOST}")
    browser = deployed.browser(host="thumbs.example.com", prefix="")
    page = browser.get("/")
    assert page.status == 200
    redirect = dict(upload_form(page.text)[1])["success_action_redirect"]
    assert redirect.startswith("https://thumbs.example.com/jobs/")
    assert not any(u.startswith("/dev/") for u in site_urls(page.text))
    assert deployed.browser().get("/dev/").status == 200  # the API's own URL still works


def test_a_host_missing_from_site_origin_gets_no_page(deployed):
    browser = deployed.browser(host="thumbs.example.com", prefix="")
    assert browser.get("/").status == 400


def test_the_site_origins_host_on_another_port_gets_no_page(deployed):
    """A signed redirect built on that port would send the visitor elsewhere."""
    assert deployed.browser(host=f"{API_HOST}:8443").get("/dev/").status == 400
    page = deployed.browser(host=f"{API_HOST}:443").get("/dev/")
    assert page.status == 200
    redirect = dict(upload_form(page.text)[1])["success_action_redirect"]
    assert redirect.startswith(f"https://{API_HOST}/dev/jobs/"), redirect


def test_every_web_line_names_its_lambda_invocation(deployed, capsys):
    context = LambdaContext("thumbs-dev")
    event = rest_event("GET", "/healthz", "", {}, None, "dev", API_HOST)
    capsys.readouterr()
    assert deployed.handler(event, context)["statusCode"] == 200
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    (request,) = [line for line in lines if line.get("event") == "request"]
    assert request["aws_request_id"] == context.aws_request_id
    assert isinstance(request["cold_start"], bool)
