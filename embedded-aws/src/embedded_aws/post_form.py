"""A browser's upload form, read as S3 reads it, and written again for moto.

AWS's "PostObject" and "Creating an HTML Form (Using AWS Signature Version 4)" pages: field
names are case-insensitive; "the file or content must be the last field in the form", and
whatever follows it is ignored; `${filename}` is replaced "with the name of the file provided
by the user" in every field, "only the text following the last slash (/) or backslash (\\)";
"the form data and boundaries (excluding the contents of the file) cannot exceed 20KB".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from .refusal import S3Refusal

# S3 counts 20 KB as 20,480 bytes: its refusal names MaxPostPreDataLengthBytes 20480.
MAX_PRE_DATA_BYTES = 20480
FILENAME = "${filename}"
# How moto reads the fields it acts on (it matches them by exact name).
_MOTO_NAMES = {
    "content-type": "Content-Type",
    "cache-control": "Cache-Control",
    "content-disposition": "Content-Disposition",
    "content-encoding": "Content-Encoding",
    "expires": "Expires",
}


@dataclass
class PostForm:
    """A browser's upload as S3 reads it: the fields before the file (names lower-cased,
    repeated ones joined with commas), and the file; everything after the file is ignored.

    `filename` is None when the file's part names no filename (a script may send the file as
    a plain field): S3 then leaves `${filename}` as it is.
    """

    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    file: bytes | None = None
    file_type: str = "application/octet-stream"

    def expand_filename(self) -> None:
        """Put the file's base name wherever a field says `${filename}`."""
        if self.filename is None:
            return
        base = re.split(r"[/\\]", self.filename)[-1]
        self.fields = {name: v.replace(FILENAME, base) for name, v in self.fields.items()}

    def encode(self) -> tuple[bytes, str]:
        """Return the multipart body and content type of exactly this form, for moto."""
        from urllib3 import encode_multipart_formdata

        parts: list = [(_MOTO_NAMES.get(name, name), value) for name, value in self.fields.items()]
        # moto puts the file part's name in place of ${filename} in the key, once more: name
        # the part ${filename} itself, so that what the gate judged is what moto stores.
        parts.append(("file", (FILENAME, self.file or b"", self.file_type)))
        return encode_multipart_formdata(parts)


def parse_form(body: bytes, boundary: str) -> PostForm:
    """Read a form as S3 does; raise S3Refusal for a body S3 would not read."""
    if not boundary:
        raise _malformed()
    decoder = MultipartDecoder(boundary.encode())
    decoder.receive_data(body)
    decoder.receive_data(None)
    form, values = PostForm(), {}
    current, chunks = None, []
    while form.file is None:
        event = _next(decoder)
        if isinstance(event, NeedData | Epilogue):
            break
        if isinstance(event, Field | File):
            if len(body) - len(decoder.buffer) > MAX_PRE_DATA_BYTES:
                raise S3Refusal(
                    400,
                    "MaxPostPreDataLengthExceeded",
                    "Your POST request fields preceeding the upload file was too large.",
                    MaxPostPreDataLengthBytes=str(MAX_PRE_DATA_BYTES),
                )
            current, chunks = event.name.lower(), []
            if current == "file":
                form.filename = _filename(event.headers.get("Content-Disposition", ""))
                form.file_type = event.headers.get("Content-Type", form.file_type)
        elif isinstance(event, Data):
            chunks.append(event.data)
            if not event.more_data:
                data = b"".join(chunks)
                if current == "file":
                    form.file = data
                else:
                    values.setdefault(current, []).append(data.decode("utf-8", "replace"))
    form.fields = {name: ",".join(parts) for name, parts in values.items()}
    return form


def _filename(disposition: str) -> str | None:
    """Return the part's filename as the browser wrote it, or None if it names none.

    Browsers write it between quotes, with no backslash escapes (WHATWG HTML, "multipart/
    form-data encoding algorithm": a quote is sent as %22), and S3 reads a backslash as a
    Windows path's separator: so no quoted-pair is undone here, as werkzeug's parser would.
    """
    found = re.search(r'(?:^|;)\s*filename\s*=\s*(?:"([^"]*)"|([^;]*))', disposition, re.I)
    if found is None:
        return None
    return found[1] if found[1] is not None else found[2].strip()


def _next(decoder: MultipartDecoder):
    try:
        return decoder.next_event()
    except ValueError as error:  # werkzeug's word for a malformed body
        raise _malformed() from error


def _malformed() -> S3Refusal:
    return S3Refusal(
        400,
        "MalformedPOSTRequest",
        "The body of your POST request is not well-formed multipart/form-data.",
    )
