"""embedded-aws: moto on a loopback port, as strict as S3 where moto is lenient.

- `EmbeddedAWS`: moto's server in a thread, behind a gate that verifies SigV4 on every
  signed call, presigned links' signatures and expiry, and browser POST uploads against
  their policy, as S3 does; the calls Zappa makes answered as AWS answers them.
- `S3Events`: a bucket's event notifications delivered to a Python function in this
  process, as Lambda's S3 trigger delivers them (retries and an on-failure queue included).
- `python -m embedded_aws`: the server alone, in the foreground.
- A pytest plugin (`embedded_aws.plugin`): the `embedded_aws` fixture.

Importing this package imports neither moto nor boto3: the server does, when it starts.
"""

from __future__ import annotations

from .context import LambdaContext
from .events import S3Events, client, run_every
from .server import (
    ACCOUNT_ID,
    CREDENTIALS,
    REGION,
    EmbeddedAWS,
    EmbeddedAWSError,
    PortInUse,
    port_is_free,
)

__version__ = "0.1.0"
__all__ = [
    "ACCOUNT_ID",
    "CREDENTIALS",
    "REGION",
    "EmbeddedAWS",
    "EmbeddedAWSError",
    "LambdaContext",
    "PortInUse",
    "S3Events",
    "client",
    "port_is_free",
    "run_every",
]
