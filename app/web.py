"""The blueprint: thin views over tickets, jobs and storage."""

from __future__ import annotations

import logging
import time

from flask import (
    Blueprint,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from . import logs
from .errors import BadRequest, JobGone
from .jobs import DONE, FAILED, LOOKS, STEPS, Job
from .services import current_settings, get_services
from .storage import display_name, download_name
from .tickets import Cursors, Tickets, new_visitor_id

bp = Blueprint("web", __name__)
logger = logging.getLogger(__name__)

# Files one request may ask upload forms for (the page's script asks once for a batch).
MAX_FILES = 10
HISTORY_PAGE_SIZE = 12


def tickets() -> Tickets:
    settings = current_settings()
    return Tickets(
        settings.secret_key, settings.secret_key_fallbacks, settings.ticket_max_age_seconds
    )


def visitor_id() -> str:
    """Return the visitor id from the signed session cookie, creating one if needed."""
    if "visitor" not in session:
        session["visitor"] = new_visitor_id()
        session.permanent = True
    return session["visitor"]


def job_for(ticket: str) -> Job:
    """Return the job a ticket names, if the ticket is genuine and this visitor's."""
    g.job_id = tickets().job_id(ticket, session.get("visitor"))
    job = get_services().jobs.get(g.job_id)
    if job is None:
        raise JobGone()
    return job


def present(job: Job, ticket: str) -> dict:
    """Return what a person sees of a job: status, message, and links to its renditions."""
    max_attempts = current_settings().max_attempts
    status = job.shown_status(max_attempts=max_attempts)
    look = LOOKS[status]
    code, message = job.failure(max_attempts) if status == FAILED else (None, look.message)
    renditions = []
    if status == DONE:
        storage = get_services().storage
        for item in job.renditions:
            extension = item["key"].rsplit(".", 1)[-1]
            renditions.append(
                {
                    "name": item["name"],
                    "width": item["width"],
                    "height": item["height"],
                    "content_type": item["content_type"],
                    "size": item.get("size"),
                    "url": storage.presigned_get(item["key"]),
                    "download_url": storage.presigned_get(
                        item["key"], download_name(job.filename, item["name"], extension)
                    ),
                }
            )
    return {
        "status": status,
        "step": look.step,
        "finished": look.finished,
        "tone": look.tone,
        "trouble": look.trouble,
        "message": message,
        "error_code": code,
        "filename": display_name(job.filename) if job.filename else None,
        "renditions": renditions,
        "status_url": url_for("web.status", ticket=ticket),
        "delete_url": url_for("web.delete", ticket=ticket),
    }


def new_upload(visitor: str) -> dict:
    """Create a job and return its ticket, its URLs and a presigned POST for a script."""
    services = get_services()
    job = services.jobs.create(visitor, services.settings.upload_expires_seconds)
    ticket = tickets().issue(job.job_id, visitor)
    return {
        "job_id": job.job_id,
        "ticket": ticket,
        "job_url": url_for("web.job", ticket=ticket),
        "uploaded_url": url_for("web.uploaded", ticket=ticket),
        "status_url": url_for("web.status", ticket=ticket),
        # A script reads S3's answer itself, so S3 answers 201 rather than redirecting.
        "upload": services.storage.presigned_post(job.job_id, status=201),
    }


def summarize(job: Job, ticket: str) -> dict:
    """Return a line of the history: name, status, a thumbnail when done, links."""
    status = job.shown_status(max_attempts=current_settings().max_attempts)
    thumb = next(iter(job.renditions), None) if status == DONE else None
    return {
        "filename": display_name(job.filename),
        "status": status,
        "status_label": status.replace("_", " ").capitalize(),
        "created_at": job.created_at,
        "thumb_url": get_services().storage.presigned_get(thumb["key"]) if thumb else None,
        "job_url": url_for("web.job", ticket=ticket),
        "delete_url": url_for("web.delete", ticket=ticket),
    }


@bp.get("/")
def upload():
    first = new_upload(visitor_id())
    form = get_services().storage.presigned_post(
        first.pop("job_id"),
        redirect=url_for("web.uploaded", ticket=first["ticket"], _external=True),
    )
    return render_template(
        "upload.html",
        post=form,
        first=first,
        max_files=MAX_FILES,
        max_upload_mb=current_settings().max_upload_mb,
    )


@bp.post("/jobs")
def create_jobs():
    """Hand a script upload forms for more files: one job each (CSRF-protected JSON)."""
    count = (request.get_json(silent=True) or {}).get("count", 1)
    if not isinstance(count, int) or not 1 <= count <= MAX_FILES:
        raise BadRequest(f"Ask for between 1 and {MAX_FILES} uploads at a time.")
    visitor = visitor_id()
    uploads = [new_upload(visitor) for _ in range(count)]
    for item in uploads:
        del item["job_id"]
    return jsonify(uploads=uploads), 201


@bp.get("/jobs")
def history():
    settings = current_settings()
    visitor = session.get("visitor")
    cursors = Cursors(settings.secret_key, settings.secret_key_fallbacks)
    jobs, after = [], None
    if visitor:
        start = cursors.read(request.args.get("after"))
        jobs, after = get_services().jobs.for_visitor(visitor, HISTORY_PAGE_SIZE, start)
    items = [summarize(job, tickets().issue(job.job_id, visitor)) for job in jobs]
    return render_template(
        "history.html",
        items=items,
        after=cursors.make(after),
        first_page="after" not in request.args,
    )


@bp.post("/jobs/<ticket>/delete")
def delete(ticket: str):
    job = job_for(ticket)
    get_services().storage.delete_job(job.job_id)
    get_services().jobs.delete(job.job_id)
    flash(f"Deleted {display_name(job.filename)} and its images.")
    return redirect(url_for("web.history"), 303)


@bp.get("/jobs/<ticket>/uploaded")
def uploaded(ticket: str):
    job = job_for(ticket)
    # The worker may already have claimed it; then there is nothing to record.
    get_services().jobs.mark_uploaded(job.job_id)
    return redirect(url_for("web.job", ticket=ticket), 303)


@bp.get("/jobs/<ticket>")
def job(ticket: str):
    record = job_for(ticket)
    view = present(record, ticket)
    return render_template(
        "job.html", job=view, steps=STEPS, refresh=_refresh_seconds(record, view)
    )


@bp.get("/jobs/<ticket>/status")
def status(ticket: str):
    return jsonify(present(job_for(ticket), ticket))


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok", stage=current_settings().stage)


@bp.before_app_request
def _start_clock():
    g.started = time.perf_counter()


@bp.after_app_request
def _log_request(response):
    if request.endpoint != "static":
        # The endpoint, not the path: a path holds a ticket, which is as good as a key.
        logs.event(
            logger,
            "request",
            endpoint=request.endpoint,
            method=request.method,
            status=response.status_code,
            job_id=g.get("job_id"),
            visitor=logs.visitor_hash(session.get("visitor")),
            ms=round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000),
        )
    return response


def _refresh_seconds(job: Job, view: dict) -> int | None:
    """Without script the page reloads itself: often at first, then less (backoff by age)."""
    if view["finished"]:
        return None
    age = time.time() - (job.started_at or job.uploaded_at or job.created_at)
    return 1 if age < 10 else 3 if age < 60 else 5
