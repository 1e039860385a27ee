"""AWS's Signature Version 4 test suite, against the gate: each vector's request, signed as
the suite signs it, is let through; the same request with any other signature is refused.

Source: the AWS SigV4 test suite (Apache-2.0, "Copyright 2019 Amazon.com"), as botocore ships
it: boto/botocore, tests/unit/auth/aws4_testsuite/<vector>/<vector>.req and .authz (and .creq
where the request file leaves a header out), at 0e6e2404b85dc336dd2889814e089bde7d1a4c55.
Each vector is written here anew as its request and its expected signature; every vector
uses the suite's key (AKIDEXAMPLE), region (us-east-1), service (`service`) and time
(2015-08-30T12:36:00Z). The requests cross a real HTTP server (werkzeug's, as the embedded
AWS serves), so repeated and folded header lines reach the gate as a server joins them;
`get-space` alone is handed to the WSGI app directly, since HTTP/1.1 allows no space in a
request line.
"""

from __future__ import annotations

import io
import socket
import threading
from datetime import UTC, datetime

import pytest
from werkzeug.serving import make_server
from werkzeug.test import run_wsgi_app

from embedded_aws.gate import S3Gate

KEY, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SIGNED_AT = datetime(2015, 8, 30, 12, 36, tzinfo=UTC)
SCOPE = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"
HOST = "Host:example.amazonaws.com"
DATE = "X-Amz-Date:20150830T123600Z"
TOKEN = (
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMic"
    "RXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsbu"
    "rEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPP"
    "kUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="
)
FORM = "Content-Type:application/x-www-form-urlencoded"
UNRESERVED = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

# vector: (request line, header lines, body, signed headers, signature)
VECTORS = {
    "get-header-key-duplicate": (
        "GET /",
        [HOST, "My-Header1:value2", "My-Header1:value2", "My-Header1:value1", DATE],
        "",
        "host;my-header1;x-amz-date",
        "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
    ),
    "get-header-value-multiline": (
        "GET /",
        [HOST, "My-Header1:value1", "  value2", "     value3", DATE],
        "",
        "host;my-header1;x-amz-date",
        "cfd34249e4b1c8d6b91ef74165d41a32e5fab3306300901bb65a51a73575eefd",
    ),
    "get-header-value-order": (
        "GET /",
        [HOST] + [f"My-Header1:value{n}" for n in (4, 1, 3, 2)] + [DATE],
        "",
        "host;my-header1;x-amz-date",
        "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01",
    ),
    "get-header-value-trim": (
        "GET /",
        [HOST, "My-Header1: value1", 'My-Header2: "a   b   c"', DATE],
        "",
        "host;my-header1;my-header2;x-amz-date",
        "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
    ),
    "get-unreserved": (
        f"GET /{UNRESERVED}",
        [HOST, DATE],
        "",
        "host;x-amz-date",
        "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
    ),
    "get-utf8": (
        "GET /\u1234",
        [HOST, DATE],
        "",
        "host;x-amz-date",
        "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
    ),
    "get-vanilla": (
        "GET /",
        [HOST, DATE],
        "",
        "host;x-amz-date",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    ),
    "get-vanilla-empty-query-key": (
        "GET /?Param1=value1",
        [HOST, DATE],
        "",
        "host;x-amz-date",
        "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
    ),
    "get-vanilla-query": (
        "GET /",
        [HOST, DATE],
        "",
        "host;x-amz-date",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    ),
    "get-vanilla-query-order-encoded": (
        "GET /?Param-3=Value3&Param=Value2&%E1%88%B4=Value1",
        [HOST, DATE],
        "",
        "host;x-amz-date",
        "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac",
    ),
    "get-vanilla-query-order-key": (
        "GET /?Param1=value2&Param1=Value1",
        [HOST, DATE],
        "",
        "host;x-amz-date",
        "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1",
    ),
    "get-vanilla-query-order-key-case": (
        "GET /?Param2=value2&Param1=value1",
        [HOST, DATE],
        "",
        "host;x-amz-date",
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    ),
    "get-vanilla-query-order-value": (
        "GET /?Param1=value2&Param1=value1",
        [HOST, DATE],
        "",
        "host;x-amz-date",
        "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694",
    ),
    "get-vanilla-query-unreserved": (
        f"GET /?{UNRESERVED}={UNRESERVED}",
        [HOST, DATE],
        "",
        "host;x-amz-date",
        "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
    ),
    "get-vanilla-utf8-query": (
        "GET /?\u1234=bar",
        [HOST, DATE],
        "",
        "host;x-amz-date",
        "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
    ),
    "get-vanilla-with-session-token": (
        "GET /",
        [
            HOST,
            DATE,
            "X-Amz-Security-Token:6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267",
        ],
        "",
        "host;x-amz-date;x-amz-security-token",
        "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
    ),
    "normalize-path/get-relative": (
        "GET /example/..",
        [HOST, DATE],
        "",
        "host;x-amz-date",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    ),
    "normalize-path/get-relative-relative": (
        "GET /example1/example2/../..",
        [HOST, DATE],
        "",
        "host;x-amz-date",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    ),
    "normalize-path/get-slash": (
        "GET //",
        [HOST, DATE],
        "",
        "host;x-amz-date",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    ),
    "normalize-path/get-slash-dot-slash": (
        "GET /./",
        [HOST, DATE],
        "",
        "host;x-amz-date",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    ),
    "normalize-path/get-slash-pointless-dot": (
        "GET /./example",
        [HOST, DATE],
        "",
        "host;x-amz-date",
        "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5",
    ),
    "normalize-path/get-slashes": (
        "GET //example//",
        [HOST, DATE],
        "",
        "host;x-amz-date",
        "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84",
    ),
    "normalize-path/get-space": (
        "GET /example space/",
        [HOST, DATE],
        "",
        "host;x-amz-date",
        "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741",
    ),
    "normalize-path/get-special-character": (
        "GET /example/$delete",
        [HOST, DATE],
        "",
        "host;x-amz-date",
        "a853c9b21b528b19643d00910d35b83a10c366a10833ceefb45edd6c80e40f27",
    ),
    "post-header-key-case": (
        "POST /",
        [HOST, DATE],
        "",
        "host;x-amz-date",
        "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
    ),
    "post-header-key-sort": (
        "POST /",
        [HOST, "My-Header1:value1", DATE],
        "",
        "host;my-header1;x-amz-date",
        "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
    ),
    "post-header-value-case": (
        "POST /",
        [HOST, "My-Header1:VALUE1", DATE],
        "",
        "host;my-header1;x-amz-date",
        "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
    ),
    "post-sts-token/post-sts-header-after": (
        "POST /",
        [HOST, DATE, f"X-Amz-Security-Token:{TOKEN}"],
        "",
        "host;x-amz-date",
        "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
    ),
    "post-sts-token/post-sts-header-before": (
        "POST /",
        [HOST, DATE, f"X-Amz-Security-Token:{TOKEN}"],
        "",
        "host;x-amz-date;x-amz-security-token",
        "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
    ),
    "post-vanilla": (
        "POST /",
        [HOST, DATE],
        "",
        "host;x-amz-date",
        "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
    ),
    "post-vanilla-empty-query-value": (
        "POST /?Param1=value1",
        [HOST, DATE],
        "",
        "host;x-amz-date",
        "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
    ),
    "post-vanilla-query": (
        "POST /?Param1=value1",
        [HOST, DATE],
        "",
        "host;x-amz-date",
        "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
    ),
    "post-x-www-form-urlencoded": (
        "POST /",
        [FORM, HOST, DATE],
        "Param1=value1",
        "content-type;host;x-amz-date",
        "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
    ),
    "post-x-www-form-urlencoded-parameters": (
        "POST /",
        [FORM + "; charset=utf8", HOST, DATE],
        "Param1=value1",
        "content-type;host;x-amz-date",
        "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe",
    ),
}


def reached(environ, start_response):
    """What stands behind the gate here: it says the request got through."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"reached"]


@pytest.fixture(scope="module")
def gate():
    return S3Gate(reached, {KEY: SECRET}, lambda: SIGNED_AT)


@pytest.fixture(scope="module")
def server(gate):
    served = make_server("127.0.0.1", 0, gate, threaded=True)
    threading.Thread(target=served.serve_forever, daemon=True).start()
    yield served.server_port
    served.shutdown()
    served.server_close()


def send(vector: str, signature: str, gate, port: int) -> tuple[int, bytes]:
    """Send a vector's request with `signature`; return the status and the body as sent
    (chunked, from the server)."""
    request_line, headers, body, signed, _ = VECTORS[vector]
    authorization = f"Authorization:{SCOPE}, SignedHeaders={signed}, Signature={signature}"
    lines = [*headers, authorization]
    if body:
        lines.append(f"Content-Length:{len(body)}")
    if " " in request_line.split(" ", 1)[1]:
        return _call_wsgi(gate, request_line, lines, body)
    raw = f"{request_line} HTTP/1.1\r\n" + "\r\n".join([*lines, "Connection:close"]) + "\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.sendall(raw.encode() + body.encode())
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, content = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), content


def _call_wsgi(gate, request_line: str, lines: list[str], body: str) -> tuple[int, bytes]:
    """Hand a request to the WSGI app as a server that kept its request line would."""
    method, target = request_line.split(" ", 1)
    path, _, query = target.partition("?")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "REQUEST_URI": target,
        "SERVER_NAME": "example.amazonaws.com",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body.encode()),
    }
    for line in lines:
        name, _, value = line.partition(":")
        environ["HTTP_" + name.upper().replace("-", "_")] = value.strip()
    answer, status, _ = run_wsgi_app(gate, environ)
    return int(status.split()[0]), b"".join(answer)


@pytest.mark.parametrize("vector", sorted(VECTORS))
def test_the_suites_signature_is_accepted(vector, gate, server):
    status, body = send(vector, VECTORS[vector][4], gate, server)
    assert status == 200 and b"reached" in body


@pytest.mark.parametrize("vector", sorted(VECTORS))
def test_any_other_signature_is_refused(vector, gate, server):
    signature = VECTORS[vector][4]
    forged = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    status, body = send(vector, forged, gate, server)
    assert status == 403 and b"InvalidSignatureException" in body
