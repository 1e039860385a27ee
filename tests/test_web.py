"""The views, on moto: the upload form, the redirect, the job's page and status, the history,
delete, and what a page view must not do (write anything)."""

import base64
import calendar
import json
import re
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from app import create_app, reconciler
from app.config import ConfigError
from app.events import Conversions
from app.jobs import AWAITING_UPLOAD, DONE, UPLOADED

from support import (
    SCRIPT,
    csrf_token,
    open_upload_page,
    put_upload,
    raising,
    scan_table,
    stored_keys,
)


def arrive(services, form, filename="holiday.jpeg", data=b"x") -> str:
    """Put a file where the form's upload goes, as S3 would; return its key."""
    key = f"uploads/{form.job_id}/{form.owner}/{filename}"
    put_upload(services, key, data)
    return key


def finish(services, form, filename="holiday.jpeg", note=None, sizes=None):
    """Take a job through its upload and conversion, as the worker would."""
    key = arrive(services, form, filename)
    services.jobs.claim(form.job_id, form.owner, key, filename, time.time() + 60, 3)
    services.jobs.finish(
        form.job_id,
        [
            {
                "name": "thumb",
                "width": 256,
                "height": 171,
                "content_type": "image/jpeg",
                "size": 9000,
                "key": f"results/{form.job_id}/thumb.jpg",
            }
        ],
        note,
        sizes=sizes,
    )


def test_the_upload_page_is_a_form_straight_to_s3_and_writes_nothing(client, services):
    form = open_upload_page(client)
    page = form.html
    assert 'enctype="multipart/form-data"' in page
    assert services.storage.uploads_bucket in form.action
    markup = page[page.index('<form id="upload"') : page.index("</form>")]
    named = re.findall(r'<input[^>]*name="([^"]+)"', markup)
    assert named[-1] == "file"
    assert form.fields["key"] == f"uploads/{form.job_id}/{form.owner}/${{filename}}"
    assert scan_table(services) == []
    assert stored_keys(services, services.storage.uploads_bucket) == []


def test_page_views_and_unused_forms_leave_no_trace(client, services):
    for _ in range(5):
        client.get("/")
        client.head("/")
    token = csrf_token(client.get("/").get_data(as_text=True))
    assert (
        client.post("/jobs", json={"count": 10}, headers={"X-CSRFToken": token}).status_code == 201
    )
    assert scan_table(services) == []
    for bucket in (services.storage.uploads_bucket, services.storage.results_bucket):
        assert stored_keys(services, bucket) == []
    assert "Nothing yet" in client.get("/jobs").get_data(as_text=True)


def test_the_policy_holds_every_condition(client, services):
    form = open_upload_page(client)
    conditions = form.policy["conditions"]
    limit = services.settings.max_upload_bytes
    assert ["content-length-range", 1, limit] in conditions
    assert ["starts-with", "$Content-Type", "image/"] in conditions
    assert ["starts-with", "$key", f"uploads/{form.job_id}/{form.owner}/"] in conditions
    assert {"bucket": services.storage.uploads_bucket} in conditions
    redirect = form.fields["success_action_redirect"]
    assert {"success_action_redirect": redirect} in conditions
    assert redirect == f"http://localhost/jobs/{form.ticket}/uploaded"
    expires = calendar.timegm(time.strptime(form.policy["expiration"], "%Y-%m-%dT%H:%M:%SZ"))
    assert abs(expires - (time.time() + services.settings.upload_expires_seconds)) < 5
    # Every field the form sends is covered by a condition (S3 refuses extras).
    covered = {
        c[1].lstrip("$").lower() if isinstance(c, list) else next(iter(c)).lower()
        for c in conditions
        if not (isinstance(c, list) and c[0] == "content-length-range")
    }
    assert {n.lower() for n in form.fields} - {"policy", "x-amz-signature"} <= covered


def test_no_url_form_field_or_page_carries_the_visitor_id(client, services):
    form = open_upload_page(client)
    with client.session_transaction() as session:
        visitor = session["visitor"]
    finish(services, form)
    pages = [form.html, client.get(f"/jobs/{form.ticket}").get_data(as_text=True)]
    pages += [client.get("/jobs").get_data(as_text=True)]
    pages += [client.get(f"/jobs/{form.ticket}/status").get_data(as_text=True)]
    decoded = [
        base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)) for part in form.ticket.split(".")
    ]
    for text in pages + [d.decode("latin-1") for d in decoded]:
        assert visitor not in text
    assert form.owner != visitor and len(form.owner) >= 22
    item = scan_table(services)[0]
    assert visitor not in json.dumps(item)


def test_the_visitor_cookie_is_signed_httponly_and_lax(client):
    response = client.get("/")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # local and tests run on http


def redirected(client, form, services, key, etag=None, bucket=None):
    """Follow S3's redirect after an upload: it names the bucket, key and etag it stored."""
    bucket = bucket or services.storage.uploads_bucket
    if etag is None:
        etag = services.storage.client.head_object(Bucket=bucket, Key=key)["ETag"]
    query = urlencode({"bucket": bucket, "key": key, "etag": etag})
    return client.get(f"/jobs/{form.ticket}/uploaded?{query}")


def test_the_redirect_records_an_upload_that_arrived(client, services):
    form = open_upload_page(client)
    key = arrive(services, form)
    etag = services.storage.client.head_object(Bucket=services.storage.uploads_bucket, Key=key)
    calls = []
    services.storage.client.meta.events.register(
        "before-call.s3", lambda model, **_: calls.append(model.name)
    )
    response = redirected(client, form, services, key, etag["ETag"])
    assert calls == ["HeadObject"]  # the key S3 named, never a listing
    assert response.status_code == 303
    assert response.headers["Location"] == f"/jobs/{form.ticket}"
    job = services.jobs.get(form.job_id)
    assert (job.status, job.owner, job.source_key, job.filename) == (
        UPLOADED,
        form.owner,
        key,
        "holiday.jpeg",
    )


@pytest.mark.parametrize("named", ["missing", "another job's", "another etag", "another bucket"])
def test_a_redirect_naming_no_upload_of_this_job_records_nothing(client, services, named):
    form, other = open_upload_page(client), open_upload_page(client)
    key, etag, bucket = f"uploads/{form.job_id}/{form.owner}/holiday.jpeg", '"e"', None
    if named == "another job's":
        key, etag = arrive(services, other), None
    elif named == "another etag":
        arrive(services, form)
    elif named == "another bucket":
        arrive(services, form)
        bucket = "elsewhere"
    response = redirected(client, form, services, key, etag, bucket)
    assert response.status_code == 303
    assert services.jobs.get(form.job_id) is None
    body = client.get(f"/jobs/{form.ticket}/status").get_json()
    assert (body["status"], body["finished"]) == (AWAITING_UPLOAD, False)


def test_a_form_never_used_says_it_expired_once_it_has(client, services, monkeypatch):
    form = open_upload_page(client)
    later = time.time() + services.settings.upload_expires_seconds + 1
    monkeypatch.setattr(time, "time", lambda: later)
    body = client.get(f"/jobs/{form.ticket}/status").get_json()
    assert (body["status"], body["finished"]) == ("expired", True)
    assert "expired" in body["message"]


def test_an_upload_whose_redirect_and_event_were_lost_is_found_by_the_reconciler(
    client, services, monkeypatch
):
    form = open_upload_page(client)
    arrive(services, form)
    monkeypatch.setattr(Conversions, "start", lambda self, upload: None)
    calls = []
    services.storage.client.meta.events.register(
        "before-call.s3", lambda model, **_: calls.append(model.name)
    )
    client.get(f"/jobs/{form.ticket}/status")
    assert calls == []  # a page costs no look in S3: anyone with a ticket could repeat it
    reconciler.recover(services, now=time.time() + 600)
    body = client.get(f"/jobs/{form.ticket}/status").get_json()
    assert body["status"] in ("uploaded", "delayed")
    assert services.jobs.get(form.job_id).status == UPLOADED


def test_the_status_page_refreshes_itself_without_script(client):
    form = open_upload_page(client)
    page = client.get(f"/jobs/{form.ticket}").get_data(as_text=True)
    assert re.search(r'<noscript><meta http-equiv="refresh" content="\d+"></noscript>', page)
    assert 'aria-live="polite"' in page


def test_the_status_json_has_the_documented_shape(client):
    form = open_upload_page(client)
    body = client.get(f"/jobs/{form.ticket}/status").get_json()
    assert body["status"] == AWAITING_UPLOAD
    assert body["message"] and body["renditions"] == []
    assert {"step", "finished", "tone", "title", "status_url", "delete_url"} <= set(body)


def test_a_done_job_links_to_its_renditions_with_download_names(client, services):
    form = open_upload_page(client)
    finish(services, form)
    body = client.get(f"/jobs/{form.ticket}/status").get_json()
    assert body["status"] == DONE and body["finished"] is True
    (thumb,) = body["renditions"]
    assert {k: thumb[k] for k in ("name", "width", "height", "content_type")} == {
        "name": "thumb",
        "width": 256,
        "height": 171,
        "content_type": "image/jpeg",
    }
    assert "X-Amz-Signature" in thumb["src"] and "X-Amz-Expires=300" in thumb["src"]
    assert thumb["url"] == f"/jobs/{form.ticket}/files/thumb"
    download = client.get(thumb["download_url"])
    assert download.status_code == 302
    assert "holiday-thumb.jpg" in download.headers["Location"]
    page = client.get(f"/jobs/{form.ticket}").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in page
    assert 'alt="Thumbnail of holiday.jpeg"' in page
    assert thumb["label"] == "Thumbnail"


def test_a_done_jobs_images_are_cached_as_long_as_their_links_live_and_name_their_download(
    client, services
):
    """A page's script saves a download from the image it shows: the image is a CORS request
    the browser keeps while its link lives, and the link says the name the site would give."""
    form = open_upload_page(client)
    finish(services, form)
    (thumb,) = client.get(f"/jobs/{form.ticket}/status").get_json()["renditions"]
    redirect = client.get(thumb["download_url"]).headers["Location"]
    for link in (thumb["src"], redirect):
        query = parse_qs(urlsplit(link).query)
        assert query["response-cache-control"] == [
            f"private, max-age={query['X-Amz-Expires'][0]}, immutable"
        ]
    named = parse_qs(urlsplit(redirect).query)["response-content-disposition"][0]
    assert thumb["download_name"] == "holiday-thumb.jpg" and "holiday-thumb.jpg" in named
    page = client.get(f"/jobs/{form.ticket}").get_data(as_text=True)
    image = re.search(r"<img [^>]+>", page).group(0)
    assert 'crossorigin="anonymous"' in image and 'data-name="thumb"' in image
    link = re.search(r'<a [^>]*data-download="([^"]+)"[^>]*>', page)
    assert link.group(1) == "holiday-thumb.jpg" and 'data-rendition="thumb"' in link.group(0)


def test_a_done_jobs_note_is_on_its_page_and_in_its_status(client, services):
    form = open_upload_page(client)
    note = "This animation is shown still, by its first frame: <it> has 900 frames."
    finish(services, form, "dance.gif", note)
    body = client.get(f"/jobs/{form.ticket}/status").get_json()
    assert body["note"] == note and 'id="job-note"' in body["html"]
    page = client.get(f"/jobs/{form.ticket}").get_data(as_text=True)
    assert '<p class="note" id="job-note">' in page and "&lt;it&gt; has 900 frames" in page


def test_a_done_job_without_a_note_shows_none(client, services):
    form = open_upload_page(client)
    finish(services, form)
    assert client.get(f"/jobs/{form.ticket}/status").get_json()["note"] is None
    assert 'id="job-note"' not in client.get(f"/jobs/{form.ticket}").get_data(as_text=True)


def test_a_hostile_filename_is_escaped_in_the_page(client, services):
    form = open_upload_page(client)
    finish(services, form, '<script>alert("x")</script>.jpg')
    page = client.get(f"/jobs/{form.ticket}").get_data(as_text=True)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;.jpg" in page


def test_another_visitor_is_refused_on_the_page_and_the_status(app, client, services):
    form = open_upload_page(client)
    stranger = app.test_client()
    stranger.get("/")  # a visitor of their own
    for record in (False, True):
        if record:
            finish(services, form)
        page = stranger.get(f"/jobs/{form.ticket}")
        assert page.status_code == 403
        assert "belongs to someone else" in page.get_data(as_text=True)
        assert "<html" in page.get_data(as_text=True)
        status = stranger.get(f"/jobs/{form.ticket}/status", headers=SCRIPT)
        assert status.status_code == 403
        assert status.get_json()["error"] == "TicketForeign"
        assert stranger.get(f"/jobs/{form.ticket}/uploaded").status_code == 403
        assert stranger.get(f"/jobs/{form.ticket}/files/thumb").status_code == 403


@pytest.mark.parametrize("path", ["/jobs/{t}x", "/jobs/garbage", "/jobs/{t}x/status"])
def test_a_tampered_ticket_is_not_found(client, path):
    form = open_upload_page(client)
    assert client.get(path.format(t=form.ticket)).status_code == 404


def test_a_deleted_job_is_not_found(client, services):
    form = open_upload_page(client)
    finish(services, form)
    services.jobs.delete(form.job_id, form.owner)
    response = client.get(f"/jobs/{form.ticket}/status", headers=SCRIPT)
    assert response.status_code == 404
    assert "no longer exists" in response.get_json()["message"]


def test_health(client):
    assert client.get("/healthz").get_json()["status"] == "ok"


@pytest.mark.parametrize("path", ["/", "/healthz", "/jobs/garbage", "/nowhere"])
def test_every_response_carries_the_security_headers(client, path):
    headers = client.get(path).headers
    csp = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"


PRODUCTION = {"SECRET_KEY": "s" * 48, "SITE_ORIGIN": "https://thumbs.example.org"}


def test_production_refuses_to_start_without_a_secret_key():
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app({"STAGE": "production", "SITE_ORIGIN": "https://thumbs.example.org"})


def test_production_refuses_the_local_default_key_and_debug():
    from app.config import LOCAL_SECRET_KEY

    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app({**PRODUCTION, "SECRET_KEY": LOCAL_SECRET_KEY})
    with pytest.raises(ConfigError, match="debug"):
        create_app({**PRODUCTION, "DEBUG": True})


def test_production_refuses_to_start_without_its_origin_and_says_how_to_get_one():
    with pytest.raises(ConfigError, match="SITE_ORIGIN is not set.*zappa update"):
        create_app({"SECRET_KEY": "s" * 48})


def test_production_sets_secure_cookies_and_hsts(aws):
    app = create_app(PRODUCTION)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    response = app.test_client().get("/healthz", base_url="https://thumbs.example.org")
    assert "max-age" in response.headers["Strict-Transport-Security"]


def test_the_embedded_aws_refuses_to_start_inside_lambda(monkeypatch):
    import click

    from local import create_app as local_site

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "thumbs-dev")
    with pytest.raises(click.ClickException, match="Lambda"):
        local_site()


def test_a_busy_port_for_the_embedded_aws_names_the_setting_to_change():
    import socket

    from app.config import Settings
    from local import LocalAWSError, Options, start

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(LocalAWSError, match=f"Port {port}.*LOCAL_AWS_PORT={port + 1}"):
            start(Settings(), Options(local_aws_port=port))


def script_token(client) -> str:
    return csrf_token(client.get("/").get_data(as_text=True))


def test_a_script_gets_one_upload_form_per_file(client, services):
    token = script_token(client)
    response = client.post("/jobs", json={"count": 3}, headers={"X-CSRFToken": token})
    assert response.status_code == 201
    uploads = response.get_json()["uploads"]
    assert len(uploads) == 3
    prefixes = set()
    for upload in uploads:
        policy = json.loads(base64.b64decode(upload["upload"]["fields"]["policy"]))
        assert {"success_action_status": "201"} in policy["conditions"]
        prefix = next(c[2] for c in policy["conditions"] if isinstance(c, list) and c[1] == "$key")
        prefixes.add(prefix)
        assert client.get(upload["status_url"]).get_json()["status"] == AWAITING_UPLOAD
    assert len(prefixes) == 3


@pytest.mark.parametrize("count", [0, 11, "3", None, True, 2.0])
def test_a_script_asking_for_too_many_or_too_few_forms_is_refused(client, count):
    token = script_token(client)
    response = client.post("/jobs", json={"count": count}, headers={"X-CSRFToken": token, **SCRIPT})
    assert response.status_code == 400
    assert "between 1 and 10" in response.get_json()["message"]


@pytest.mark.parametrize(
    "body", [b"{not json", b"[1, 2]", b'"count"', b"3", b"null", b'{"count": 2']
)
def test_a_script_sending_a_body_of_the_wrong_shape_gets_a_400_with_a_message(client, body):
    token = script_token(client)
    response = client.post(
        "/jobs",
        data=body,
        content_type="application/json",
        headers={"X-CSRFToken": token, **SCRIPT},
    )
    assert response.status_code == 400
    assert "JSON object" in response.get_json()["message"]


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_state_changes_without_a_valid_csrf_token_are_refused(client, services, token):
    form = open_upload_page(client)
    finish(services, form)
    headers = {"X-CSRFToken": token} if token else {}
    assert client.post("/jobs", json={"count": 1}, headers=headers).status_code == 400
    data = {"csrf_token": token} if token else {}
    assert client.post(f"/jobs/{form.ticket}/delete", data=data).status_code == 400
    assert client.post(f"/jobs/{form.ticket}/retry", data=data).status_code == 400
    assert services.jobs.get(form.job_id).status == DONE


def test_delete_removes_the_objects_and_leaves_a_tombstone(client, services):
    form = open_upload_page(client)
    finish(services, form, "a.jpg")
    services.storage.client.put_object(
        Bucket=services.storage.results_bucket, Key=f"results/{form.job_id}/thumb.jpg", Body=b"x"
    )
    response = client.post(
        f"/jobs/{form.ticket}/delete", data={"csrf_token": csrf_token(form.html)}
    )
    assert response.status_code == 303 and response.headers["Location"] == "/jobs"
    assert services.jobs.get(form.job_id).status == "deleted"
    for bucket in (services.storage.uploads_bucket, services.storage.results_bucket):
        assert stored_keys(services, bucket) == []
    history = client.get("/jobs").get_data(as_text=True)
    assert "Deleted a.jpg" in history and 'class="name"' not in history
    # A late redirect does not bring it back.
    assert client.get(f"/jobs/{form.ticket}/uploaded", follow_redirects=True).status_code == 404


def test_another_visitor_cannot_delete(app, client, services):
    form = open_upload_page(client)
    finish(services, form)
    stranger = app.test_client()
    response = stranger.post(
        f"/jobs/{form.ticket}/delete", data={"csrf_token": script_token(stranger)}
    )
    assert response.status_code == 403
    assert services.jobs.get(form.job_id).status == DONE


def test_the_history_pages_through_the_visitors_uploads_only(app, client, services):
    for n in range(14):
        finish(services, open_upload_page(client), f"photo {n:02}.jpg")
        time.sleep(0.002)  # distinct arrival times, as real uploads have
    stranger = app.test_client()
    finish(services, open_upload_page(stranger), "someone else.jpg")
    first = client.get("/jobs").get_data(as_text=True)
    names = re.findall(r'class="name" href="[^"]+">([^<]+)</a>', first)
    assert names == [f"photo {n:02}.jpg" for n in range(13, 1, -1)]
    after = re.search(r'href="/jobs\?after=([^"]+)">Older uploads', first).group(1)
    second = client.get(f"/jobs?after={after}").get_data(as_text=True)
    assert re.findall(r'class="name" href="[^"]+">([^<]+)</a>', second) == [
        "photo 01.jpg",
        "photo 00.jpg",
    ]
    assert "someone else.jpg" not in first + second
    assert client.get("/jobs?after=forged").status_code == 200  # a bad cursor: the first page
    # Another visitor's cursor starts nothing of theirs: it pages this visitor's own uploads.
    assert "someone else.jpg" not in stranger.get(f"/jobs?after={after}").get_data(as_text=True)


def test_a_server_error_shows_the_sites_page_without_a_traceback(app, client, monkeypatch):
    from app import web

    monkeypatch.setattr(web, "tickets", lambda: 1 / 0)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.get("/")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "Traceback" not in body and "ZeroDivisionError" not in body
    assert "Thumbs" in body and "Content-Security-Policy" in response.headers


def test_a_form_posted_without_its_token_says_to_reload(client):
    form = open_upload_page(client)
    response = client.post(f"/jobs/{form.ticket}/delete")
    assert response.status_code == 400
    assert "This page has expired. Reload it and try again." in response.get_data(as_text=True)


def test_a_job_whose_attempts_are_spent_shows_failed_and_offers_to_try_again(client, services):
    form = open_upload_page(client)
    key = arrive(services, form, "a.jpg")
    for _ in range(3):  # three attempts that died without recording anything
        services.jobs.claim(form.job_id, form.owner, key, "a.jpg", time.time() - 1, 3)
    body = client.get(f"/jobs/{form.ticket}/status").get_json()
    assert (body["status"], body["error_code"], body["finished"]) == ("failed", "gave_up", True)
    assert "failed 3 times" in body["message"]
    assert body["retry_url"] == f"/jobs/{form.ticket}/retry"
    page = client.get(f"/jobs/{form.ticket}").get_data(as_text=True)
    assert "failed 3 times" in page and 'http-equiv="refresh"' not in page
    assert f'action="/jobs/{form.ticket}/retry"' in page


def test_aws_down_after_retries_is_told_plainly(client, services, monkeypatch):
    from botocore.exceptions import ClientError

    from app.jobs import JobStore

    form = open_upload_page(client)
    down = ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "GetItem")
    monkeypatch.setattr(JobStore, "get", raising(down))
    page = client.get(f"/jobs/{form.ticket}")
    assert page.status_code == 503 and page.headers["Retry-After"] == "30"
    assert "cannot reach its storage right now" in page.get_data(as_text=True)
    status = client.get(f"/jobs/{form.ticket}/status", headers=SCRIPT)
    assert status.status_code == 503
    assert "try again in a minute" in status.get_json()["message"]


def gave_up(services, form, now: float, kept_until: float | None) -> None:
    """Take the form's job through three attempts that failed on our side, at `now`."""
    key = arrive(services, form, "a.jpg")
    for attempt in (1, 2, 3):
        services.jobs.claim(form.job_id, form.owner, key, "a.jpg", now + 60, 3, now=now)
        if attempt < 3:
            services.jobs.release(form.job_id, attempt, "MemoryError", now=now)
    services.jobs.fail(
        form.job_id, "gave_up", "failed 3 times", now=now, source_kept_until=kept_until
    )


@pytest.mark.parametrize(
    ("kept_for", "offered"),
    [(2 * 3600, True), (30 * 60, False), (-60, False)],
    ids=["kept 2 more hours", "kept 30 more minutes", "already deleted"],
)
def test_try_again_is_offered_only_while_s3_keeps_the_upload(
    client, services, monkeypatch, kept_for, offered
):
    """Judged from the date the worker recorded (S3's Expiration): an hour's margin lets
    every attempt a retry starts find the upload."""
    from app.events import Conversions

    started = []
    monkeypatch.setattr(Conversions, "start", lambda self, upload: started.append(upload))
    form = open_upload_page(client)
    gave_up(services, form, time.time(), time.time() + kept_for)
    body = client.get(f"/jobs/{form.ticket}/status").get_json()
    assert (body["retry_url"] is not None) == offered
    retried = client.post(f"/jobs/{form.ticket}/retry", data={"csrf_token": csrf_token(form.html)})
    assert retried.status_code == (303 if offered else 400)
    assert len(started) == (1 if offered else 0)
    if not offered:
        assert "Upload the image again" in retried.get_data(as_text=True)
        assert services.jobs.get(form.job_id).retries == 0


def test_a_retry_does_not_make_an_old_upload_look_kept_again(client, services):
    """A job with no recorded date (no attempt got as far as reading it) is judged by when it
    was recorded: a retry, which resets uploaded_at, does not extend it."""
    form = open_upload_page(client)
    day_ago = time.time() - 23.5 * 3600
    gave_up(services, form, day_ago, None)
    job = services.jobs.get(form.job_id)
    assert not job.upload_kept()
    assert job.upload_kept(now=day_ago + 22 * 3600)  # offered while the day lasted
    services.jobs.retry(job, max_attempts=3, now=day_ago + 22 * 3600)
    assert services.jobs.get(form.job_id).uploaded_at > day_ago
    for _ in (1, 2, 3):  # the retry's attempts die too
        services.jobs.claim(form.job_id, form.owner, job.source_key, "a.jpg", time.time() - 1, 3)
    body = client.get(f"/jobs/{form.ticket}/status").get_json()
    assert (body["status"], body["retry_url"]) == ("failed", None)


def test_a_failed_jobs_page_asks_s3_nothing(client, services):
    form = open_upload_page(client)
    gave_up(services, form, time.time(), time.time() + 5 * 3600)
    calls = []

    def count(model, **_):
        calls.append(model.name)

    services.storage.client.meta.events.register("before-call.s3", count)
    try:
        page = client.get(f"/jobs/{form.ticket}")
        client.get(f"/jobs/{form.ticket}/status")
    finally:
        services.storage.client.meta.events.unregister("before-call.s3", count)
    assert f'action="/jobs/{form.ticket}/retry"' in page.get_data(as_text=True)
    assert calls == []


def test_the_result_shows_the_chosen_files_size_and_each_renditions(client, services):
    form = open_upload_page(client)
    finish(services, form, sizes={"upload_size": 704000, "original_size": 4700000})
    page = client.get(f"/jobs/{form.ticket}").get_data(as_text=True)
    assert "Your file: 4.7 MB, sent as 704.0 kB (your browser shrank it" in page
    assert "256 × 171 px · 4.7 MB → 9.0 kB" in page
    body = client.get(f"/jobs/{form.ticket}/status").get_json()
    assert (body["original_size"], body["upload_size"], body["shrunk"]) == (4700000, 704000, True)


@pytest.mark.parametrize(
    ("said", "kept"),
    [("4700000", 4700000), ("", None), ("12", None), ("-5", None), ("1e9", None), ("9" * 13, None)],
)
def test_the_original_size_is_a_plain_number_above_what_arrived(said, kept):
    from app.storage import original_size

    assert original_size({"Metadata": {"original-size": said}}, stored=700000) == kept


@pytest.mark.parametrize(
    "edit",
    [
        {"etag": "\n"},
        {"etag": "a\r\nX-Evil: 1"},
        {"etag": "é"},
        {"etag": "x" * 20_000},
        {"etag": "*"},
        {"etag": 'W/"0"'},
        {"key": "{key}\n"},
        {"key": "{key}/../../other"},
        {"key": "{key}" + "é" * 600},
        {"key": ""},
        {"bucket": ""},
    ],
)
def test_an_edited_redirect_gets_the_jobs_page_and_records_nothing(client, services, edit):
    # A redirect S3 never sent (a line break or no ETag at all in its etag, a key S3 does not
    # hold): the visitor gets the job's page, which says the file has not arrived, never a 500.
    form = open_upload_page(client)
    key = arrive(services, form)
    stored = services.storage.client.head_object(Bucket=services.storage.uploads_bucket, Key=key)
    query = {"bucket": services.storage.uploads_bucket, "key": key, "etag": stored["ETag"]}
    query.update({name: value.format(key=key) for name, value in edit.items()})
    response = client.get(f"/jobs/{form.ticket}/uploaded?{urlencode(query)}")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/jobs/{form.ticket}"
    assert services.jobs.get(form.job_id) is None
