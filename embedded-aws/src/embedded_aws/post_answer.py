"""S3's answer to a browser upload it stored, where moto's says less.

PostObject's page: with `success_action_redirect`, S3 "appends the bucket, key, and etag
values as query parameters" to the redirect; with `success_action_status` 201 it "returns an
XML document" (`PostResponse`: Location, Bucket, Key, ETag); with 204 (the default) an empty
body. Each answer carries the object's `ETag` and `Location` headers. moto sends neither the
etag nor the document, so a page's script or a redirect's route that relies on them, as on
S3, would fail only in AWS: this puts them in.
"""

from __future__ import annotations

import hashlib
from urllib.parse import quote, urlencode, urlsplit, urlunsplit
from xml.sax.saxutils import escape

from werkzeug.wrappers import Request, Response

from .post_form import PostForm


def answer(app, environ, start_response, form: PostForm):
    """Run moto's PostObject, and answer as S3 does for the form it stored."""
    request = Request(environ)
    bucket = request.path.strip("/").split("/")[0]
    response = Response.from_app(app, environ)
    if response.status_code not in (201, 204, 303):
        return response(environ, start_response)
    key = form.fields["key"]
    etag = f'"{hashlib.md5(form.file or b"").hexdigest()}"'
    location = f"{request.host_url}{bucket}/{quote(key)}"
    response.headers["ETag"] = etag
    response.headers["Location"] = location
    if response.status_code == 303:
        response.headers["Location"] = _with_params(
            form.fields["success_action_redirect"], bucket=bucket, key=key, etag=etag
        )
    elif response.status_code == 201:
        response.set_data(
            '<?xml version="1.0" encoding="UTF-8"?>\n<PostResponse>'
            f"<Location>{escape(location)}</Location><Bucket>{escape(bucket)}</Bucket>"
            f"<Key>{escape(key)}</Key><ETag>{escape(etag)}</ETag></PostResponse>"
        )
        response.content_type = "application/xml"
    return response(environ, start_response)


def _with_params(url: str, **params: str) -> str:
    """Return `url` with `params` appended to its query, as S3 appends them."""
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(params)]))
    return urlunsplit(parts._replace(query=query))
