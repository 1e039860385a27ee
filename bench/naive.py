"""The naive baseline: Thumbs built the way the book warns against, for bench/cost.py.

The file is POSTed through the web function, converted inside that request, and its status
kept in the process. It has no job table, no S3 event, no worker, no reconciler, no upload
bucket. Lambda's 6 MB payload limit is enforced as API Gateway delivers the request: the body
base64-encoded, with its headers. The renditions go to S3 all the same (a function's answer
is capped at 6 MB too), and the page links them as Thumbs does.
"""

from __future__ import annotations

import base64
import uuid

from flask import Flask, abort, redirect, request

from app import imaging
from app.config import Settings
from app.services import services_for

PAYLOAD_LIMIT = 6 * 1024 * 1024  # Lambda's synchronous invocation payload, request and answer
PAGE = (
    '<!doctype html><title>Thumbs</title><form method="post" action="/upload" '
    'enctype="multipart/form-data"><input type="file" name="file"><button>Upload</button></form>'
)


def event_bytes(environ) -> int:
    """Return the size of the Lambda event API Gateway would make of this request: a binary
    body is base64-encoded, and the headers come along."""
    headers = sum(len(k) + len(str(v)) + 6 for k, v in environ.items() if k.startswith("HTTP_"))
    body = int(environ.get("CONTENT_LENGTH") or 0)
    return headers + len(base64.b64encode(b"\0" * body)) + 1024  # the event's own fields


def create_naive_app(settings: Settings) -> Flask:
    """Return the naive site: the state it keeps lives in this one process."""
    app = Flask("naive")
    services = services_for(settings)
    jobs: dict[str, dict] = {}  # the status, in the process: lost on the next instance
    app.config["refused"] = []

    @app.get("/")
    def page():
        return PAGE

    @app.post("/upload")
    def upload():
        size = event_bytes(request.environ)
        if size > PAYLOAD_LIMIT:
            app.config["refused"].append(size)
            abort(413)
        data = request.files["file"].read()
        made = imaging.make_renditions(
            data,
            settings.rendition_specs,
            imaging.Options(
                output_format=settings.output_format,
                quality=settings.jpeg_quality,
                qualities=settings.rendition_qualities,
            ),
        )
        job_id = uuid.uuid4().hex
        keys = {r.name: services.storage.write_rendition(job_id, r) for r in made}
        jobs[job_id] = {"status": "done", "keys": keys}
        images = "".join(
            f'<img src="{services.storage.presigned_get(key)}"><a href="/files/{job_id}/{name}">'
            f"Download {name}</a>"
            for name, key in keys.items()
        )
        return f"<!doctype html><title>Done</title>{images}"

    @app.get("/files/<job_id>/<name>")
    def file(job_id: str, name: str):
        job = jobs.get(job_id) or abort(404)
        return redirect(services.storage.presigned_get(job["keys"][name]), 302)

    return app
