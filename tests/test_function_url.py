"""The direct stage: the real Zappa handler fed a Lambda function URL's events (payload 2.0,
cookies in their own list, no stage in the path), on moto."""

import re

from app.jobs import DONE, UPLOADED
from embedded_aws.context import LambdaContext

from deployed import post_to_s3
from lambda_stage import FUNCTION_URL_HOST, site_urls
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
