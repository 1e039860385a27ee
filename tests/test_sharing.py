"""Share links, on moto: read-only, signed for sharing alone, carrying no visitor or owner,
turned on and off by the owner alone (one conditional write each), dead once off or deleted."""

import base64
import html
import json
import re
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from app.errors import ShareInvalid
from app.jobs import DONE
from app.tickets import ShareLinks, Tickets

from support import SCRIPT, Clock, csrf_token, open_upload_page, put_upload, s3_gate

RENDITIONS = [
    {
        "name": name,
        "width": side,
        "height": side * 2 // 3,
        "content_type": "image/jpeg",
        "size": 9000,
        "key": f"results/JOB/{name}.jpg",
    }
    for name, side in (("thumb", 256), ("preview", 1024))
]


def done_job(services, form, filename="lake.jpeg"):
    """Take the form's job through upload and conversion, as the worker would."""
    key = f"uploads/{form.job_id}/{form.owner}/{filename}"
    put_upload(services, key, b"x")
    services.jobs.claim(form.job_id, form.owner, key, filename, time.time() + 60, 3)
    renditions = [{**r, "key": r["key"].replace("JOB", form.job_id)} for r in RENDITIONS]
    services.jobs.finish(form.job_id, renditions)


def share(client, form):
    """Turn sharing on through the page's form; return the share link's path."""
    token = csrf_token(form.html)
    response = client.post(f"/jobs/{form.ticket}/share", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/jobs/{form.ticket}#share")
    status = client.get(f"/jobs/{form.ticket}/status", headers=SCRIPT).get_json()
    return status["share_url"].removeprefix("http://localhost")


@pytest.fixture
def shared(client, services):
    form = open_upload_page(client)
    done_job(services, form)
    return form, share(client, form)


def test_a_share_link_shows_the_images_to_anyone_with_nothing_to_change(app, shared):
    form, link = shared
    stranger = app.test_client()  # another browser: no cookie of the owner's
    page = stranger.get(link)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "lake.jpeg" in html and 'width="1024"' in html
    assert "<form" not in html  # nothing to post: no delete, no retry
    assert "/delete" not in html and "/retry" not in html and form.ticket not in html
    assert page.headers["Cache-Control"] == "no-store"
    download = stranger.get(f"{link}/files/preview?download=1")
    assert download.status_code == 302
    assert "lake-preview.jpg" in download.headers["Location"]
    assert stranger.get(f"{link}/files/original").status_code == 404


def test_a_share_link_carries_no_visitor_and_no_owner_tag(client, shared):
    form, link = shared
    token = link.removeprefix("/shared/")
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert set(payload) == {"j", "s"} and payload["j"] == form.job_id
    with client.session_transaction() as session:
        visitor = session["visitor"]
    assert visitor not in token and form.owner not in token
    assert form.owner not in client.get(link).get_data(as_text=True)


def test_a_share_link_is_signed_for_sharing_alone(app, client, services, shared):
    form, link = shared
    token = link.removeprefix("/shared/")
    assert client.get(f"/jobs/{token}").status_code == 404  # not a ticket
    assert client.get(f"/shared/{form.ticket}").status_code == 404  # a ticket is no share link
    forged = ShareLinks("another-secret-key-that-is-long-enough-0123456789")
    guess = forged.make(form.job_id, services.jobs.get(form.job_id).share_id)
    assert client.get(f"/shared/{guess}").status_code == 404
    assert client.get(link[:-2]).status_code == 404
    assert "Shared link not found" in client.get(link[:-2]).get_data(as_text=True)


def test_turning_sharing_off_kills_the_link_and_on_again_makes_a_new_one(app, client, shared):
    form, link = shared
    token = csrf_token(form.html)
    response = client.post(f"/jobs/{form.ticket}/unshare", data={"csrf_token": token})
    assert response.status_code == 303
    assert app.test_client().get(link).status_code == 404
    status = client.get(f"/jobs/{form.ticket}/status", headers=SCRIPT).get_json()
    assert status["share_url"] is None
    again = share(client, form)
    assert again != link
    assert app.test_client().get(again).status_code == 200
    assert app.test_client().get(link).status_code == 404


def test_every_link_a_shared_page_handed_out_is_dead_n_plus_one_seconds_after_stop(
    app, client, services, shared
):
    """The owner's page states N (at most 60 s); N + 1 s after Stop sharing, every image and
    download link the shared page handed out answers 403 or 404. S3's side is the embedded
    AWS's gate, which checks a presigned link's expiry as S3 does, on a clock this test sets."""
    form, link = shared
    for rendition in services.jobs.get(form.job_id).renditions:
        services.storage.client.put_object(
            Bucket=services.storage.results_bucket, Key=rendition["key"], Body=b"jpeg"
        )
    owner_page = client.get(f"/jobs/{form.ticket}").get_data(as_text=True)
    n = int(re.search(r"stop working within (\d+) seconds", owner_page).group(1))
    assert n <= 60
    stranger = app.test_client()
    page = stranger.get(link).get_data(as_text=True)
    images = [html.unescape(src) for src in re.findall(r'<img src="([^"]+)"', page)]
    routes = [html.unescape(href) for href in re.findall(r'href="(/shared/[^"]+)"', page)]
    assert len(images) == 2 and len(routes) == 2
    redirects = [stranger.get(route).headers["Location"] for route in routes]
    clock = Clock()
    gate = s3_gate(services.storage, clock)
    assert [fetch(gate, url).status_code for url in images + redirects] == [200] * 4
    assert post_form(client, form, "unshare").status_code == 303
    clock.now += timedelta(seconds=n + 1)  # from a moment after the links were signed
    assert [fetch(gate, url).status_code for url in images + redirects] == [403] * 4
    assert [stranger.get(url).status_code for url in [link, *routes]] == [404] * 3


def test_a_shared_pages_images_are_cached_no_longer_than_its_links_live(app, client, shared):
    """What a browser keeps of a shared image goes when its link dies: within N of Stop."""
    form, link = shared
    owner_page = client.get(f"/jobs/{form.ticket}").get_data(as_text=True)
    n = int(re.search(r"stop working within (\d+) seconds", owner_page).group(1))
    page = app.test_client().get(link).get_data(as_text=True)
    images = [html.unescape(src) for src in re.findall(r'<img src="([^"]+)"', page)]
    assert len(images) == 2
    for image in images:
        query = parse_qs(urlsplit(image).query)
        assert query["X-Amz-Expires"] == [str(n)]
        assert query["response-cache-control"] == [f"private, max-age={n}, immutable"]
    assert re.findall(r'data-download="([^"]+)"', page) == ["lake-preview.jpg", "lake-thumb.jpg"]


def fetch(gate, url: str):
    """GET a presigned S3 link through the gate, as a browser sends it (Host, path, query)."""
    parts = urlsplit(url)
    return gate.get(f"{parts.path}?{parts.query}", base_url=f"{parts.scheme}://{parts.netloc}")


def post_form(client, form, action: str):
    """Post one of the job page's forms (share, unshare, delete) with its CSRF token."""
    token = csrf_token(form.html)
    return client.post(f"/jobs/{form.ticket}/{action}", data={"csrf_token": token})


def test_deleting_the_job_kills_its_share_link(app, client, services, shared):
    form, link = shared
    token = csrf_token(form.html)
    assert client.post(f"/jobs/{form.ticket}/delete", data={"csrf_token": token}).status_code == 303
    assert app.test_client().get(link).status_code == 404
    assert app.test_client().get(f"{link}/files/thumb").status_code == 404


def test_only_the_owner_shares_and_only_with_a_form_token(app, client, services):
    form = open_upload_page(client)
    done_job(services, form)
    assert client.post(f"/jobs/{form.ticket}/share").status_code == 400  # no CSRF token
    stranger = app.test_client()
    token = csrf_token(stranger.get("/").get_data(as_text=True))
    refused = stranger.post(f"/jobs/{form.ticket}/share", data={"csrf_token": token})
    assert refused.status_code == 403
    assert services.jobs.get(form.job_id).share_id is None


def test_an_unfinished_job_is_not_shared(client, services):
    form = open_upload_page(client)
    token = csrf_token(form.html)
    response = client.post(f"/jobs/{form.ticket}/share", data={"csrf_token": token})
    assert response.status_code == 400
    assert "finished" in response.get_data(as_text=True)


def test_the_store_shares_by_one_conditional_write(services):
    jobs = services.jobs
    jobs.claim("job", "owner", "uploads/job/owner/a.jpg", "a.jpg", time.time() + 60, 3)
    assert jobs.share("job", "owner", "s1") is None  # not done yet
    jobs.finish("job", RENDITIONS)
    assert jobs.share("job", "someone else", "s1") is None
    assert jobs.share("job", "owner", "s1").share_id == "s1"
    assert jobs.get("job").status == DONE
    assert jobs.share("job", "owner", None).share_id is None
    jobs.delete("job", "owner")
    assert jobs.share("job", "owner", "s2") is None and jobs.share("job", "owner", None) is None
    assert jobs.share("missing", "owner", "s3") is None


def test_share_and_ticket_salts_differ():
    assert ShareLinks.SALT != "thumbs.job-ticket"
    ticket = Tickets("k" * 40).issue("job", "owner")
    with pytest.raises(ShareInvalid):
        ShareLinks("k" * 40).read(ticket)


@pytest.mark.parametrize(
    "edit",
    [
        # The signature: not its last character, whose low bits are base64's padding.
        lambda path: path[:-3] + ("A" if path[-3] != "A" else "B") + path[-2:],
        lambda path: path[: len(path) // 2],  # cut short
        lambda path: path + "/files/../../jobs",
        lambda path: path + "/files/thumb.exe",
        lambda path: path + "/files/" + "x" * 2000,
        lambda path: path + "/files/%00",
        lambda path: "/shared/" + "%FF" * 40,
        lambda path: "/shared/",
    ],
)
def test_an_edited_share_link_answers_a_4xx_with_a_message(app, shared, edit):
    """Anyone may hold a share link and edit it: each edit is refused, never a 500."""
    _, path = shared
    stranger = app.test_client()
    for accept in (SCRIPT, {"Accept": "text/html"}):
        response = stranger.get(edit(path), headers=accept)
        assert 400 <= response.status_code < 500, (edit(path), response.status_code)
        text = response.get_data(as_text=True)
        assert "Traceback" not in text
        if accept is SCRIPT:
            assert response.get_json()["message"]
        else:
            assert "<h1" in text
