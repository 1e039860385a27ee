"""The blueprint: thin views over tickets, jobs and storage."""

from __future__ import annotations

import logging
import time

from botocore.exceptions import BotoCoreError, ClientError
from flask import (
    Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template, request,
    session, url_for,
)
from flask_wtf.csrf import CSRFError

from . import logs
from .aws import Services, build_services
from .jobs import (
    AWAITING_UPLOAD, DONE, EXPIRED, FAILED, PROCESSING, STALLED, UPLOADED, Job,
)
from .storage import display_name, download_name
from .tickets import Cursors, TicketInvalid, Tickets, new_visitor_id

bp = Blueprint("web", __name__)
logger = logging.getLogger(__name__)

MESSAGES = {
    AWAITING_UPLOAD: "Waiting for your file to arrive.",
    UPLOADED: "Your file has arrived. Converting starts in a moment.",
    PROCESSING: "Converting your image…",
    DONE: "Done. Your images are ready.",
    STALLED: "Converting this image was interrupted. It is tried again automatically; if "
             "nothing changes within a few minutes, upload it again.",
    EXPIRED: "This upload form expired before a file arrived. Upload the image again.",
}
TERMINAL = {DONE, FAILED, EXPIRED}
# Files one request may ask upload forms for (the page's script asks once for a batch).
MAX_FILES = 10
HISTORY_PAGE_SIZE = 12


class JobMissing(TicketInvalid):
    """The ticket is genuine, but its job was deleted or has expired."""

    status = 404
    title = "Upload not found"
    message = "This upload no longer exists. It may have been deleted, or it expired."


def services() -> Services:
    """Return this app's AWS services, built on first use (clients only, no data)."""
    if "thumbs.services" not in current_app.extensions:
        current_app.extensions["thumbs.services"] = build_services(current_app.config)
    return current_app.extensions["thumbs.services"]


def tickets() -> Tickets:
    config = current_app.config
    return Tickets(config["SECRET_KEY"], config["SECRET_KEY_FALLBACKS"],
                   config["TICKET_MAX_AGE_SECONDS"])


def visitor_id() -> str:
    """Return the visitor id from the signed session cookie, creating one if needed."""
    if "visitor" not in session:
        session["visitor"] = new_visitor_id()
        session.permanent = True
    return session["visitor"]


def job_for(ticket: str) -> Job:
    """Return the job a ticket names, if the ticket is genuine and this visitor's."""
    g.job_id = tickets().job_id(ticket, session.get("visitor"))
    job = services().jobs.get(g.job_id)
    if job is None:
        raise JobMissing()
    return job


def present(job: Job, ticket: str) -> dict:
    """Return what a person sees of a job: status, message, and links to its renditions."""
    max_attempts = current_app.config["MAX_ATTEMPTS"]
    status = job.shown_status(max_attempts=max_attempts)
    code, message = job.failure(max_attempts) if status == FAILED else (None, MESSAGES[status])
    renditions = []
    if status == DONE:
        storage = services().storage
        for item in job.renditions:
            extension = item["key"].rsplit(".", 1)[-1]
            renditions.append({
                "name": item["name"], "width": item["width"], "height": item["height"],
                "content_type": item["content_type"], "size": item.get("size"),
                "url": storage.presigned_get(item["key"]),
                "download_url": storage.presigned_get(
                    item["key"], download_name(job.filename, item["name"], extension)),
            })
    return {
        "status": status, "message": message, "finished": status in TERMINAL,
        "error_code": code,
        "filename": display_name(job.filename) if job.filename else None,
        "renditions": renditions,
        "status_url": url_for("web.status", ticket=ticket),
        "delete_url": url_for("web.delete", ticket=ticket),
    }


def new_upload(visitor: str) -> dict:
    """Create a job and return its ticket, its URLs and a presigned POST for a script."""
    job = services().jobs.create(visitor, current_app.config["UPLOAD_EXPIRES_SECONDS"])
    ticket = tickets().issue(job.job_id, visitor)
    return {
        "job_id": job.job_id, "ticket": ticket,
        "job_url": url_for("web.job", ticket=ticket),
        "uploaded_url": url_for("web.uploaded", ticket=ticket),
        "status_url": url_for("web.status", ticket=ticket),
        # A script reads S3's answer itself, so S3 answers 201 rather than redirecting.
        "upload": services().storage.presigned_post(job.job_id, status=201),
    }


def summarize(job: Job, ticket: str) -> dict:
    """Return a line of the history: name, status, a thumbnail when done, links."""
    status = job.shown_status(max_attempts=current_app.config["MAX_ATTEMPTS"])
    thumb = next(iter(job.renditions), None) if status == DONE else None
    return {
        "filename": display_name(job.filename), "status": status,
        "status_label": status.replace("_", " ").capitalize(),
        "created_at": job.created_at,
        "thumb_url": services().storage.presigned_get(thumb["key"]) if thumb else None,
        "job_url": url_for("web.job", ticket=ticket),
        "delete_url": url_for("web.delete", ticket=ticket),
    }


@bp.get("/")
def upload():
    first = new_upload(visitor_id())
    form = services().storage.presigned_post(
        first.pop("job_id"),
        redirect=url_for("web.uploaded", ticket=first["ticket"], _external=True))
    return render_template("upload.html", post=form, first=first, max_files=MAX_FILES,
                           max_upload_mb=current_app.config["MAX_UPLOAD_MB"])


@bp.post("/jobs")
def create_jobs():
    """Hand a script upload forms for more files: one job each (CSRF-protected JSON)."""
    count = (request.get_json(silent=True) or {}).get("count", 1)
    if not isinstance(count, int) or not 1 <= count <= MAX_FILES:
        abort(400, f"Ask for between 1 and {MAX_FILES} uploads at a time.")
    visitor = visitor_id()
    uploads = [new_upload(visitor) for _ in range(count)]
    for item in uploads:
        del item["job_id"]
    return jsonify(uploads=uploads), 201


@bp.get("/jobs")
def history():
    visitor = session.get("visitor")
    cursors = Cursors(current_app.config["SECRET_KEY"], current_app.config["SECRET_KEY_FALLBACKS"])
    jobs, after = [], None
    if visitor:
        start = cursors.read(request.args.get("after"))
        jobs, after = services().jobs.for_visitor(visitor, HISTORY_PAGE_SIZE, start)
    items = [summarize(job, tickets().issue(job.job_id, visitor)) for job in jobs]
    return render_template("history.html", items=items, after=cursors.make(after),
                           first_page="after" not in request.args)


@bp.post("/jobs/<ticket>/delete")
def delete(ticket: str):
    job = job_for(ticket)
    services().storage.delete_job(job.job_id)
    services().jobs.delete(job.job_id)
    flash(f"Deleted {display_name(job.filename)} and its images.")
    return redirect(url_for("web.history"), 303)


@bp.get("/jobs/<ticket>/uploaded")
def uploaded(ticket: str):
    job = job_for(ticket)
    # The worker may already have claimed it; then there is nothing to record.
    services().jobs.mark_uploaded(job.job_id)
    return redirect(url_for("web.job", ticket=ticket), 303)


@bp.get("/jobs/<ticket>")
def job(ticket: str):
    record = job_for(ticket)
    view = present(record, ticket)
    return render_template("job.html", job=view, refresh=_refresh_seconds(record, view))


@bp.get("/jobs/<ticket>/status")
def status(ticket: str):
    return jsonify(present(job_for(ticket), ticket))


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok", stage=current_app.config["STAGE"])


@bp.before_app_request
def _start_clock():
    g.started = time.perf_counter()


@bp.after_app_request
def _log_request(response):
    if request.endpoint != "static":
        # The endpoint, not the path: a path holds a ticket, which is as good as a key.
        logs.event(logger, "request", endpoint=request.endpoint, method=request.method,
                   status=response.status_code, job_id=g.get("job_id"),
                   visitor=logs.visitor_hash(session.get("visitor")),
                   ms=round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000))
    return response


@bp.app_errorhandler(ClientError)
@bp.app_errorhandler(BotoCoreError)
def aws_unavailable(error):
    """AWS kept failing after botocore's retries: say so, and ask for a retry later."""
    logs.event(logger, "aws_unavailable", logging.ERROR, exc_info=error, job_id=g.get("job_id"),
               endpoint=request.endpoint)
    message = "Thumbs cannot reach its storage right now. Please try again in a minute."
    if request.endpoint == "web.status" or request.is_json:
        return jsonify(error="Unavailable", message=message), 503, {"Retry-After": "30"}
    return (render_template("error.html", status=503, title="Busy for a moment", message=message),
            503, {"Retry-After": "30"})


@bp.app_errorhandler(CSRFError)
def form_expired(error: CSRFError):
    """A form or script without a valid token: most often a page left open too long."""
    message = "This page has expired. Reload it and try again."
    if request.is_json or request.accept_mimetypes.best == "application/json":
        return jsonify(error="CSRFError", message=message, detail=error.description), 400
    return render_template("error.html", status=400, title="Page expired", message=message), 400


@bp.errorhandler(TicketInvalid)
def ticket_refused(error: TicketInvalid):
    if request.endpoint == "web.status":
        return jsonify(error=type(error).__name__, message=error.message), error.status
    return render_template("error.html", status=error.status, title=error.title,
                           message=error.message), error.status


def _refresh_seconds(job: Job, view: dict) -> int | None:
    """Without script the page reloads itself: often at first, then less (backoff by age)."""
    if view["finished"]:
        return None
    age = time.time() - (job.started_at or job.uploaded_at or job.created_at)
    return 1 if age < 10 else 3 if age < 60 else 5
