"""The direct stage: the real Zappa handler fed a Lambda function URL's events (payload 2.0,
cookies in their own list, no stage in the path), on moto."""

import json
import re

import pytest

from app.config import Settings
from app.infra.permission import VIA_URL_ONLY
from app.jobs import DONE, UPLOADED
from embedded_aws.context import LambdaContext

from deployed import post_to_s3
from lambda_stage import FUNCTION_URL_HOST, ROOT, site_urls, zappa_cli
from support import jpeg_bytes, s3_event, upload_form


def browser(deployed_direct):
    return deployed_direct.browser(
        host=FUNCTION_URL_HOST, prefix="", stage="direct", function_url=True
    )


def test_the_page_has_no_stage_prefix_and_the_redirect_names_the_function_url(deployed_direct):
    page = browser(deployed_direct).get("/")
    assert page.status == 200 and page.header("Content-Type").startswith("text/html")
    for url in site_urls(page.text):
        assert not url.startswith("/direct"), url
    redirect = dict(upload_form(page.text)[1])["success_action_redirect"]
    assert re.fullmatch(rf"https://{re.escape(FUNCTION_URL_HOST)}/jobs/[\w.-]+/uploaded", redirect)


def test_the_visitor_cookie_goes_out_and_comes_back_in_the_cookie_lists(deployed_direct):
    visitor = browser(deployed_direct)
    page = visitor.get("/")
    # From the function URL's "cookies" list: Zappa's middleware may repeat a cookie, which is
    # harmless only while every copy is the same.
    (cookie,) = set(page.set_cookies())
    assert cookie.startswith("thumbs=") and "Secure" in cookie and "HttpOnly" in cookie
    ticket = re.search(r"/jobs/([^/]+)/uploaded", page.text).group(1)
    assert visitor.get(f"/jobs/{ticket}/status").status == 200  # the cookie came back
    assert browser(deployed_direct).get(f"/jobs/{ticket}/status").status == 403  # a stranger


def test_an_upload_goes_through_s3_and_the_trigger_to_done(deployed_direct):
    visitor = browser(deployed_direct)
    action, fields = upload_form(visitor.get("/").text)
    stored = post_to_s3(action, fields, "holiday.jpg", jpeg_bytes((2400, 1600)))
    assert stored.status_code == 303
    landed = visitor.get(stored.headers["Location"])
    assert landed.status == 303
    job_url = landed.header("Location")
    assert re.fullmatch(r"/jobs/[\w.-]+", job_url)
    assert visitor.get(job_url + "/status").json()["status"] == UPLOADED
    key = dict(fields)["key"].replace("${filename}", "holiday.jpg")
    bucket = deployed_direct.settings.uploads_bucket
    assert bucket == "thumbs-direct-uploads"
    deployed_direct.handler(
        s3_event(bucket, key, 1000, function_name="thumbs-direct"), LambdaContext("thumbs-direct")
    )
    status = visitor.get(job_url + "/status").json()
    assert status["status"] == DONE
    download = visitor.get(status["renditions"][0]["download_url"])
    assert download.status == 302 and "holiday-thumb.jpg" in download.header("Location")


def test_a_post_with_its_body_and_csrf_token_reaches_the_app(deployed_direct):
    visitor = browser(deployed_direct)
    page = visitor.get("/")
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text).group(1)
    made = visitor.request(
        "POST",
        "/jobs",
        body=b'{"count": 2}',
        headers={"Content-Type": "application/json", "X-CSRFToken": token},
    )
    assert made.status == 201, made.text
    assert len(made.json()["uploads"]) == 2


def test_after_infra_up_nobody_may_invoke_the_function_but_through_its_url(deployed_direct):
    from app import infra
    from app.services import client

    settings = deployed_direct.settings
    lambda_ = client("lambda", settings)
    lambda_.create_function_url_config(FunctionName="thumbs-direct", AuthType="NONE")
    # What Zappa 0.63's deploy adds for a public function URL.
    lambda_.add_permission(
        FunctionName="thumbs-direct",
        StatementId="FunctionURLAllowPublicAccess",
        Action="lambda:InvokeFunctionUrl",
        Principal="*",
        FunctionUrlAuthType="NONE",
    )
    lambda_.add_permission(
        FunctionName="thumbs-direct",
        StatementId="FunctionURLAllowPublicAccessInvoke",
        Action="lambda:InvokeFunction",
        Principal="*",
    )
    assert any("lets anyone invoke it directly" in p for p in infra.check(settings))
    infra.up(settings, log=lambda message: None)
    statements = {
        s["Sid"]: s
        for s in __import__("json").loads(
            lambda_.get_policy(FunctionName="thumbs-direct")["Policy"]
        )["Statement"]
    }
    invoke = statements["FunctionURLAllowPublicAccessInvoke"]  # the id Zappa then leaves alone
    assert invoke["Condition"] == {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}
    url = statements["FunctionURLAllowPublicAccess"]
    assert url["Condition"] == {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}
    assert not [p for p in infra.check(settings) if "invoke" in p]


# Zappa 0.63 imports a callback from the working folder with importlib's load_module().
ZAPPAS_CALLBACK_LOADER = pytest.mark.filterwarnings("ignore:the load_module:DeprecationWarning")


@pytest.fixture
def zappa_on_moto(aws, monkeypatch):
    """Zappa's command line for the direct stage, its function made on moto, as `zappa
    deploy` has it just before it makes the function URL; and every resource policy the
    function's statements went through."""
    from deployed import deploy_function

    monkeypatch.chdir(ROOT)  # where the README runs zappa, and Zappa finds its callback
    cli = zappa_cli("direct", load_credentials=True)
    settings = Settings(stage="direct")
    deploy_function(settings, cli.stage_config["lambda_handler"])
    lambda_ = cli.zappa.lambda_client
    policies: list[list[dict]] = []

    def watched(call):
        def change(**arguments):
            answer = call(**arguments)
            policies.append(_statements(lambda_, "thumbs-direct"))
            return answer

        return change

    monkeypatch.setattr(lambda_, "add_permission", watched(lambda_.add_permission))
    monkeypatch.setattr(lambda_, "remove_permission", watched(lambda_.remove_permission))
    return cli, lambda_.get_function(FunctionName="thumbs-direct")["Configuration"], policies


def _statements(lambda_, name: str) -> list[dict]:
    return json.loads(lambda_.get_policy(FunctionName=name)["Policy"])["Statement"]


def _open_to_anyone(statements: list[dict]) -> list[str]:
    return [
        s["Sid"]
        for s in statements
        if s.get("Principal") == "*"
        and s.get("Action") == "lambda:InvokeFunction"
        and s.get("Condition") != VIA_URL_ONLY
    ]


@ZAPPAS_CALLBACK_LOADER
def test_zappas_deploy_and_update_never_let_anyone_invoke_but_through_the_url(zappa_on_moto):
    cli, function, policies = zappa_on_moto
    cli.callback("settings")  # as every zappa command does, after loading the settings
    cli.zappa.deploy_lambda_function_url(function["FunctionArn"], cli.function_url_config)
    cli.zappa.update_function_url_policy(function["FunctionArn"], cli.function_url_config)
    assert len(policies) == 2  # the update found both statements, and added none
    assert not [sids for statements in policies if (sids := _open_to_anyone(statements))]
    final = {s["Sid"]: s for s in policies[-1]}
    assert final["FunctionURLAllowPublicAccessInvoke"]["Condition"] == VIA_URL_ONLY
    assert final["FunctionURLAllowPublicAccess"]["Condition"] == {
        "StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}
    }


def test_without_the_callback_zappas_deploy_opens_the_window(zappa_on_moto):
    cli, function, policies = zappa_on_moto
    cli.zappa.deploy_lambda_function_url(function["FunctionArn"], cli.function_url_config)
    assert _open_to_anyone(policies[-1]) == ["FunctionURLAllowPublicAccessInvoke"]


@ZAPPAS_CALLBACK_LOADER
def test_an_update_with_the_callback_closes_a_window_an_older_deploy_left(zappa_on_moto):
    cli, function, policies = zappa_on_moto
    cli.zappa.deploy_lambda_function_url(function["FunctionArn"], cli.function_url_config)
    cli.callback("settings")
    cli.zappa.update_function_url_policy(function["FunctionArn"], cli.function_url_config)
    assert _open_to_anyone(policies[-1]) == []
    assert len(policies[-1]) == 2


def test_the_callback_refuses_a_zappa_that_grants_the_url_some_other_way():
    from deploy.zappa_callbacks import ZappaChanged, guard_function_url

    class Cli:
        zappa = object()

    with pytest.raises(ZappaChanged, match="update_function_url_policy"):
        guard_function_url(Cli())


def test_the_callback_and_flask_infra_grant_the_url_alike():
    from app.infra import permission
    from deploy import zappa_callbacks

    assert zappa_callbacks.VIA_URL_ONLY == permission.VIA_URL_ONLY
    assert zappa_callbacks.INVOKE_ID == permission.URL_INVOKE_ID
