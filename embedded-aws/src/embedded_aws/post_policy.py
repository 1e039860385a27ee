"""A browser upload's POST policy, read and applied as S3 reads and applies it.

AWS's "POST Policy" page (sigv4-HTTPPOSTConstructPolicy) is the reference: a base64 JSON
document that "always contains the `expiration` and `conditions` elements", the expiration
"in ISO8601 GMT date format", conditions that are exact matches (`{"acl": "public-read"}` or
`["eq", "$acl", "public-read"]`), `starts-with` on the fields its table allows, or a
`content-length-range`. Where the page is silent, S3's recorded answers decide (the tests
name them): a document S3 cannot read is refused with 400 InvalidPolicyDocument before any
condition is tried; a condition that fails is 403 AccessDenied, "Policy Condition failed".
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from .refusal import S3Refusal

# POST Policy, Conditions: the fields whose condition may be starts-with (and x-amz-meta-*);
# every other field takes exact matches only.
STARTS_WITH_FIELDS = {
    "acl",
    "key",
    "success_action_redirect",
    "redirect",
    "cache-control",
    "content-type",
    "content-disposition",
    "content-encoding",
    "expires",
}
# "ISO8601 GMT": a UTC time ending in Z, with or without fractions of a second
# (the page's example has milliseconds; botocore and the AWS SDKs send none).
_EXPIRATION = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")
_INTEGER = re.compile(r"-?\d+")
_MEMBERS = ("expiration", "conditions")
_OPERATORS = ("eq", "starts-with", "content-length-range")


@dataclass(frozen=True)
class Condition:
    """One condition: its operator and two operands, and the policy's own words for it."""

    operator: str
    subject: object
    value: object
    written: list


@dataclass(frozen=True)
class Policy:
    expiration: datetime
    conditions: list[Condition]


def read_policy(encoded: str) -> Policy:
    """Return the policy in the `policy` field; raise S3Refusal as S3 does if unreadable."""
    try:
        document = json.loads(base64.b64decode(encoded, validate=True), parse_constant=_reject)
    except (binascii.Error, ValueError) as error:
        raise invalid("Invalid JSON.") from error
    if not isinstance(document, dict):
        raise invalid("Invalid JSON.")
    for member in document:
        if member not in _MEMBERS:
            raise invalid(f"Unexpected: '{member.lower()}'")
    if "expiration" not in document:
        raise invalid("Policy missing expiration.")
    expiration = _expiration(document["expiration"])
    if "conditions" not in document:
        raise invalid("Policy missing conditions.")
    if not isinstance(document["conditions"], list):
        raise invalid("Invalid 'conditions' value: must be a List.")
    return Policy(expiration, [_condition(written) for written in document["conditions"]])


def apply(policy: Policy, values: dict[str, str], file_size: int) -> set[str]:
    """Raise S3Refusal unless every condition holds; return the names of the fields covered.

    `values` are the form's fields (names lower-cased) and the bucket. A condition on a field
    the form lacks fails, whatever its value ("" included).
    """
    covered = set()
    for condition in policy.conditions:
        if condition.operator == "content-length-range":
            _check_size(condition, file_size)
            continue
        subject = str(condition.subject)
        if subject.startswith("$"):
            name = subject[1:].lower()
            covered.add(name)
            actual = values.get(name)
        else:
            # No `$`: the policy names no field; S3 compares the words themselves.
            name, actual = "", subject
        if actual is None or not _holds(condition, name, actual):
            raise failed(condition)
    return covered


def invalid(reason: str) -> S3Refusal:
    return S3Refusal(400, "InvalidPolicyDocument", "Invalid Policy: " + reason)


def failed(condition: Condition) -> S3Refusal:
    return S3Refusal(
        403,
        "AccessDenied",
        "Invalid according to Policy: Policy Condition failed: " + json.dumps(condition.written),
    )


def _reject(constant: str):
    raise ValueError(f"{constant} is not JSON")


def _expiration(value) -> datetime:
    if not isinstance(value, str) or not _EXPIRATION.fullmatch(value):
        shown = value if isinstance(value, str) else json.dumps(value)
        raise invalid(f"Invalid 'expiration' value: '{shown}'")
    try:
        moment = datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError as error:  # a month 13, a 30 February
        raise invalid(f"Invalid 'expiration' value: '{value}'") from error
    fraction = value[19:-1].lstrip(".")
    microseconds = int(fraction[:6].ljust(6, "0")) if fraction else 0
    return moment.replace(microsecond=microseconds, tzinfo=UTC)


def _condition(written) -> Condition:
    if isinstance(written, dict):
        if len(written) != 1:
            raise invalid(
                "Invalid Simple-Condition: Simple-Conditions must have exactly one property "
                "specified."
            )
        ((name, value),) = written.items()
        if value is None:
            raise invalid("Invalid JSON.")
        if not isinstance(value, str):
            raise invalid("Invalid Simple-Condition: value must be a string.")
        # S3 names a failed simple condition as the eq it stands for.
        return _matching("eq", f"${name}", value, ["eq", f"${name}", value])
    if not isinstance(written, list):
        raise invalid("Invalid condition test: must be a List or Object.")
    if not written or not isinstance(written[0], str):
        raise invalid("Invalid Condition: missing operation identifier.")
    operator = written[0].lower()
    if operator not in _OPERATORS:
        raise invalid(f"Invalid Condition: unknown operation '{written[0]}'.")
    if len(written) != 3:
        raise invalid(f"Invalid {operator}: wrong number of arguments.")
    if operator == "content-length-range":
        for bound in written[1:]:
            if isinstance(bound, bool) or not isinstance(bound, int | str):
                raise invalid("Invalid JSON.")  # S3's word for a bound such as 512.0
        return Condition(operator, written[1], written[2], written)
    return _matching(operator, written[1], written[2], written)


def _matching(operator: str, subject, value, written: list) -> Condition:
    if subject is None or value is None:
        raise invalid("Invalid JSON.")
    if not isinstance(subject, str) or not isinstance(value, str):
        raise invalid(f"Invalid Condition: {operator} takes strings: {json.dumps(written)}")
    name = subject[1:].lower() if subject.startswith("$") else None
    if operator == "starts-with" and name is not None and not _takes_starts_with(name):
        raise invalid(f"Invalid Condition: {json.dumps(written)}")
    return Condition(operator, subject, value, written)


def _takes_starts_with(name: str) -> bool:
    return name in STARTS_WITH_FIELDS or name.startswith("x-amz-meta-")


def _holds(condition: Condition, name: str, actual: str) -> bool:
    expected = str(condition.value)
    if condition.operator == "eq":
        return actual == expected
    # POST Policy, "Matching Content-Types in a Comma-Separated List": for starts-with, each
    # value of a Content-Type list must meet the condition. Elsewhere a comma is a character.
    candidates = actual.split(",") if name == "content-type" else [actual]
    return all(candidate.startswith(expected) for candidate in candidates)


def _check_size(condition: Condition, size: int) -> None:
    bounds = [str(bound).strip() for bound in (condition.subject, condition.value)]
    if not all(_INTEGER.fullmatch(bound) for bound in bounds):
        raise failed(condition)  # a bound that is no number can hold for no size
    low, high = (int(bound) for bound in bounds)
    if size > high:
        raise S3Refusal(
            400,
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size",
            ProposedSize=str(size),
            MaxSizeAllowed=str(high),
        )
    if size < low:
        raise S3Refusal(
            400,
            "EntityTooSmall",
            "Your proposed upload is smaller than the minimum allowed size",
            ProposedSize=str(size),
            MinSizeAllowed=str(low),
        )
