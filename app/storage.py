"""S3: presigned POST and GET, read a source, write renditions, delete a job's objects."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from email.utils import parsedate_to_datetime
from pathlib import PurePosixPath
from urllib.parse import quote, urlsplit

from botocore.exceptions import ClientError

UPLOADS_PREFIX = "uploads/"
RESULTS_PREFIX = "results/"
# The uploads bucket's lifecycle rule deletes an upload this many days after it arrives.
UPLOADS_KEPT_DAYS = 1
# GetObject's Expiration header: expiry-date="Fri, 23 Dec 2012 00:00:00 GMT", rule-id="..."
_EXPIRY_DATE = re.compile(r'expiry-date="([^"]+)"')
# What a browser without script sends; S3 stores it, nothing trusts it (the worker
# reads the real type from the bytes).
DEFAULT_UPLOAD_TYPE = "image/unknown"
# The size of the file a person chose, before their browser shrank it (x-amz-meta-*: S3 keeps
# it with the upload). Only ever shown to that person; read as digits, a dozen at most.
ORIGINAL_SIZE_FIELD = "x-amz-meta-original-size"
_ORIGINAL_SIZE = re.compile(r"[1-9]\d{0,11}")

# An ETag as S3 sends it: an MD5 in hex, with "-N" for a multipart upload, in quotes (a POST's
# redirect carries it so). Anything else could only be an edited redirect, and some of it
# (a line break) is not even a header value a HEAD may send.
ETAG = re.compile(r'"[0-9a-f]{32}(-[0-9]{1,5})?"')


@dataclass(frozen=True)
class UploadKey:
    """Where an upload lies: `uploads/<job id>/<owner tag>/<file name>`.

    The POST policy pins the prefix, so the key itself says, unforgeably, which job the file
    is for and whose it is: the worker needs no other record to start a conversion.
    """

    job_id: str
    owner: str
    filename: str

    @property
    def key(self) -> str:
        return f"{upload_prefix(self.job_id, self.owner)}{self.filename}"

    @classmethod
    def parse(cls, key: str) -> UploadKey | None:
        """Return the parts of a key under uploads/, or None for any other key."""
        if not key.startswith(UPLOADS_PREFIX):
            return None
        job_id, _, rest = key[len(UPLOADS_PREFIX) :].partition("/")
        owner, _, filename = rest.partition("/")
        if not (job_id and owner and filename):
            return None
        return cls(job_id, owner, filename)


@dataclass(frozen=True)
class StoredUpload:
    """An object under uploads/, as a listing shows it."""

    key: UploadKey
    size: int
    last_modified: float


@dataclass(frozen=True)
class Source:
    """An upload's bytes, until when S3 keeps it (a Unix time), and the size of the file it
    was shrunk from, if the browser shrank it."""

    data: bytes
    kept_until: float
    original_size: int | None = None


class SourceGone(Exception):
    """The upload is no longer in S3 (its lifecycle rule deleted it): nothing can convert it."""

    code = "upload_gone"
    message = "This upload is no longer kept: uploads are deleted after a day. Upload it again."


def kept_until(response: dict) -> float:
    """Return when S3 deletes an object, from a GetObject or HeadObject response.

    With a lifecycle rule, S3 says so in the Expiration header; without one (moto never sends
    it) the uploads' rule is applied as S3 documents it: the object's creation time plus the
    rule's days, rounded up to the next midnight UTC.
    """
    found = _EXPIRY_DATE.search(response.get("Expiration") or "")
    if found:
        return parsedate_to_datetime(found.group(1)).timestamp()
    due = response["LastModified"].astimezone(UTC) + timedelta(days=UPLOADS_KEPT_DAYS)
    midnight = datetime.combine(due.date(), time(), UTC)
    return (midnight + timedelta(days=1) if due > midnight else midnight).timestamp()


def original_size(response: dict, stored: int) -> int | None:
    """Return the size a browser says the chosen file had, from a GetObject response's
    metadata: None unless it is a plain number above what arrived (a claim, never trusted
    for anything but showing it to its own sender)."""
    said = response.get("Metadata", {}).get(ORIGINAL_SIZE_FIELD.removeprefix("x-amz-meta-"), "")
    if not _ORIGINAL_SIZE.fullmatch(said):
        return None
    return int(said) if int(said) > stored else None


def upload_prefix(job_id: str, owner: str | None = None) -> str:
    return f"{UPLOADS_PREFIX}{job_id}/" + (f"{owner}/" if owner else "")


def result_key(job_id: str, name: str, extension: str) -> str:
    return f"{RESULTS_PREFIX}{job_id}/{name}.{extension}"


def display_name(filename: str | None, limit: int = 120) -> str:
    """Return a filename fit to show: no control or bidi characters, not overly long.

    A browser sends any name it likes through ${filename}; escaping keeps HTML out, and
    this keeps out what escaping does not (a right-to-left override that turns
    "photo\u202egpj.exe" into "photoexe.jpg", line breaks, a thousand characters).
    """
    name = "".join(
        " "
        if unicodedata.category(c)[0] == "Z" or c in "\t\n\r"
        else ""
        if unicodedata.category(c)[0] == "C"
        else c
        for c in filename or ""
    )
    name = " ".join(name.split()) or "image"
    if len(name) > limit:
        name = name[: limit - 31] + "…" + name[-30:]
    return name


def download_name(filename: str | None, rendition: str, extension: str) -> str:
    """Return the name a rendition downloads as: `holiday.jpeg` gives `holiday-thumb.jpg`."""
    stem = PurePosixPath(display_name(filename).replace("\\", "/")).stem or "image"
    return f"{stem}-{rendition}.{extension}"


def content_disposition(filename: str) -> str:
    """Return an attachment header for `filename` that no browser misreads (RFC 6266)."""
    fallback = (
        "".join(c if c.isascii() and c.isprintable() and c not in '"\\/' else "_" for c in filename)
        or "download"
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class Storage:
    """The uploads and results buckets, through one boto3 S3 client."""

    def __init__(
        self,
        client,
        uploads_bucket: str,
        results_bucket: str,
        *,
        max_upload_bytes: int,
        upload_expires: int,
        link_expires: int,
        bucket_owner: Callable[[], str],
    ):
        self.client = client
        self.uploads_bucket = uploads_bucket
        self.results_bucket = results_bucket
        self._max_upload_bytes = max_upload_bytes
        self._upload_expires = upload_expires
        self._link_expires = link_expires
        self._bucket_owner = bucket_owner

    def _owned(self) -> dict:
        """Return the parameter that makes S3 refuse a call on a bucket another account owns."""
        return {"ExpectedBucketOwner": self._bucket_owner()}

    def presigned_post(
        self, job_id: str, owner: str, *, redirect: str | None = None, status: int | None = None
    ) -> dict:
        """Return the URL and fields of a browser upload into this job's and owner's prefix only.

        With `redirect`, S3 answers 303 to it (a plain form); with `status`, S3 answers
        with that status and no redirect (a script that reads the answer).
        """
        # The script sets the original's size; a plain form sends it empty.
        fields = {"Content-Type": DEFAULT_UPLOAD_TYPE, ORIGINAL_SIZE_FIELD: ""}
        conditions: list = [
            ["starts-with", "$Content-Type", "image/"],
            ["starts-with", f"${ORIGINAL_SIZE_FIELD}", ""],
            ["content-length-range", 1, self._max_upload_bytes],
        ]
        if redirect is not None:
            fields["success_action_redirect"] = redirect
            conditions.append({"success_action_redirect": redirect})
        if status is not None:
            fields["success_action_status"] = str(status)
            conditions.append({"success_action_status": str(status)})
        # A key ending in ${filename} makes boto3 add ["starts-with", "$key", prefix].
        return self.client.generate_presigned_post(
            Bucket=self.uploads_bucket,
            Key=upload_prefix(job_id, owner) + "${filename}",
            Fields=fields,
            Conditions=conditions,
            ExpiresIn=self._upload_expires,
        )

    def presigned_get(
        self, key: str, download_name: str | None = None, expires: int | None = None
    ) -> str:
        """Return a short-lived link to a result (`expires` seconds, or the usual life); with
        `download_name`, as an attachment.

        A browser keeps what the link answers for as long as the link lives, and never asks
        again meanwhile (`immutable`): a rendition's key is written only while its job
        converts, and links are handed out only once it is done, which it then stays. So a
        page's script saves an image the page has shown from the browser's cache. Never
        longer than the link (the object's own Cache-Control says a year): a cached copy
        would outlive the link, and Stop sharing.

        A browser cannot send ExpectedBucketOwner: the role's policy holds such a link to this
        account's buckets (aws:ResourceAccount), and so the POST forms too.
        """
        expires = expires or self._link_expires
        params = {
            "Bucket": self.results_bucket,
            "Key": key,
            "ResponseCacheControl": f"private, max-age={expires}, immutable",
        }
        if download_name:
            params["ResponseContentDisposition"] = content_disposition(download_name)
        return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires)

    def origins(self) -> set[str]:
        """Return the origins (scheme://host) a browser talks to for uploads and results."""
        urls = [self.presigned_post("probe", "probe")["url"], self.presigned_get("probe")]
        return {"{0.scheme}://{0.netloc}".format(urlsplit(url)) for url in urls}

    def stored_upload(self, key: str, etag: str | None = None) -> StoredUpload | None:
        """Return the upload at exactly `key` (with this `etag`, when given), if S3 holds it.

        One HEAD of the key S3's redirect names: never a LIST, which costs as much as a write.
        """
        parsed = UploadKey.parse(key)
        if parsed is None or (etag is not None and not ETAG.fullmatch(etag)):
            return None  # S3 names no such key or etag: an edited redirect, of nothing stored
        try:
            head = self.client.head_object(
                Bucket=self.uploads_bucket,
                Key=key,
                **({"IfMatch": etag} if etag else {}),
                **self._owned(),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] in ("404", "NoSuchKey", "412", "PreconditionFailed"):
                return None
            raise
        return StoredUpload(parsed, head["ContentLength"], head["LastModified"].timestamp())

    def uploads_page(self, after: str | None, limit: int) -> tuple[list[StoredUpload], str | None]:
        """Return at most `limit` uploads after the key `after`, and where the next page
        starts (None: the listing ended). The uploads of ended jobs are deleted, so the
        listing holds the work not yet done, not every upload kept."""
        listing = self.client.list_objects_v2(
            Bucket=self.uploads_bucket,
            Prefix=UPLOADS_PREFIX,
            MaxKeys=limit,
            **({"StartAfter": after} if after else {}),
            **self._owned(),
        )
        found = []
        for item in listing.get("Contents", []):
            key = UploadKey.parse(item["Key"])
            if key:
                found.append(StoredUpload(key, item["Size"], item["LastModified"].timestamp()))
        last = listing["Contents"][-1]["Key"] if listing.get("Contents") else None
        return found, last if listing.get("IsTruncated") else None

    def delete_upload(self, key: str) -> None:
        """Delete one upload (a DELETE is free): once its job has ended, nothing needs it."""
        self.client.delete_object(Bucket=self.uploads_bucket, Key=key, **self._owned())

    def read_source(self, key: str) -> Source:
        """Return an upload's bytes (never more than the upload limit allows) and until when
        S3 keeps it; raise SourceGone if S3 no longer has it."""
        try:
            response = self.client.get_object(Bucket=self.uploads_bucket, Key=key, **self._owned())
        except ClientError as error:
            if error.response["Error"]["Code"] == "NoSuchKey":
                raise SourceGone(key) from error
            raise
        with response["Body"] as body:
            data = body.read(self._max_upload_bytes + 1)
        return Source(data, kept_until(response), original_size(response, len(data)))

    def write_rendition(self, job_id: str, rendition) -> str:
        """Store a rendition under results/<job>/ and return its key."""
        key = result_key(job_id, rendition.name, rendition.extension)
        self.client.put_object(
            Bucket=self.results_bucket,
            Key=key,
            Body=rendition.data,
            ContentType=rendition.content_type,
            CacheControl="private, max-age=31536000, immutable",
            **self._owned(),
        )
        return key

    def delete_results(self, job_id: str) -> None:
        """Delete a job's renditions."""
        self._delete_prefix(self.results_bucket, f"{RESULTS_PREFIX}{job_id}/")

    def delete_job(self, job_id: str) -> None:
        """Delete every object of a job, upload and results."""
        self._delete_prefix(self.uploads_bucket, upload_prefix(job_id))
        self.delete_results(job_id)

    def _delete_prefix(self, bucket: str, prefix: str) -> None:
        listing = self.client.list_objects_v2(Bucket=bucket, Prefix=prefix, **self._owned())
        keys = [{"Key": item["Key"]} for item in listing.get("Contents", [])]
        if keys:
            self.client.delete_objects(
                Bucket=bucket, Delete={"Objects": keys, "Quiet": True}, **self._owned()
            )
