"""The status as a long poll, and how each state draws its steps, on moto."""

import time

import pytest

from app import create_app, infra
from app.events import Conversions
from app.imaging_formats import FORMATS_HINT, PLUGINS, READABLE
from app.jobs import DONE, LOOKS, PROCESSING
from app.services import current_settings, services_for
from app.web import FORMATS

from conftest import settings_for_tests
from support import SCRIPT, open_upload_page, put_upload

KEY = "uploads/{job}/{owner}/river.jpg"


def claimed(services, form):
    """Put the form's upload in S3 and claim its job, as the worker does; return the key."""
    key = KEY.format(job=form.job_id, owner=form.owner)
    put_upload(services, key, b"x")
    services.jobs.claim(form.job_id, form.owner, key, "river.jpg", time.time() + 60, 3)
    return key


class Clock:
    """The status route's clock: a sleep advances it at once, doing what falls due meanwhile
    (a job finished, claimed or deleted by someone else), so a wait is measured, not timed."""

    def __init__(self):
        self.now = self.slept = 0.0
        self.sleeps = 0
        self._due: list = []

    def at(self, when: float, action, *args) -> None:
        self._due.append((when, action, args))

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds
        self.sleeps += 1
        for due in [d for d in self._due if d[0] <= self.now + 1e-9]:
            self._due.remove(due)
            due[1](*due[2])

    def time(self) -> float:  # the route's other uses of the clock: the real one
        return time.time()

    def perf_counter(self) -> float:
        return time.perf_counter()


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr("app.web.time", fake)
    return fake


def status(client, form, query: str) -> dict:
    return client.get(f"/jobs/{form.ticket}/status?{query}", headers=SCRIPT).get_json()


def test_a_waiting_status_answers_as_soon_as_the_job_is_done(client, services, clock):
    form = open_upload_page(client)
    claimed(services, form)
    clock.at(0.6, services.jobs.finish, form.job_id, [])
    body = status(client, form, "wait=10&since=processing")
    assert body["status"] == DONE and body["finished"] is True
    assert 0.6 <= clock.slept <= 0.7  # read every 100 ms by then: the first read after


def test_a_quick_conversion_is_seen_within_25_ms_and_a_long_wait_reads_less_often(
    client, services, clock
):
    # A wait is billed by the millisecond, a read by the unit: early on a read is cheaper than
    # the wait it saves, later it is not.
    form = open_upload_page(client)
    claimed(services, form)
    clock.at(0.03, services.jobs.finish, form.job_id, [])
    assert status(client, form, "wait=10&since=processing")["status"] == DONE
    assert clock.slept == pytest.approx(0.05)
    other = open_upload_page(client)
    claimed(services, other)
    clock.slept = clock.sleeps = 0
    assert status(client, other, "wait=10&since=processing")["status"] == PROCESSING
    assert clock.slept == pytest.approx(10)
    # 4 + 6 + 11 + 22.5 + 8 (and a short one where a step ends between two reads): fewer
    # reads than the 60 of a read every 100 ms for 5 s, then every 500 ms.
    assert clock.sleeps <= 53


def test_a_wait_without_news_ends_when_asked(client, services, clock):
    form = open_upload_page(client)
    claimed(services, form)
    assert status(client, form, "wait=0.5&since=processing")["status"] == PROCESSING
    assert clock.slept == pytest.approx(0.5)


def test_uploaded_to_converting_is_no_news_for_a_waiting_page(client, services, clock):
    form = open_upload_page(client)
    key = KEY.format(job=form.job_id, owner=form.owner)
    put_upload(services, key, b"x")
    services.jobs.record_upload(form.job_id, form.owner, key, "river.jpg")
    claim = (form.job_id, form.owner, key, "river.jpg", time.time() + 60, 3)
    clock.at(0.2, services.jobs.claim, *claim)
    body = status(client, form, "wait=0.8&since=uploaded")
    assert body["status"] == PROCESSING
    assert clock.slept == pytest.approx(0.8)  # the same step: it kept waiting


def test_without_since_or_wait_the_status_answers_at_once(client, services, clock):
    form = open_upload_page(client)
    claimed(services, form)
    queries = ("", "wait=10", "since=processing", "wait=10&since=nonsense")
    for query in (*queries, "wait=-5&since=processing", "wait=nan&since=processing"):
        assert status(client, form, query)["status"] == PROCESSING, query
        assert clock.slept == 0, query
    refused = client.get(f"/jobs/{form.ticket}/status?wait=soon&since=processing", headers=SCRIPT)
    assert refused.status_code == 400 and "wait=20" in refused.get_json()["message"]


def test_the_wait_is_capped_by_the_setting(aws, monkeypatch):
    fake = Clock()
    monkeypatch.setattr("app.web.time", fake)
    app = create_app(settings_for_tests(STATUS_WAIT_SECONDS=1))
    with app.app_context():
        made = services_for(current_settings())
    infra.up(made.settings, log=lambda message: None)
    client = app.test_client()
    form = open_upload_page(client)
    claimed(made, form)
    status(client, form, "wait=60&since=processing")
    assert fake.slept == pytest.approx(1)


def test_a_held_up_job_is_not_waited_on_and_its_page_starts_it(
    client, services, clock, monkeypatch
):
    started = []
    monkeypatch.setattr(Conversions, "start", lambda self, upload: started.append(upload))
    form = open_upload_page(client)
    key = KEY.format(job=form.job_id, owner=form.owner)
    put_upload(services, key, b"x")
    services.jobs.record_upload(form.job_id, form.owner, key, "river.jpg", now=time.time() - 300)
    assert status(client, form, "wait=10&since=delayed")["status"] == "delayed"
    assert clock.slept == 0
    # Its event was lost: the page that watches it starts it, once in a window.
    assert status(client, form, "wait=10&since=delayed")["status"] == "delayed"
    assert [(u.key, u.started_by) for u in started] == [(key, "watcher")]


def test_a_job_whose_file_has_not_arrived_is_not_waited_on(client, clock):
    """Its ticket costs a page view and writes nothing: no one may hold instances with it."""
    form = open_upload_page(client)
    assert status(client, form, "wait=10&since=awaiting_upload")["status"] == "awaiting_upload"
    assert clock.slept == 0


def test_a_job_deleted_while_waited_on_answers_404(client, services, clock):
    form = open_upload_page(client)
    claimed(services, form)
    clock.at(0.3, services.jobs.delete, form.job_id, form.owner)
    response = client.get(f"/jobs/{form.ticket}/status?wait=5&since=processing", headers=SCRIPT)
    assert response.status_code == 404 and response.get_json()["message"]
    assert clock.slept < 5


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
    # A step done is named in the past; one under way or to come, in the present.
    past, present = ("Uploaded", "Converted", "Ready"), ("Uploading", "Converting", "Ready")
    expected = [(past if state == "done" else present)[n] for n, state in enumerate(states)]
    assert [step["label"] for step in steps] == expected
    if LOOKS[status].tone == "problem":
        assert "done" not in [step["state"] for step in steps][LOOKS[status].step - 1 :]


def test_a_page_hears_of_a_job_once_it_moved_on():
    moved = {(a, b) for a in LOOKS for b in LOOKS if LOOKS[b].moved_on(LOOKS[a])}
    assert ("uploaded", "processing") not in moved
    assert ("processing", "uploaded") not in moved
    assert {("processing", "done"), ("processing", "failed"), ("processing", "stalled")} <= moved
    assert {("awaiting_upload", "processing"), ("uploaded", "delayed")} <= moved


def test_the_upload_page_names_the_formats_the_engine_reads():
    assert FORMATS == READABLE
    # Each of Pillow's plugins the engine opens, and HEIC, which pi-heif reads.
    assert {name.upper() for name in FORMATS} == {*PLUGINS, "HEIC"}
    assert FORMATS_HINT == "Upload a JPEG, PNG, GIF, WebP, HEIC, AVIF, BMP or TIFF image."
