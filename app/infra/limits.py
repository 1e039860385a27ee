"""A ceiling on what a flood of requests can make the stage spend: API Gateway's throttling.

Zappa 0.63 has no setting for a stage's throttling, so `flask infra up`, run after
`zappa deploy`, sets it on the REST API Zappa made (named after the function). A stage served
by a function URL has no API Gateway: its ceiling is the function's reserved concurrency
(Zappa's `lambda_concurrency`; docs/deploy.md says when to set it).
"""

from __future__ import annotations

from ..config import Settings
from .base import Clients, Difference, apply

ALL_METHODS = "*/*"


def up(settings: Settings, clients: Clients, log) -> list[str]:
    return [] if settings.relaxed else apply(_differences(settings, clients), log)


def check(settings: Settings, clients: Clients) -> list[str]:
    return [] if settings.relaxed else [problem for problem, _ in _differences(settings, clients)]


def down(settings: Settings, clients: Clients, log) -> None:
    """Nothing: the REST API goes with `zappa undeploy`."""


def rest_api(settings: Settings, clients: Clients) -> str | None:
    """Return the id of the stage's REST API, if Zappa has made one."""
    pages = clients["apigateway"].get_paginator("get_rest_apis").paginate()
    for page in pages:
        for api in page.get("items", []):
            if api["name"] == settings.function_name:
                return api["id"]
    return None


def _differences(settings: Settings, clients: Clients) -> list[Difference]:
    api = rest_api(settings, clients)
    if api is None:
        return []  # not deployed yet, or served by a function URL
    apigateway = clients["apigateway"]
    stage = apigateway.get_stage(restApiId=api, stageName=settings.stage)
    method = stage.get("methodSettings", {}).get(ALL_METHODS, {})
    have = (method.get("throttlingRateLimit"), method.get("throttlingBurstLimit"))
    wanted = (float(settings.api_rate_limit), settings.api_burst_limit)
    if have == wanted:
        return []
    return [
        (
            f"API {settings.function_name} stage {settings.stage} is not throttled to "
            f"{settings.api_rate_limit} requests a second, bursts of {settings.api_burst_limit}",
            lambda: apigateway.update_stage(
                restApiId=api,
                stageName=settings.stage,
                patchOperations=[
                    {
                        "op": "replace",
                        "path": f"/{ALL_METHODS}/throttling/rateLimit",
                        "value": str(settings.api_rate_limit),
                    },
                    {
                        "op": "replace",
                        "path": f"/{ALL_METHODS}/throttling/burstLimit",
                        "value": str(settings.api_burst_limit),
                    },
                ],
            ),
        )
    ]
