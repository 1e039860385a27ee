"""The values of an upload's fields that S3 checks once its policy is met, as PutObject
checks the headers they stand for ("PostObject": the fields are PutObject's headers).

Each refusal is S3's own (status, code, the elements it names); the tests cite where each
answer was recorded. moto checks none of these: a bad `acl` even crashes it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from urllib.parse import urlsplit
from xml.etree import ElementTree

from .buckets import BucketRules
from .refusal import S3Refusal

# PostObject, acl: "private | public-read | public-read-write | aws-exec-read |
# authenticated-read | bucket-owner-read | bucket-owner-full-control".
CANNED_ACLS = {
    "private",
    "public-read",
    "public-read-write",
    "aws-exec-read",
    "authenticated-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
}
# S3 User Guide, "Blocking public access": ACLs that grant AllUsers or AuthenticatedUsers.
PUBLIC_ACLS = {"public-read", "public-read-write", "authenticated-read"}
# PostObject, x-amz-storage-class, for a general purpose bucket.
STORAGE_CLASSES = {
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "GLACIER_IR",
    "DEEP_ARCHIVE",
}
# PostObject, x-amz-server-side-encryption.
ENCRYPTIONS = {"AES256", "aws:kms", "aws:kms:dsse"}
# PostObject, success_action_status: "If the value is not set or if it is set to an invalid
# value, Amazon S3 returns an empty document with a 204 status code."
STATUSES = {"200", "201", "204"}


# A field that takes one of a list of values, and how S3 refuses another.
_ENUMERATED = {
    "x-amz-storage-class": (
        STORAGE_CLASSES,
        lambda value: S3Refusal(
            400,
            "InvalidStorageClass",
            "The storage class you specified is not valid",
            StorageClassRequested=value,
        ),
    ),
    "x-amz-server-side-encryption": (
        ENCRYPTIONS,
        lambda value: S3Refusal(
            400,
            "InvalidArgument",
            "The encryption method specified is not supported",
            ArgumentName="x-amz-server-side-encryption",
            ArgumentValue=value,
        ),
    ),
}


def check_values(fields: dict[str, str], file: bytes, bucket: BucketRules) -> dict[str, str]:
    """Raise S3Refusal for a value S3 refuses; return the fields as S3 acts on them."""
    if "acl" in fields:
        _check_acl(fields["acl"], bucket)
    for name, (allowed, refusal) in _ENUMERATED.items():
        if name in fields and fields[name] not in allowed:
            raise refusal(fields[name])
    if "content-md5" in fields:
        _check_md5(fields["content-md5"], file)
    if "tagging" in fields:
        _check_tagging(fields["tagging"])
    return _answer(fields)


def _check_acl(acl: str, bucket: BucketRules) -> None:
    if acl not in CANNED_ACLS:
        # As S3 refuses an unknown canned ACL in x-amz-acl: no message, the argument named.
        raise S3Refusal(400, "InvalidArgument", "", ArgumentName="x-amz-acl", ArgumentValue=acl)
    if bucket.acls_disabled and acl != "bucket-owner-full-control":
        # S3 User Guide, "Troubleshooting" Object Ownership: with ACLs disabled, requests
        # that set an ACL other than bucket-owner-full-control fail with 400.
        raise S3Refusal(400, "AccessControlListNotSupported", "The bucket does not allow ACLs")
    if bucket.blocks_public_acls and acl in PUBLIC_ACLS:
        # S3 User Guide, "Blocking public access", BlockPublicAcls: "PUT Object calls fail if
        # the request includes a public ACL."
        raise S3Refusal(403, "AccessDenied", "Access Denied")


def _check_md5(given: str, file: bytes) -> None:
    """PostObject: with Content-MD5, "Amazon S3 checks the object against the provided MD5
    value. If they do not match, Amazon S3 returns an error."""
    try:
        digest = base64.b64decode(given, validate=True)
    except binascii.Error:
        digest = b""
    if len(digest) != 16:
        raise S3Refusal(
            400,
            "InvalidDigest",
            "The Content-MD5 you specified was invalid.",
            **{"Content-MD5": given},
        )
    actual = hashlib.md5(file).digest()
    if digest != actual:
        raise S3Refusal(
            400,
            "BadDigest",
            "The Content-MD5 you specified did not match what we received.",
            ExpectedDigest=digest.hex(),
            CalculatedDigest=base64.b64encode(actual).decode(),
        )


def _check_tagging(tagging: str) -> None:
    """PostObject, tagging: an XML <Tagging> document; S3 refuses what is not XML."""
    try:
        ElementTree.fromstring(tagging)
    except ElementTree.ParseError as error:
        raise S3Refusal(
            400,
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our "
            "published schema",
        ) from error


def _answer(fields: dict[str, str]) -> dict[str, str]:
    """Return the fields with the answer S3 would give: its redirect, or its status."""
    answered = dict(fields)
    redirect = answered.pop("success_action_redirect", None) or answered.pop("redirect", None)
    answered.pop("redirect", None)
    # PostObject, success_action_redirect: "If Amazon S3 cannot interpret the URL, it acts as
    # if the field is not present."
    parts = urlsplit(redirect or "")
    if parts.scheme in ("http", "https") and parts.netloc:
        answered["success_action_redirect"] = redirect
        # "If success_action_redirect is not specified, Amazon S3 returns the empty document
        # type specified in the success_action_status field": a redirect outranks a status.
        answered.pop("success_action_status", None)
    elif answered.get("success_action_status", "204") not in STATUSES:
        answered["success_action_status"] = "204"
    return answered
