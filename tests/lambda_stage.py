"""The deployment path without AWS: Zappa's settings module, API Gateway and S3 event shapes,
and a browser that talks to the real Zappa handler the way API Gateway would pass it on."""

from __future__ import annotations

import base64
import html
import json
import re
import uuid
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from zappa.cli import ZappaCLI

from embedded_aws.context import LambdaContext

ROOT = Path(__file__).resolve().parent.parent
API_HOST = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
FUNCTION_URL_HOST = "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws"
ACCOUNT = "123456789012"


def zappa_cli(stage: str, load_credentials: bool = False) -> ZappaCLI:
    """Load zappa_settings.json for `stage` as `zappa package` does (no credentials), or as
    the other commands do (its clients then reach moto, inside `mock_aws`)."""
    cli = ZappaCLI()
    cli.api_stage = stage
    cli.load_credentials = load_credentials
    cli.load_settings(str(ROOT / "zappa_settings.json"))
    return cli


def write_settings_module(stage: str, folder: Path) -> dict:
    """Write the zappa_settings.py that `zappa package` puts in the zip; return the stage config."""
    cli = zappa_cli(stage)
    (folder / "zappa_settings.py").write_text(cli.get_zappa_settings_string())
    return cli.stage_config


def lambda_environment(stage_config: dict, function_name: str) -> dict[str, str]:
    """Return what Lambda puts in the function's environment (less credentials)."""
    return {
        **stage_config.get("aws_environment_variables", {}),
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_REGION": stage_config["aws_region"],
        "AWS_DEFAULT_REGION": stage_config["aws_region"],
    }


def rest_event(
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    body: bytes | None,
    stage: str,
    host: str,
) -> dict:
    """Return an API Gateway REST proxy event: the stage is cut from `path`, as AWS does."""
    pairs = parse_qsl(query, keep_blank_values=True)
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        multi.setdefault(name, []).append(value)
    all_headers = {
        "Host": host,
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Port": "443",
        "X-Forwarded-For": "203.0.113.9, 130.176.0.1",
        "User-Agent": "test-browser",
        **headers,
    }
    return {
        "resource": "/" if path == "/" else "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {name: [value] for name, value in all_headers.items()},
        "queryStringParameters": {n: v[-1] for n, v in multi.items()} or None,
        "multiValueQueryStringParameters": multi or None,
        "pathParameters": None if path == "/" else {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/" if path == "/" else "/{proxy+}",
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "stage": stage,
            "accountId": ACCOUNT,
            "requestId": str(uuid.uuid4()),
            "domainName": host,
            "apiId": host.split(".")[0],
            "protocol": "HTTP/1.1",
            "identity": {"sourceIp": "203.0.113.9"},
        },
        # Zappa's binary support makes API Gateway pass every body base64-encoded.
        "body": base64.b64encode(body).decode() if body else None,
        "isBase64Encoded": bool(body),
    }


def url_event(
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    body: bytes | None,
    host: str,
    cookies: list[str],
) -> dict:
    """Return a Lambda function URL's event (payload format 2.0): lower-case headers, the
    cookies in their own list, no stage in the path."""
    all_headers = {
        "host": host,
        "x-forwarded-proto": "https",
        "x-forwarded-port": "443",
        "x-forwarded-for": "203.0.113.9",
        "user-agent": "test-browser",
        **{name.lower(): value for name, value in headers.items()},
    }
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "cookies": cookies,
        "headers": all_headers,
        "queryStringParameters": dict(parse_qsl(query)) or None,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": host.split(".")[0],
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": "27/Nov/2026:09:15:41 +0000",
            "timeEpoch": 1795771341000,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": "test-browser",
            },
        },
        "body": base64.b64encode(body).decode() if body else None,
        "isBase64Encoded": bool(body),
    }


def scheduled_event(rule: str, account: str = ACCOUNT, region: str = "us-east-1") -> dict:
    """Return what Zappa's scheduled rule `rule` sends the function (its input template)."""
    return {
        "time": "2026-11-27T09:16:00Z",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "region": region,
        "detail": {},
        "version": "0",
        "resources": [f"arn:aws:events:{region}:{account}:rule/{rule}"],
        "id": str(uuid.uuid4()),
        "kwargs": {},
    }


@dataclass
class Reply:
    """What a browser gets back from API Gateway."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for n, v in self.headers if n.lower() == name.lower()]
        return values[-1] if values else None

    def set_cookies(self) -> list[str]:
        return [v for n, v in self.headers if n.lower() == "set-cookie"]

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self):
        return json.loads(self.body)


def gateway_headers(result: dict) -> list[tuple[str, str]]:
    """Merge `headers` and `multiValueHeaders` as API Gateway does (multi-value ones win)."""
    merged = [
        (n, v) for n, values in (result.get("multiValueHeaders") or {}).items() for v in values
    ]
    merged += [(n, v) for n, v in (result.get("headers") or {}).items() if (n, v) not in merged]
    return merged


@dataclass
class Browser:
    """A browser on API Gateway's default URL: https://<api>/<stage>/..., with a cookie jar."""

    handler: object
    stage: str = "dev"
    host: str = API_HOST
    prefix: str | None = None  # what the URL holds before the app's paths: "" on a custom domain
    function_url: bool = False  # a function URL's payload 2.0, not API Gateway's REST events
    cookies: dict[str, str] = field(default_factory=dict)
    log: list[tuple[str, str, Reply]] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return f"https://{self.host}"

    @property
    def base(self) -> str:
        return f"/{self.stage}" if self.prefix is None else self.prefix

    def get(self, url: str, headers: dict | None = None) -> Reply:
        return self.request("GET", url, headers=headers)

    def request(
        self, method: str, url: str, body: bytes | None = None, headers: dict | None = None
    ) -> Reply:
        """Send a request as API Gateway would pass it to the function; 403 off the stage."""
        parts = urlsplit(url)
        assert parts.netloc in ("", self.host), f"not this site: {url}"
        prefix = self.base
        if prefix and not (parts.path == prefix or parts.path.startswith(prefix + "/")):
            # API Gateway answers a path outside its stages itself, as Forbidden.
            reply = Reply(403, [("Content-Type", "application/json")], b'{"message":"Forbidden"}')
        else:
            sent = dict(headers or {})
            jar = [f"{n}={v}" for n, v in self.cookies.items()]
            path = parts.path[len(prefix) :] or "/"
            if self.function_url:
                event = url_event(method, path, parts.query, sent, body, self.host, jar)
            else:
                if jar:
                    sent["Cookie"] = "; ".join(jar)
                event = rest_event(method, path, parts.query, sent, body, self.stage, self.host)
            reply = self._reply(self.handler(event, LambdaContext(f"thumbs-{self.stage}")))
            self._store_cookies(reply)
        self.log.append((method, url, reply))
        return reply

    def follow(self, reply: Reply, limit: int = 5) -> Reply:
        """Follow redirects within this site."""
        for _ in range(limit):
            if reply.status not in (301, 302, 303, 307, 308):
                return reply
            reply = self.get(reply.header("Location"))
        raise AssertionError("too many redirects")

    @staticmethod
    def _reply(result: dict) -> Reply:
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
        # A function URL's answer carries its cookies in their own list.
        cookies = [("Set-Cookie", cookie) for cookie in result.get("cookies") or []]
        return Reply(result["statusCode"], gateway_headers(result) + cookies, data)

    def _store_cookies(self, reply: Reply) -> None:
        for line in reply.set_cookies():
            cookie = SimpleCookie()
            cookie.load(line)
            for name, morsel in cookie.items():
                path = morsel["path"] or "/"
                assert morsel["secure"], f"cookie {name} is not Secure: {line}"
                assert f"{self.base}/".startswith(path.rstrip("/") + "/"), (
                    f"cookie {name} would not come back to {self.base}/: {line}"
                )
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value


_URL_ATTRIBUTES = re.compile(r'\b(?:href|src|action|data-[\w-]*url)="([^"]*)"')


def site_urls(page: str) -> list[str]:
    """Return every URL a page links, loads, posts to or refreshes to."""
    urls = [html.unescape(u) for u in _URL_ATTRIBUTES.findall(page)]
    urls += re.findall(r'http-equiv="refresh" content="\d+;\s*url=([^"]+)"', page)
    for blob in re.findall(r"\bdata-[\w-]+=\"(\{[^\"]*\})\"", page):
        urls += json_urls(json.loads(html.unescape(blob)))
    return urls


def json_urls(value) -> list[str]:
    """Return the values of every `*url` key in a JSON document, at any depth."""
    if isinstance(value, dict):
        found = [v for k, v in value.items() if k.endswith("url") and isinstance(v, str)]
        return found + [u for v in value.values() for u in json_urls(v)]
    if isinstance(value, list):
        return [u for v in value for u in json_urls(v)]
    return []
