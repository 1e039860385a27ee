import time

import pytest

from app.jobs import (
    AWAITING_UPLOAD,
    DONE,
    EXPIRED,
    FAILED,
    PROCESSING,
    STALLED,
    UPLOADED,
)


@pytest.fixture
def jobs(services):
    return services.jobs


def test_a_new_job_awaits_its_upload_and_carries_a_ttl(jobs, services):
    job = jobs.create("visitor", upload_expires_in=600)
    stored = jobs.get(job.job_id)
    assert stored.status == AWAITING_UPLOAD
    assert stored.visitor_id == "visitor"
    item = services.jobs.client.get_item(
        TableName=services.settings.jobs_table, Key={"job_id": {"S": job.job_id}}
    )["Item"]
    assert int(item["expires_at"]["N"]) > time.time() + 6 * 24 * 3600


def test_uploaded_is_recorded_only_while_waiting(jobs):
    job = jobs.create("visitor", 600)
    assert jobs.mark_uploaded(job.job_id) is True
    assert jobs.get(job.job_id).status == UPLOADED
    assert jobs.mark_uploaded(job.job_id) is False


def test_a_claim_is_exclusive_until_its_deadline(jobs):
    job = jobs.create("visitor", 600)
    first = jobs.claim(job.job_id, "uploads/x/a.jpg", "a.jpg", time.time() + 60, max_attempts=3)
    assert first.status == PROCESSING and first.attempts == 1
    assert jobs.claim(job.job_id, "uploads/x/a.jpg", "a.jpg", time.time() + 60, 3) is None


def test_a_stalled_claim_can_be_taken_again(jobs):
    job = jobs.create("visitor", 600)
    jobs.claim(job.job_id, "k", "a.jpg", deadline=time.time() - 1, max_attempts=3)
    assert jobs.get(job.job_id).shown_status() == STALLED
    again = jobs.claim(job.job_id, "k", "a.jpg", time.time() + 60, 3)
    assert again.attempts == 2


def test_claims_stop_when_attempts_are_spent(jobs):
    job = jobs.create("visitor", 600)
    for _ in range(2):
        assert jobs.claim(job.job_id, "k", "a.jpg", time.time() - 1, max_attempts=2)
    assert jobs.claim(job.job_id, "k", "a.jpg", time.time() + 60, max_attempts=2) is None


def test_finished_jobs_never_change(jobs):
    job = jobs.create("visitor", 600)
    jobs.claim(job.job_id, "k", "a.jpg", time.time() + 60, 3)
    assert jobs.finish(job.job_id, [{"name": "thumb"}]) is True
    assert jobs.finish(job.job_id, [{"name": "other"}]) is False
    assert jobs.fail(job.job_id, "corrupt", "no") is False
    assert jobs.claim(job.job_id, "k", "a.jpg", time.time() + 60, 3) is None
    assert jobs.mark_uploaded(job.job_id) is False
    stored = jobs.get(job.job_id)
    assert stored.status == DONE and stored.renditions == [{"name": "thumb"}]


def test_a_failed_job_keeps_its_reason(jobs):
    job = jobs.create("visitor", 600)
    jobs.claim(job.job_id, "k", "a.jpg", time.time() + 60, 3)
    assert jobs.fail(job.job_id, "not_an_image", "This file is not an image.")
    stored = jobs.get(job.job_id)
    assert (stored.status, stored.error_code, stored.error_message) == (
        FAILED,
        "not_an_image",
        "This file is not an image.",
    )


def test_a_release_lets_a_retry_claim_at_once(jobs):
    job = jobs.create("visitor", 600)
    claimed = jobs.claim(job.job_id, "k", "a.jpg", time.time() + 60, 3)
    assert jobs.release(job.job_id, claimed.attempts, "ClientError: SlowDown")
    released = jobs.get(job.job_id)
    assert released.last_error == "ClientError: SlowDown"
    assert jobs.claim(job.job_id, "k", "a.jpg", time.time() + 60, 3).attempts == 2


def test_an_unused_upload_form_shows_as_expired(jobs):
    created = jobs.create("visitor", upload_expires_in=600)
    stored = jobs.get(created.job_id)
    assert stored.shown_status(now=created.created_at + 599) == AWAITING_UPLOAD
    assert stored.shown_status(now=created.created_at + 601) == EXPIRED


def test_transitions_on_a_missing_job_do_nothing(jobs):
    assert jobs.mark_uploaded("missing") is False
    assert jobs.claim("missing", "k", "a.jpg", time.time() + 60, 3) is None
    assert jobs.get("missing") is None


def test_the_visitor_index_lists_uploads_newest_first_in_pages(jobs):
    ids = []
    for i in range(5):
        job = jobs.create("visitor", 600, now=1000.0 + 2 * i)
        jobs.mark_uploaded(job.job_id)
        ids.append(job.job_id)
        jobs.create("visitor", 600, now=1001.0 + 2 * i)  # a page view that never uploaded
    jobs.create("someone-else", 600)
    listed, after = jobs.for_visitor("visitor", limit=2)
    assert [j.job_id for j in listed] == [ids[4], ids[3]]
    listed, after = jobs.for_visitor("visitor", limit=2, after=after)
    assert [j.job_id for j in listed] == [ids[2], ids[1]]
    listed, _ = jobs.for_visitor("visitor", limit=2, after=after)
    assert [j.job_id for j in listed] == [ids[0]]
