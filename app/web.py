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
from markupsafe import escape

from . import logs, starts
from .errors import BadRequest, JobGone, NotFound, ShareInvalid, TicketForeign
from .events import Upload
from .jobs import AWAITING_UPLOAD, DELETED, DONE, FAILED, LOOKS, Job
from .services import current_settings, get_services
from .storage import display_name, download_name, upload_prefix
from .tickets import Cursors, ShareLinks, Tickets, new_visitor_id, owner_tag

bp = Blueprint("web", __name__)
logger = logging.getLogger(__name__)

# Files one request may ask upload forms for (the page's script asks once for a batch).
MAX_FILES = 10
# The formats the upload page names: the engine's (a test keeps the two lists alike).
FORMATS = ("JPEG", "PNG", "GIF", "WebP", "HEIC", "AVIF", "BMP", "TIFF")
HISTORY_PAGE_SIZE = 12
# Links a shared page hands out live no longer than this, so Stop sharing takes effect on
# every image and download within it (the owner's page says so).
SHARING_STOPS_WITHIN = 60
# The browser sends a photo shrunk to this many times the largest rendition's side, at this
# JPEG quality: the renditions made from it match those made from the original (SSIM and
# sizes in docs/performance.md, measured by bench/shrink.py).
SHRINK_FACTOR = 2
SHRINK_QUALITY = 0.6
# How a rendition's name reads on a page; a name not here is shown capitalized.
RENDITION_WORDS = {"thumb": "Thumbnail", "preview": "Preview"}
LOSSLESS_SUFFIX = "-lossless"
# A waiting status request reads the job this often: soon at first, then sparingly.
# How often a long poll reads its job: (until this many seconds of waiting, read every). A
# read costs a strongly consistent unit, $0.125 a million; time spent waiting past the job's
# change is billed at the function's 2,304 MB, about $0.0000375 a second. Reading every d
# seconds over a wait of t costs t/d reads and overshoots by d/2 on average: the sum is least
# at d = sqrt(t x 0.0067), so the reads thin out as the wait grows.
_WAIT_READS = ((0.1, 0.025), (0.4, 0.05), (1.5, 0.1), (6.0, 0.2), (float("inf"), 0.5))


def tickets() -> Tickets:
    settings = current_settings()
    return Tickets(
        settings.secret_key, settings.secret_key_fallbacks, settings.ticket_max_age_seconds
    )


def visitor() -> str:
    """Return this visitor's owner tag, making the visitor (a signed cookie) if needed.

    The tag is made once, with the key of the day, and kept in the cookie: a key rotation
    then leaves every upload its owner.
    """
    if "owner" not in session:
        session.setdefault("visitor", new_visitor_id())
        session["owner"] = owner_tag(current_settings().secret_key, session["visitor"])
        session.permanent = True
    return session["owner"]


def job_for(ticket: str) -> Job:
    """Return the job a ticket names, if the ticket is genuine and this visitor's."""
    owner = session.get("owner")
    read = tickets().read(ticket, owner)
    g.job_id = read.job_id
    services = get_services()
    job = services.jobs.get(read.job_id)
    if job is None:
        # Not arrived, or its redirect and its event were both lost: the reconciler records
        # such an upload (a look in S3 here would cost a call at every request, by anyone
        # holding a ticket, and a ticket costs one page view).
        expires_at = read.issued_at + services.settings.upload_expires_seconds
        job = Job.awaiting(read.job_id, owner, expires_at)
    elif job.status == DELETED:
        raise JobGone()
    elif job.owner != owner:
        raise TicketForeign()
    return job


def share_links() -> ShareLinks:
    settings = current_settings()
    return ShareLinks(settings.secret_key, settings.secret_key_fallbacks)


def shown_status(job: Job) -> str:
    settings = current_settings()
    return job.shown_status(
        max_attempts=settings.max_attempts, delayed_after=settings.delayed_after_seconds
    )


def present(job: Job, ticket: str) -> dict:
    """Return what a person sees of a job: status, message, what to do, and its images."""
    settings = current_settings()
    status = shown_status(job)
    look = LOOKS[status]
    code, message = job.failure(settings.max_attempts) if status == FAILED else (None, look.message)
    retry = status == FAILED and job.retryable(settings.max_attempts)
    view = {
        "status": status,
        "step": look.step,
        "steps": look.steps(),
        "finished": look.finished,
        "tone": look.tone,
        "title": look.title,
        "trouble": look.trouble,
        "message": message,
        # What the images are not, that the person would expect them to be (an animation
        # shown still), and why.
        "note": job.note if status == DONE else None,
        "error_code": code,
        "filename": display_name(job.filename) if job.filename else None,
        "renditions": [],
        "downloads": [],
        "status_url": url_for("web.status", ticket=ticket),
        "delete_url": url_for("web.delete", ticket=ticket),
        "retry_url": url_for("web.retry", ticket=ticket) if retry else None,
        "links_expire_in": settings.link_expires_seconds,
        "share_url": None,
        "sharing_stops_within": shared_link_seconds(),
        "snippet": None,
        **_sizes(job),
    }
    if status == DONE:
        _add_images(view, job, lambda **args: url_for("web.rendition", ticket=ticket, **args))
        view["share_on_url"] = url_for("web.share", ticket=ticket)
        view["share_off_url"] = url_for("web.unshare", ticket=ticket)
        if job.share_id:
            token = share_links().make(job.job_id, job.share_id)
            view["share_url"] = url_for("web.shared", token=token, _external=True)
            view["snippet"] = _snippet(job, token)
    return view


def _sizes(job: Job) -> dict:
    """Return the size of the file chosen and of the file sent (less, when the browser shrank
    it), as far as the worker recorded them."""
    return {
        "original_size": job.original_size or job.upload_size,
        "upload_size": job.upload_size,
        "shrunk": bool(job.original_size and job.upload_size),
    }


def _lower_first(words: str) -> str:
    return words[:1].lower() + words[1:]


def rendition_words(name: str) -> str:
    """Return how a rendition is named on a page: "Preview (PNG, lossless)", not its key."""
    lossless = name.endswith(LOSSLESS_SUFFIX)
    base = name.removesuffix(LOSSLESS_SUFFIX) if lossless else name
    words = RENDITION_WORDS.get(base, base.replace("-", " ").capitalize())
    return f"{words} (PNG, lossless)" if lossless else words


def shared_link_seconds() -> int:
    """Return how long a link a shared page hands out lives: no longer than sharing may
    outlast Stop sharing."""
    return min(current_settings().link_expires_seconds, SHARING_STOPS_WITHIN)


def _add_images(view: dict, job: Job, link, expires: int | None = None) -> None:
    """Add a done job's renditions to `view`: `link(name=..., download=...)` makes a link to
    one; the images' own links live `expires` seconds (by default, the usual life)."""
    storage = get_services().storage
    for item in job.renditions:
        name = item["name"]
        shown = {
            "name": name,
            "label": rendition_words(name),
            "download_words": "Download " + _lower_first(rendition_words(name)),
            "width": item["width"],
            "height": item["height"],
            "content_type": item["content_type"],
            "size": item.get("size"),
            # A link that never goes stale (the site presigns it afresh at each visit)...
            "url": link(name=name),
            "download_url": link(name=name, download=1),
            # The name that link downloads as, for a page's script that saves the image it
            # shows instead of following the link.
            "download_name": _download_name(job, item),
        }
        view["downloads"].append(shown)
        if item.get("shown", True):
            # ...and one for the page to load at once, which the page renews if it must.
            src = storage.presigned_get(item["key"], expires=expires)
            view["renditions"].append({**shown, "src": src})


def _download_name(job: Job, item: dict) -> str:
    """Return the name one of a job's renditions downloads as: `holiday-thumb.jpg`."""
    return download_name(job.filename, item["name"], item["key"].rsplit(".", 1)[-1])


def _snippet(job: Job, token: str) -> str | None:
    """Return the HTML of the largest shown rendition through the job's share link: `<img>`
    with its size, so a page that shows it does not jump as it loads."""
    shown = [item for item in job.renditions if item.get("shown", True)]
    if not shown:
        return None
    item = max(shown, key=lambda r: r["width"] * r["height"])
    src = url_for("web.shared_file", token=token, name=item["name"], _external=True)
    alt = download_name(job.filename, item["name"], "x").rsplit("-", 1)[0]
    return (
        f'<img src="{escape(src)}" width="{item["width"]}" height="{item["height"]}" '
        f'alt="{escape(alt)}">'
    )


def new_upload(owner: str) -> dict:
    """Return a new job's ticket, its URLs and a presigned POST for a script: nothing stored."""
    job_id = new_visitor_id()  # as unguessable as a visitor: a job id names an S3 prefix
    ticket = tickets().issue(job_id, owner)
    return {
        "job_id": job_id,
        "ticket": ticket,
        "job_url": url_for("web.job", ticket=ticket),
        "uploaded_url": url_for("web.uploaded", ticket=ticket),
        "status_url": url_for("web.status", ticket=ticket),
        # A script reads S3's answer itself, so S3 answers 201 rather than redirecting.
        "upload": get_services().storage.presigned_post(job_id, owner, status=201),
    }


def summarize(job: Job, ticket: str) -> dict:
    """Return a line of the history: name, status, a thumbnail when done, links."""
    status = shown_status(job)
    thumb = next(iter(job.renditions), None) if status == DONE else None
    return {
        "filename": display_name(job.filename),
        "status": status,
        "status_label": LOOKS[status].title,
        "created_at": job.created_at,
        "thumb_url": get_services().storage.presigned_get(thumb["key"]) if thumb else None,
        "thumb_name": thumb["name"] if thumb else None,
        "job_url": url_for("web.job", ticket=ticket),
        "status_url": url_for("web.status", ticket=ticket),
        "delete_url": url_for("web.delete", ticket=ticket),
    }


@bp.get("/")
def upload():
    owner = visitor()
    first = new_upload(owner)
    form = get_services().storage.presigned_post(
        first.pop("job_id"),
        owner,
        redirect=url_for("web.uploaded", ticket=first["ticket"], _external=True),
    )
    settings = current_settings()
    return render_template(
        "upload.html",
        post=form,
        first=first,
        max_files=MAX_FILES,
        formats=", ".join(FORMATS[:-1]) + " or " + FORMATS[-1],
        max_upload_mb=settings.max_upload_mb,
        shrink=_shrink_settings(settings),
        form_seconds=settings.upload_expires_seconds,
    )


def _shrink_settings(settings) -> dict:
    """Return what the page's script needs to shrink a photo to what the renditions need."""
    return {
        "sides": " ".join(str(side) for _, side in settings.rendition_specs),
        "factor": SHRINK_FACTOR,
        "quality": SHRINK_QUALITY,
        "max_pixels": settings.max_pixels,
    }


@bp.post("/jobs")
def create_jobs():
    """Hand a script upload forms for more files, one each (CSRF-protected JSON)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest('Send a JSON object, such as {"count": 2}.')
    count = body.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_FILES:
        raise BadRequest(f"Ask for between 1 and {MAX_FILES} uploads at a time.")
    owner = visitor()
    uploads = [new_upload(owner) for _ in range(count)]
    for item in uploads:
        del item["job_id"]
    return jsonify(uploads=uploads), 201


@bp.get("/jobs")
def history():
    settings = current_settings()
    owner = session.get("owner")
    cursors = Cursors(settings.secret_key, settings.secret_key_fallbacks)
    jobs, after = [], None
    if owner:
        start = cursors.read(request.args.get("after"))
        jobs, after = get_services().jobs.for_owner(owner, HISTORY_PAGE_SIZE, start)
    items = [summarize(job, tickets().issue(job.job_id, owner)) for job in jobs]
    return render_template(
        "history.html",
        items=items,
        after=cursors.make(after),
        first_page="after" not in request.args,
    )


@bp.post("/jobs/<ticket>/delete")
def delete(ticket: str):
    job = job_for(ticket)
    services = get_services()
    # The tombstone first: a late event or redirect then finds the job gone, not new.
    services.jobs.delete(job.job_id, job.owner)
    services.storage.delete_job(job.job_id)
    flash(f"Deleted {display_name(job.filename)} and its images.")
    return redirect(url_for("web.history"), 303)


@bp.get("/jobs/<ticket>/uploaded")
def uploaded(ticket: str):
    """S3's redirect after an upload: record the job, unless its worker did already.

    S3 names what it stored (bucket, key, etag): one HEAD of that key, only under the
    ticket's own prefix, and no read of the job (the write is conditional, and the job's page
    reads it next). A repeated request costs that one HEAD, or, once the file is there, a
    write that its condition refuses.
    """
    read = tickets().read(ticket, session.get("owner"))
    g.job_id = read.job_id
    services = get_services()
    key = request.args.get("key", "")
    mine = key.startswith(upload_prefix(read.job_id, session["owner"]))
    if request.args.get("bucket") == services.storage.uploads_bucket and mine:
        found = services.storage.stored_upload(key, request.args.get("etag"))
        if found is not None:
            services.jobs.record_upload(read.job_id, found.key.owner, key, found.key.filename)
    return redirect(url_for("web.job", ticket=ticket), 303)


@bp.get("/jobs/<ticket>")
def job(ticket: str):
    record = job_for(ticket)
    view = present(record, ticket)
    return render_template("job.html", job=view, refresh=_refresh_seconds(record, view))


@bp.get("/jobs/<ticket>/status")
def status(ticket: str):
    """The job as JSON; with `since` (the status a page shows) and `wait` (seconds), answer
    once the job has moved on from it, or when the wait ends: a long poll."""
    record = job_for(ticket)
    if starts.start_if_unclaimed(get_services(), record):
        record = job_for(ticket)
    since = request.args.get("since")
    try:
        wait = min(float(request.args.get("wait", 0)), current_settings().status_wait_seconds)
    except ValueError:
        raise BadRequest("Give wait in seconds, such as wait=20.") from None
    # Only a job under way is waited on: one held up changes in minutes, not seconds, and a
    # waiting request is billed for every second it waits. Nor one whose file has not arrived:
    # a ticket for it costs one page view, so waits on those would let anyone keep instances
    # busy by the thousand (docs/deploy.md, "Cap what a flood can cost").
    stored = record.status != AWAITING_UPLOAD
    if since in LOOKS and wait > 0 and stored and LOOKS[shown_status(record)].tone == "progress":
        record = _wait_for_news(ticket, record, LOOKS[since], wait)
    view = present(record, ticket)
    # What a fresh page would show below the state, for a page that updates in place.
    view["html"] = render_template("_job_end.html", job=view)
    return jsonify(view)


def _wait_for_news(ticket: str, record: Job, since, wait: float) -> Job:
    """Read the job until it has moved on from `since`, for at most `wait` seconds."""
    started = time.monotonic()
    while not LOOKS[shown_status(record)].moved_on(since):
        elapsed = time.monotonic() - started
        if elapsed >= wait:
            break
        pause = next(every for until, every in _WAIT_READS if elapsed < until)
        time.sleep(min(pause, wait - elapsed))
        record = job_for(ticket)  # deleted meanwhile: 404, as any later request would get
        if starts.start_if_unclaimed(get_services(), record):
            record = job_for(ticket)
    return record


@bp.post("/jobs/<ticket>/share")
def share(ticket: str):
    """Make a read-only link to a done job's images (CSRF-protected); a new one each time."""
    job = job_for(ticket)
    if shown_status(job) != DONE:
        raise BadRequest("Only a finished upload's images can be shared.")
    if get_services().jobs.share(job.job_id, job.owner, ShareLinks.new_id()) is None:
        raise JobGone()
    flash("Anyone with this link can now see and download these images.")
    return redirect(url_for("web.job", ticket=ticket, _anchor="share"), 303)


@bp.post("/jobs/<ticket>/unshare")
def unshare(ticket: str):
    """Turn a job's share link off (CSRF-protected): the link then finds nothing."""
    job = job_for(ticket)
    if get_services().jobs.share(job.job_id, job.owner, None) is None:
        raise JobGone()
    flash("The shared link is off: it no longer shows these images.")
    return redirect(url_for("web.job", ticket=ticket, _anchor="share"), 303)


def shared_job(token: str) -> Job:
    """Return the done job a share link names, if sharing is on with this very link."""
    link = share_links().read(token)
    g.job_id = link.job_id
    job = get_services().jobs.get(link.job_id)
    if job is None or not ShareLinks.matches(link, job.share_id) or shown_status(job) != DONE:
        raise ShareInvalid()
    return job


@bp.get("/shared/<token>")
def shared(token: str):
    """The images of a shared job, read-only: no delete, no retry, no history."""
    job = shared_job(token)
    view = {"filename": display_name(job.filename), "renditions": [], "downloads": []}
    _add_images(
        view,
        job,
        lambda **args: url_for("web.shared_file", token=token, **args),
        shared_link_seconds(),
    )
    return render_template("shared.html", job=view)


@bp.get("/shared/<token>/files/<name>")
def shared_file(token: str, name: str):
    """Redirect to one of a shared job's renditions by a freshly signed, short-lived link."""
    return _redirect_to_rendition(shared_job(token), name, shared_link_seconds())


@bp.post("/jobs/<ticket>/retry")
def retry(ticket: str):
    """Try again: convert the same upload once more (CSRF-protected; two clicks, one retry)."""
    job = job_for(ticket)
    services = get_services()
    settings = services.settings
    if not job.retryable(settings.max_attempts):
        raise BadRequest("This upload cannot be tried again. Upload the image again instead.")
    retried = services.jobs.retry(job, settings.max_attempts)
    if retried is not None:
        services.conversions.start(
            Upload(services.storage.uploads_bucket, retried.source_key, 0, started_by="retry")
        )
    return redirect(url_for("web.job", ticket=ticket), 303)


@bp.get("/jobs/<ticket>/files/<name>")
def rendition(ticket: str, name: str):
    """Redirect to a rendition by a link freshly signed: a page's links never go stale."""
    return _redirect_to_rendition(job_for(ticket), name)


def _redirect_to_rendition(job: Job, name: str, expires: int | None = None):
    item = next((r for r in job.renditions if r["name"] == name), None)
    if job.status != DONE or item is None:
        raise NotFound("This image does not exist, or is not ready yet.")
    expires = expires or current_settings().link_expires_seconds
    attachment = _download_name(job, item) if request.args.get("download") else None
    link = get_services().storage.presigned_get(item["key"], attachment, expires)
    response = redirect(link, 302)
    # A browser may reuse the redirect while the link it points to is good.
    response.headers["Cache-Control"] = f"private, max-age={expires // 2}"
    return response


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok", stage=current_settings().stage)


@bp.before_app_request
def _start_clock():
    g.started = time.perf_counter()
    # Zappa's handler passes Lambda's context in the WSGI environment (none locally).
    logs.invocation(request.environ.get("lambda.context"))


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
            visitor=session.get("owner"),
            ms=round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000),
        )
    return response


def _refresh_seconds(job: Job, view: dict) -> int | None:
    """Without script the page reloads itself: often at first, then less (backoff by age)."""
    if view["finished"]:
        return None
    age = time.time() - (job.started_at or job.uploaded_at or job.created_at)
    return 1 if age < 10 else 3 if age < 60 else 5
