"""The worker, fed S3 events on moto: claim, convert, store, finish, whatever the order."""

import contextlib
import io
import json
import secrets
import time
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError
from PIL import Image

from app import imaging, worker
from app.jobs import DELETED, DONE, FAILED, PROCESSING, STALLED

from support import jpeg_bytes, put_upload, raising, s3_event, stored_keys


@pytest.fixture
def worker_env(monkeypatch, app):
    """The worker reads its settings from the environment, as in Lambda."""
    monkeypatch.setenv("STAGE", "test")


@pytest.fixture
def upload(services, worker_env):
    """Put a file where the browser would, for a fresh job; return (job id, key)."""

    def put(data: bytes, filename: str = "photo.jpg"):
        job_id = secrets.token_hex(8)
        key = f"uploads/{job_id}/owner-tag/{filename}"
        put_upload(services, key, data)
        return job_id, key

    return put


def run(services, key, size=1000):
    worker.handle_s3_event(s3_event(services.storage.uploads_bucket, key, size), None)


def result(services, key) -> Image.Image:
    body = services.storage.client.get_object(Bucket=services.storage.results_bucket, Key=key)
    return Image.open(io.BytesIO(body["Body"].read()))


def test_an_upload_becomes_renditions_and_the_job_is_done(services, upload):
    job_id, key = upload(jpeg_bytes((3000, 2000)))
    assert services.jobs.get(job_id) is None  # no record until the upload arrives
    run(services, key)
    job = services.jobs.get(job_id)
    assert (job.status, job.owner, job.source_key) == (DONE, "owner-tag", key)
    sizes = {r["name"]: (r["width"], r["height"]) for r in job.renditions}
    assert sizes == {"thumb": (256, 171), "preview": (1024, 683)}
    for rendition in job.renditions:
        assert rendition["key"].startswith(f"results/{job_id}/")
        assert result(services, rendition["key"]).size == sizes[rendition["name"]]


def test_the_job_records_what_arrived_and_the_size_the_browser_shrank_it_from(services, upload):
    data = jpeg_bytes((2048, 1365))
    job_id, key = upload(data)
    shrunk = f"uploads/{job_id}/owner-tag/shrunk.jpg"
    services.storage.client.put_object(
        Bucket=services.storage.uploads_bucket,
        Key=shrunk,
        Body=data,
        Metadata={"original-size": "4700000"},  # as the page's form field sets it
    )
    run(services, shrunk)
    job = services.jobs.get(job_id)
    assert (job.status, job.upload_size, job.original_size) == (DONE, len(data), 4700000)
    other_id, plain = upload(data)  # no field: a plain form, or a script that did not shrink
    run(services, plain)
    assert (services.jobs.get(other_id).upload_size, services.jobs.get(other_id).original_size) == (
        len(data),
        None,
    )


def test_a_small_image_is_never_upscaled(services, upload):
    job_id, key = upload(jpeg_bytes((300, 200)))
    run(services, key)
    sizes = {r["name"]: (r["width"], r["height"]) for r in services.jobs.get(job_id).renditions}
    assert sizes == {"thumb": (256, 171), "preview": (300, 200)}


def test_a_non_image_fails_with_a_message_a_person_understands(services, upload):
    job_id, key = upload(b"Shopping list: eggs, milk, bread.", "notes.jpg")
    run(services, key)
    job = services.jobs.get(job_id)
    assert job.status == FAILED
    assert job.error_code == "not_an_image"
    assert "not an image" in job.error_message


def test_a_duplicate_event_converts_once(services, upload, monkeypatch):
    calls = []
    real = imaging.make_renditions
    monkeypatch.setattr(
        imaging, "make_renditions", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    job_id, key = upload(jpeg_bytes())
    for _ in range(3):
        run(services, key)
    assert len(calls) == 1
    assert services.jobs.get(job_id).status == DONE
    assert services.jobs.get(job_id).attempts == 1


def test_an_event_for_a_finished_failed_job_changes_nothing(services, upload):
    job_id, key = upload(b"not an image")
    run(services, key)
    first = services.jobs.get(job_id)
    run(services, key)
    again = services.jobs.get(job_id)
    assert again.status == FAILED and again.attempts == 1
    assert again.finished_at == first.finished_at


@pytest.mark.parametrize(
    "filename", ["my holiday photo.jpg", "été à Noël – 日本.jpeg", "a+b & c%20d.jpg"]
)
def test_keys_with_spaces_and_non_ascii_characters_work(services, upload, filename):
    job_id, key = upload(jpeg_bytes(), filename)
    run(services, key)
    job = services.jobs.get(job_id)
    assert job.status == DONE
    assert job.filename == filename


def test_the_s3_test_event_and_foreign_keys_are_skipped(services, upload, monkeypatch):
    monkeypatch.setattr(imaging, "make_renditions", lambda *a, **k: pytest.fail("converted"))
    job_id, _ = upload(jpeg_bytes())
    worker.handle_s3_event({"Service": "Amazon S3", "Event": "s3:TestEvent"}, None)
    run(services, f"results/{job_id}/thumb.jpg")  # not an upload, though its job exists
    run(services, f"uploads/{job_id}/owner-tag")  # no file name
    run(services, f"uploads/{job_id}/photo.jpg")  # no owner
    assert services.jobs.get(job_id) is None


def test_an_event_from_another_bucket_is_ignored(services, upload):
    job_id, key = upload(jpeg_bytes())
    worker.handle_s3_event(s3_event("someone-elses-bucket", key), None)
    assert services.jobs.get(job_id) is None


def test_an_infrastructure_error_is_recorded_and_raised_then_a_retry_succeeds(
    services, upload, monkeypatch
):
    job_id, key = upload(jpeg_bytes())
    from app.storage import Storage

    real = Storage.read_source
    throttled = ClientError(
        {"Error": {"Code": "SlowDown", "Message": "Reduce your rate"}}, "GetObject"
    )
    monkeypatch.setattr(Storage, "read_source", raising(throttled))
    with pytest.raises(ClientError):
        run(services, key)
    job = services.jobs.get(job_id)
    assert job.status == PROCESSING and job.last_error == "ClientError: SlowDown"
    assert job.shown_status(now=time.time() + 0.01) == STALLED
    monkeypatch.setattr(Storage, "read_source", real)
    run(services, key)  # Lambda's retry
    job = services.jobs.get(job_id)
    assert job.status == DONE and job.attempts == 2 and job.last_error is None


def test_an_error_on_the_last_attempt_fails_the_job_with_an_explanation(
    services, upload, monkeypatch
):
    job_id, key = upload(jpeg_bytes())
    monkeypatch.setattr(imaging, "make_renditions", raising(MemoryError()))
    for _attempt in (1, 2):
        with pytest.raises(MemoryError):
            run(services, key)
        assert services.jobs.get(job_id).shown_status(max_attempts=3) == STALLED
    run(services, key)  # the last attempt: nothing is left to retry, so nothing is raised
    job = services.jobs.get(job_id)
    assert job.status == FAILED and job.error_code == "gave_up"
    assert "3 times" in job.error_message
    run(services, key)  # a late duplicate changes nothing
    assert services.jobs.get(job_id).error_code == "gave_up"


def test_a_silently_killed_last_attempt_shows_failed_and_is_recorded_later(services, upload):
    job_id, key = upload(jpeg_bytes())
    for _ in range(3):  # three claims whose workers died without a word (timeouts, OOM)
        assert services.jobs.claim(
            job_id, "owner-tag", key, "photo.jpg", time.time() - 1, max_attempts=3
        )
    job = services.jobs.get(job_id)
    assert job.shown_status(max_attempts=3) == FAILED
    code, message = job.failure(3)
    assert code == "gave_up" and "3 times" in message
    run(services, key)  # a late delivery records what the page already says
    stored = services.jobs.get(job_id)
    assert (stored.status, stored.error_code) == (FAILED, "gave_up")


def test_a_file_over_the_limit_is_refused_without_converting(services, upload, monkeypatch):
    monkeypatch.setenv("MAX_UPLOAD_MB", "1")
    job_id, key = upload(b"\xff" * (1024 * 1024 + 10))
    run(services, key)
    job = services.jobs.get(job_id)
    assert job.status == FAILED and "larger than 1 MB" in job.error_message


def test_an_upload_for_a_deleted_job_is_removed_not_converted(services, upload, monkeypatch):
    monkeypatch.setattr(imaging, "make_renditions", lambda *a, **k: pytest.fail("converted"))
    job_id, key = upload(jpeg_bytes())
    services.jobs.delete(job_id, "owner-tag")  # deleted while its upload was on its way
    run(services, key)
    assert services.jobs.get(job_id).status == DELETED
    assert stored_keys(services, services.storage.uploads_bucket) == []


def test_renditions_written_for_a_job_deleted_while_converting_are_removed(
    services, upload, monkeypatch
):
    job_id, key = upload(jpeg_bytes())
    real = imaging.make_renditions

    def delete_meanwhile(*args, **kwargs):
        made = real(*args, **kwargs)
        services.jobs.delete(job_id, "owner-tag")
        return made

    monkeypatch.setattr(imaging, "make_renditions", delete_meanwhile)
    run(services, key)
    assert services.jobs.get(job_id).status == DELETED
    assert stored_keys(services, services.storage.results_bucket) == []


def test_a_transparent_image_gets_a_webp_to_show_and_a_lossless_png_to_download(services, upload):
    out = io.BytesIO()
    logo = Image.new("RGBA", (1600, 800), (0, 0, 0, 0))
    logo.paste((30, 120, 200, 255), (200, 200, 1400, 600))
    logo.save(out, "PNG")
    job_id, key = upload(out.getvalue(), "logo.png")
    run(services, key)
    renditions = {r["name"]: r for r in services.jobs.get(job_id).renditions}
    assert renditions["thumb"]["content_type"] == "image/webp" and renditions["thumb"]["shown"]
    lossless = renditions["preview-lossless"]
    assert (lossless["content_type"], lossless["shown"]) == ("image/png", False)
    assert result(services, lossless["key"]).mode == "RGBA"


def animated_gif(frames: int = 4, size=(300, 200)) -> bytes:
    images = [Image.new("RGB", size, (60 * n, 100, 200)) for n in range(frames)]
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=80, loop=0)
    return out.getvalue()


def test_an_animated_gif_becomes_animated_webp_renditions(services, upload):
    job_id, key = upload(animated_gif(), "dance.gif")
    run(services, key)
    job = services.jobs.get(job_id)
    assert job.status == DONE and job.note is None
    for rendition in job.renditions:
        assert rendition["content_type"] == "image/webp"
        assert result(services, rendition["key"]).n_frames == 4


def test_an_animation_beyond_the_limit_is_done_still_and_its_record_says_so(
    services, upload, monkeypatch, capsys
):
    monkeypatch.setenv("MAX_ANIMATION_PIXELS", "100000")  # 4 frames of 300×200 are 240,000
    job_id, key = upload(animated_gif(), "dance.gif")
    capsys.readouterr()
    run(services, key)
    job = services.jobs.get(job_id)
    assert job.status == DONE and "shown still, by its first frame" in job.note
    assert "4 frames of 300×200" in job.note
    assert result(services, job.renditions[0]["key"]).format == "JPEG"
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    (done,) = [line for line in lines if line.get("event") == "job_done"]
    assert done["note"] == job.note


class NoTimeLeft:
    """A Lambda context whose invocation has no time left."""

    def get_remaining_time_in_millis(self):
        return 0


def test_an_animation_is_kept_moving_only_within_half_the_time_left(services, upload):
    job_id, key = upload(animated_gif(), "dance.gif")
    worker.handle_s3_event(s3_event(services.storage.uploads_bucket, key, 1000), NoTimeLeft())
    job = services.jobs.get(job_id)
    assert job.status == DONE and "took longer than one image may take" in job.note
    assert result(services, job.renditions[0]["key"]).format == "JPEG"


def test_a_heic_from_a_phone_becomes_renditions(services, upload):
    from tests import heic

    job_id, key = upload(heic.heic(Image.new("RGB", (640, 480), (30, 140, 90))), "IMG_0001.HEIC")
    run(services, key)
    job = services.jobs.get(job_id)
    assert job.status == DONE
    assert {(r["name"], r["width"]) for r in job.renditions} == {("thumb", 256), ("preview", 640)}


def test_pillows_warnings_are_logged_once_with_the_job(services, upload, monkeypatch, capsys):
    real = imaging.make_renditions

    def warned(*args, **kwargs):
        made = real(*args, **kwargs)
        made.warnings = ("Tag data larger than file", "Invalid APNG")
        return made

    monkeypatch.setattr(imaging, "make_renditions", warned)
    job_id, key = upload(jpeg_bytes())
    capsys.readouterr()
    run(services, key)
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    (done,) = [line for line in lines if "Tag data" in json.dumps(line)]
    assert (done["event"], done["job_id"]) == ("job_done", job_id)
    assert done["image_warnings"] == ["Tag data larger than file", "Invalid APNG"]


# Amazon S3 API Reference, GetObject, response header x-amz-expiration, as its example gives it.
EXPIRATION = 'expiry-date="Fri, 23 Dec 2012 00:00:00 GMT", rule-id="picture-deletion-rule"'


@pytest.fixture
def expiring(worker_env):
    """S3's answer to GetObject under a lifecycle rule: with its Expiration header, which moto
    never sends. Added to the responses of the worker's own client, for this test only."""
    from app.config import Settings
    from app.services import services_for

    def add_expiration(parsed, **_):
        parsed["Expiration"] = EXPIRATION

    events = services_for(Settings.from_env()).storage.client.meta.events
    events.register("after-call.s3.GetObject", add_expiration)
    yield datetime(2012, 12, 23, tzinfo=UTC).timestamp()
    events.unregister("after-call.s3.GetObject", add_expiration)


def test_a_job_that_failed_on_our_side_records_until_when_s3_keeps_its_upload(
    services, upload, monkeypatch, expiring
):
    """Try again is judged from the record: the worker keeps the date S3 gave with the
    upload, so no page view asks S3."""
    job_id, key = upload(jpeg_bytes())
    monkeypatch.setattr(imaging, "make_renditions", raising(MemoryError()))
    with pytest.raises(MemoryError):
        run(services, key)
    assert services.jobs.get(job_id).source_kept_until == expiring  # released, with the date
    for _ in (2, 3):
        with contextlib.suppress(MemoryError):
            run(services, key)
    job = services.jobs.get(job_id)
    assert (job.status, job.error_code, job.source_kept_until) == (FAILED, "gave_up", expiring)


def test_without_an_expiration_header_the_uploads_rule_is_applied_as_s3_documents_it():
    """S3 adds the rule's days to the object's creation time and rounds up to the next
    midnight UTC (its Lifecycle page: created 10:30 on 15 January 2014 under a 3-day rule,
    it expires at 00:00 on 19 January); under the uploads' 1-day rule, at 00:00 on the 17th."""
    from app.storage import UPLOADS_KEPT_DAYS, kept_until

    created = datetime(2014, 1, 15, 10, 30, tzinfo=UTC)
    assert kept_until({"Expiration": EXPIRATION}) == datetime(2012, 12, 23, tzinfo=UTC).timestamp()
    assert UPLOADS_KEPT_DAYS == 1
    assert kept_until({"LastModified": created}) == datetime(2014, 1, 17, tzinfo=UTC).timestamp()
    midnight = datetime(2014, 1, 15, tzinfo=UTC)
    assert kept_until({"LastModified": midnight}) == datetime(2014, 1, 16, tzinfo=UTC).timestamp()


def test_an_upload_s3_no_longer_keeps_fails_for_good_and_offers_no_retry(services, upload):
    job_id, key = upload(jpeg_bytes())
    services.storage.client.delete_object(Bucket=services.storage.uploads_bucket, Key=key)
    run(services, key)  # nothing is raised: no retry could find it either
    job = services.jobs.get(job_id)
    assert (job.status, job.error_code) == (FAILED, "upload_gone")
    assert "Upload it again" in job.error_message
    assert not job.retryable(max_attempts=3)


def test_the_renditions_are_stored_at_once_and_a_failed_put_is_retried_whole(
    services, upload, monkeypatch
):
    import threading

    from app.storage import Storage

    job_id, key = upload(jpeg_bytes((3000, 2000)))
    real = Storage.write_rendition
    # Each PUT waits for the other: written one after the other, the first would wait alone
    # and the barrier break.
    both = threading.Barrier(2, timeout=30)

    def together(self, job, rendition):
        both.wait()
        if rendition.name == "preview":
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "slow"}}, "PutObject")
        return real(self, job, rendition)

    monkeypatch.setattr(Storage, "write_rendition", together)
    with pytest.raises(ClientError):
        run(services, key)
    job = services.jobs.get(job_id)
    assert job.status == PROCESSING and job.last_error == "ClientError: SlowDown"
    monkeypatch.setattr(Storage, "write_rendition", real)
    run(services, key)  # Lambda's retry writes both again, to the same keys
    job = services.jobs.get(job_id)
    assert job.status == DONE and job.attempts == 2
    assert sorted(stored_keys(services, services.storage.results_bucket)) == sorted(
        r["key"] for r in job.renditions
    )


def test_the_preview_is_written_at_its_own_quality_and_the_thumbnail_at_jpeg_quality(
    services, upload
):
    job_id, key = upload(jpeg_bytes((3000, 2000)))
    run(services, key)
    made = {r["name"]: result(services, r["key"]) for r in services.jobs.get(job_id).renditions}

    def tables(quality: int) -> dict:
        out = io.BytesIO()
        Image.new("RGB", (16, 16)).save(out, "JPEG", quality=quality)
        return Image.open(out).quantization

    assert made["preview"].quantization == tables(75)  # RENDITIONS: preview:1024:75
    assert made["thumb"].quantization == tables(85)  # JPEG_QUALITY
