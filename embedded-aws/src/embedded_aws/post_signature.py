"""A browser upload's signature, checked as S3 checks it: AWS's "Calculating a Signature"
(sigv4-authentication-HTTPPOST) for the policy; S3's recorded answers for a credential or a
date it cannot use (the conformance tests name them).
"""

from __future__ import annotations

import hmac
import re

from .refusal import S3Refusal
from .sigv4 import ALGORITHM, sign

_LONG_DATE = re.compile(r"\d{8}T\d{6}Z")


def check_signature(fields: dict[str, str], region: str, credentials: dict[str, str]) -> None:
    """Raise S3Refusal unless the form's signature fields sign its policy, for `region`."""
    if fields["x-amz-algorithm"] != ALGORITHM:
        raise S3Refusal(
            400, "InvalidArgument", "Only AWS4-HMAC-SHA256 POST uploads are checked here."
        )
    access_key, date, service = _scope(fields["x-amz-credential"], region)
    if not _LONG_DATE.fullmatch(fields["x-amz-date"]):
        raise S3Refusal(
            400,
            "InvalidArgument",
            "X-Amz-Date must be formated via ISO8601 Long format",
            ArgumentName="X-Amz-Date",
            ArgumentValue=fields["x-amz-date"],
        )
    if access_key not in credentials:
        raise S3Refusal(
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
            AWSAccessKeyId=access_key,
        )
    expected = sign(credentials[access_key], date, region, service, fields["policy"])
    if not hmac.compare_digest(expected, fields["x-amz-signature"]):
        raise S3Refusal(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature "
            "you provided. Check your key and signing method.",
            AWSAccessKeyId=access_key,
            StringToSign=fields["policy"],
            SignatureProvided=fields["x-amz-signature"],
        )


def _scope(credential: str, region: str) -> tuple[str, str, str]:
    """Return the access key, date and service of a form's credential, as S3 reads it."""
    parts = credential.split("/")
    named = {"ArgumentName": "X-Amz-Credential", "ArgumentValue": credential}
    if len(parts) != 5 or parts[4] != "aws4_request" or not re.fullmatch(r"\d{8}", parts[1]):
        raise S3Refusal(
            400,
            "InvalidArgument",
            'the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/'
            'aws4_request".',
            **named,
        )
    access_key, date, scope_region, service, _ = parts
    if not access_key:
        raise S3Refusal(
            400,
            "InvalidArgument",
            "a non-empty Access Key (AKID) must be provided in the credential.",
            **named,
        )
    if scope_region != region:
        raise S3Refusal(
            400,
            "InvalidArgument",
            f"the region '{scope_region}' is wrong; expecting '{region}'",
            **named,
            Region=region,
        )
    if service != "s3":
        raise S3Refusal(
            400,
            "InvalidArgument",
            f'incorrect service "{service}". This endpoint belongs to "s3".',
            **named,
        )
    return access_key, date, service
