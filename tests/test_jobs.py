"""The job record's state machine over DynamoDB: every transition one conditional write."""

import time

import pytest

from app.jobs import (
    DELAYED,
    DELETED,
    DONE,
    EXPIRED,
    FAILED,
    GAVE_UP,
    MAX_RETRIES,
    PROCESSING,
    STALLED,
    UPLOADED,
    Job,
)

from support import scan_table

KEY = "uploads/job/owner/a.jpg"


@pytest.fixture
def jobs(services):
    return services.jobs


def claim(jobs, job_id="job", deadline_in=60, max_attempts=3):
    return jobs.claim(job_id, "owner", KEY, "a.jpg", time.time() + deadline_in, max_attempts)


def test_an_arrived_upload_is_recorded_once_with_its_owner_and_a_ttl(jobs, services):
    assert jobs.record_upload("job", "owner", KEY, "a.jpg") is True
    assert jobs.record_upload("job", "someone else", KEY, "a.jpg") is False
    stored = jobs.get("job")
    assert (stored.status, stored.owner, stored.source_key) == (UPLOADED, "owner", KEY)
    (item,) = scan_table(services)
    assert int(item["expires_at"]["N"]) > time.time() + 6 * 24 * 3600


def test_the_first_claim_creates_the_record_when_the_event_beats_the_redirect(jobs):
    first = claim(jobs)
    assert (first.status, first.attempts, first.owner, first.filename) == (
        PROCESSING,
        1,
        "owner",
        "a.jpg",
    )
    assert jobs.record_upload("job", "owner", KEY, "a.jpg") is False  # the late redirect
    assert jobs.get("job").status == PROCESSING


def test_a_claim_is_exclusive_until_its_deadline(jobs):
    jobs.record_upload("job", "owner", KEY, "a.jpg")
    assert claim(jobs).attempts == 1
    assert claim(jobs) is None


def test_a_stalled_claim_can_be_taken_again(jobs):
    claim(jobs, deadline_in=-1)
    assert jobs.get("job").shown_status() == STALLED
    assert claim(jobs).attempts == 2


def test_claims_stop_when_attempts_are_spent(jobs):
    for _ in range(2):
        assert claim(jobs, deadline_in=-1, max_attempts=2)
    assert claim(jobs, max_attempts=2) is None


def test_finished_jobs_never_change(jobs):
    claim(jobs)
    assert jobs.finish("job", [{"name": "thumb"}]) is True
    assert jobs.finish("job", [{"name": "other"}]) is False
    assert jobs.fail("job", "corrupt", "no") is False
    assert claim(jobs) is None
    assert jobs.record_upload("job", "owner", KEY, "a.jpg") is False
    stored = jobs.get("job")
    assert stored.status == DONE and stored.renditions == [{"name": "thumb"}]


def test_a_done_job_keeps_what_its_person_is_told_of_its_images(jobs):
    claim(jobs)
    assert jobs.finish("job", [{"name": "thumb"}], "Shown still, by its first frame.")
    assert jobs.get("job").note == "Shown still, by its first frame."
    claim(jobs, job_id="other")
    assert jobs.finish("other", [{"name": "thumb"}])
    assert jobs.get("other").note is None


def test_a_failed_job_keeps_its_reason(jobs):
    claim(jobs)
    assert jobs.fail("job", "not_an_image", "This file is not an image.")
    stored = jobs.get("job")
    assert (stored.status, stored.error_code, stored.error_message) == (
        FAILED,
        "not_an_image",
        "This file is not an image.",
    )


def test_a_release_lets_a_retry_claim_at_once(jobs):
    claimed = claim(jobs)
    assert jobs.release("job", claimed.attempts, "ClientError: SlowDown")
    assert jobs.get("job").last_error == "ClientError: SlowDown"
    assert claim(jobs).attempts == 2


def test_a_job_not_taken_up_in_time_shows_as_delayed(jobs):
    jobs.record_upload("job", "owner", KEY, "a.jpg", now=1000.0)
    stored = jobs.get("job")
    assert stored.shown_status(now=1059.0, delayed_after=60) == UPLOADED
    assert stored.shown_status(now=1061.0, delayed_after=60) == DELAYED


def test_a_form_never_used_shows_as_expired_from_its_ticket_alone():
    waiting = Job.awaiting("job", "owner", form_expires_at=1600.0)
    assert waiting.shown_status(now=1599.0) == "awaiting_upload"
    assert waiting.shown_status(now=1601.0) == EXPIRED


def test_a_deleted_job_is_a_tombstone_no_event_or_redirect_brings_back(jobs):
    claim(jobs)
    jobs.delete("job", "owner")
    assert jobs.get("job").status == DELETED
    assert claim(jobs) is None
    assert jobs.record_upload("job", "owner", KEY, "a.jpg") is False
    assert jobs.finish("job", [{"name": "thumb"}]) is False
    jobs.delete("never-arrived", "owner")  # a job deleted while it still waited
    assert jobs.claim("never-arrived", "owner", KEY, "a.jpg", time.time() + 60, 3) is None


def test_a_retry_puts_a_job_that_gave_up_back_once_per_click(jobs):
    for _ in range(3):
        claim(jobs, deadline_in=-1)
    jobs.fail("job", GAVE_UP, "failed 3 times", stalled_only=True)
    failed = jobs.get("job")
    assert failed.retryable(max_attempts=3)
    retried = jobs.retry(failed, max_attempts=3)
    assert (retried.status, retried.attempts, retried.retries) == (UPLOADED, 0, 1)
    assert retried.error_code is None
    assert jobs.retry(failed, max_attempts=3) is None  # the second click
    assert claim(jobs).attempts == 1


def test_a_job_whose_last_attempt_died_silently_can_be_retried_too(jobs):
    for _ in range(3):
        claim(jobs, deadline_in=-1)
    spent = jobs.get("job")
    assert spent.status == PROCESSING and spent.retryable(max_attempts=3)
    assert jobs.retry(spent, max_attempts=3).status == UPLOADED


def test_the_files_own_faults_and_done_jobs_are_never_retried(jobs):
    claim(jobs)
    jobs.fail("job", "not_an_image", "This file is not an image.")
    refused = jobs.get("job")
    assert not refused.retryable(max_attempts=3)
    assert jobs.retry(refused, max_attempts=3) is None
    claim(jobs, "done")
    jobs.finish("done", [])
    assert jobs.retry(jobs.get("done"), max_attempts=3) is None


def test_retries_are_limited(jobs):
    for _ in range(MAX_RETRIES + 1):
        for _ in range(3):
            claim(jobs, deadline_in=-1)
        job = jobs.get("job")
        jobs.retry(job, max_attempts=3)
    assert jobs.get("job").retries == MAX_RETRIES
    assert not jobs.get("job").retryable(max_attempts=3)


def test_transitions_on_a_missing_job_do_nothing(jobs):
    assert jobs.finish("missing", []) is False
    assert jobs.fail("missing", "x", "y") is False
    assert jobs.release("missing", 1, "x") is False
    assert jobs.get("missing") is None


def test_many_jobs_are_read_in_batches(jobs):
    for n in range(130):
        jobs.record_upload(f"job{n}", "owner", f"uploads/job{n}/owner/a.jpg", "a.jpg")
    found = jobs.get_many([f"job{n}" for n in range(140)])
    assert set(found) == {f"job{n}" for n in range(130)}


def test_the_owner_index_lists_uploads_newest_first_in_pages(jobs):
    ids = []
    for i in range(5):
        jobs.record_upload(
            f"job{i}", "owner", f"uploads/job{i}/owner/a.jpg", "a.jpg", now=1000.0 + 2 * i
        )
        ids.append(f"job{i}")
    jobs.record_upload("gone", "owner", "uploads/gone/owner/a.jpg", "a.jpg", now=1005.0)
    jobs.delete("gone", "owner", now=1005.0)
    jobs.record_upload("other", "someone-else", "uploads/other/someone-else/a.jpg", "a.jpg")
    listed, after = jobs.for_owner("owner", limit=2)
    assert [j.job_id for j in listed] == [ids[4], ids[3]]
    listed, after = jobs.for_owner("owner", limit=2, after=after)
    assert [j.job_id for j in listed] == [ids[2], ids[1]]
    listed, _ = jobs.for_owner("owner", limit=2, after=after)
    assert [j.job_id for j in listed] == [ids[0]]
