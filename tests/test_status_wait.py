"""The status as a long poll, and how each state draws its steps, on moto."""

import threading
import time

import pytest
from conftest import settings_for_tests

from app import create_app, infra
from app.imaging_formats import PLUGINS
from app.jobs import DONE, LOOKS, PROCESSING
from app.services import current_settings, services_for
from app.web import FORMATS

from support import SCRIPT, open_upload_page, put_upload

KEY = "uploads/{job}/{owner}/river.jpg"


def claimed(services, form):
    """Put the form's upload in S3 and claim its job, as the worker does; return the key."""
    key = KEY.format(job=form.job_id, owner=form.owner)
    put_upload(services, key, b"x")
    services.jobs.claim(form.job_id, form.owner, key, "river.jpg", time.time() + 60, 3)
    return key


def timed_status(client, form, query: str):
    started = time.monotonic()
    body = client.get(f"/jobs/{form.ticket}/status?{query}", headers=SCRIPT).get_json()
    return body, time.monotonic() - started


def test_a_waiting_status_answers_as_soon_as_the_job_is_done(client, services):
    form = open_upload_page(client)
    claimed(services, form)
    finisher = threading.Timer(0.6, services.jobs.finish, (form.job_id, []))
    finisher.start()
    body, seconds = timed_status(client, form, "wait=10&since=processing")
    finisher.join()
    assert body["status"] == DONE and body["finished"] is True
    assert 0.6 <= seconds < 1.5


def test_a_wait_without_news_ends_when_asked(client, services):
    form = open_upload_page(client)
    claimed(services, form)
    body, seconds = timed_status(client, form, "wait=0.5&since=processing")
    assert body["status"] == PROCESSING
    assert 0.5 <= seconds < 1.2


def test_uploaded_to_converting_is_no_news_for_a_waiting_page(client, services):
    form = open_upload_page(client)
    key = KEY.format(job=form.job_id, owner=form.owner)
    put_upload(services, key, b"x")
    services.jobs.record_upload(form.job_id, form.owner, key, "river.jpg")
    claim = threading.Timer(
        0.2,
        services.jobs.claim,
        (form.job_id, form.owner, key, "river.jpg", time.time() + 60, 3),
    )
    claim.start()
    body, seconds = timed_status(client, form, "wait=0.8&since=uploaded")
    claim.join()
    assert body["status"] == PROCESSING and seconds >= 0.8  # the same step: it kept waiting


def test_without_since_or_wait_the_status_answers_at_once(client, services):
    form = open_upload_page(client)
    claimed(services, form)
    for query in ("", "wait=10", "since=processing", "wait=10&since=nonsense"):
        body, seconds = timed_status(client, form, query)
        assert body["status"] == PROCESSING and seconds < 0.5, query
    refused = client.get(f"/jobs/{form.ticket}/status?wait=soon&since=processing", headers=SCRIPT)
    assert refused.status_code == 400


def test_the_wait_is_capped_by_the_setting(aws):
    app = create_app(settings_for_tests(STATUS_WAIT_SECONDS=1))
    with app.app_context():
        made = services_for(current_settings())
    infra.up(made.settings, log=lambda message: None)
    client = app.test_client()
    form = open_upload_page(client)
    claimed(made, form)
    _, seconds = timed_status(client, form, "wait=60&since=processing")
    assert 1 <= seconds < 1.8


def test_a_held_up_job_is_not_waited_on(client, services):
    form = open_upload_page(client)
    key = KEY.format(job=form.job_id, owner=form.owner)
    put_upload(services, key, b"x")
    services.jobs.record_upload(form.job_id, form.owner, key, "river.jpg", now=time.time() - 300)
    body, seconds = timed_status(client, form, "wait=10&since=delayed")
    assert body["status"] == "delayed" and seconds < 0.5


def test_a_job_whose_file_has_not_arrived_is_not_waited_on(client, services):
    """Its ticket costs a page view and writes nothing: no one may hold instances with it."""
    form = open_upload_page(client)
    body, seconds = timed_status(client, form, "wait=10&since=awaiting_upload")
    assert body["status"] == "awaiting_upload" and seconds < 0.5


def test_a_job_deleted_while_waited_on_answers_404(client, services):
    form = open_upload_page(client)
    claimed(services, form)
    deleter = threading.Timer(0.3, services.jobs.delete, (form.job_id, form.owner))
    deleter.start()
    response = client.get(f"/jobs/{form.ticket}/status?wait=5&since=processing", headers=SCRIPT)
    deleter.join()
    assert response.status_code == 404


@pytest.mark.parametrize(
    "status, states",
    [
        ("awaiting_upload", ["current", "todo", "todo"]),
        ("uploaded", ["done", "current", "todo"]),
        ("processing", ["done", "current", "todo"]),
        ("delayed", ["done", "waiting", "todo"]),
        ("stalled", ["done", "waiting", "todo"]),
        ("done", ["done", "done", "done"]),
        ("failed", ["done", "stopped", "todo"]),
        ("expired", ["stopped", "todo", "todo"]),
    ],
)
def test_each_status_draws_its_steps_truthfully(status, states):
    steps = LOOKS[status].steps()
    assert [step["state"] for step in steps] == states
    assert [step["label"] for step in steps] == ["Uploaded", "Converting", "Done"]
    if LOOKS[status].tone == "problem":
        assert "done" not in [step["state"] for step in steps][LOOKS[status].step - 1 :]


def test_a_page_hears_of_a_job_once_it_moved_on():
    moved = {(a, b) for a in LOOKS for b in LOOKS if LOOKS[b].moved_on(LOOKS[a])}
    assert ("uploaded", "processing") not in moved
    assert ("processing", "uploaded") not in moved
    assert {("processing", "done"), ("processing", "failed"), ("processing", "stalled")} <= moved
    assert {("awaiting_upload", "processing"), ("uploaded", "delayed")} <= moved


def test_the_upload_page_names_the_formats_the_engine_reads():
    assert {name.upper() for name in FORMATS} == set(PLUGINS)
