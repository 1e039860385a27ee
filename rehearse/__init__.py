"""`make rehearse`: the deploy guide (docs/deploy.md), run with Zappa's CLI on the embedded AWS.

For each stage below it follows the deploy guide in its order (the secret in
Parameter Store, `flask infra up`, `zappa deploy -z` of the built package, `flask infra up`
again, `zappa status`, `zappa update` twice, `zappa undeploy`, then the removal steps), with a
settings file made for it from `zappa_settings.json` (`touch` off: the API's host does not
resolve here), and checks through boto3 what the deploy guide promises at each point
(`checks.py`), and what `undeploy` and the removal steps leave (`inventory.py`).

Nothing reaches AWS: a fresh embedded AWS on a free loopback port, with the fake credentials
`testing`/`testing`, answers every call.
"""

# The stages rehearsed, one of each kind: what each is checked for follows from its settings
# (a REST API, or a function URL when `function_url_enabled` and not `apigateway_enabled`),
# so a stage of another kind joins with one line here; and one on arm64 (Graviton), whose
# package holds native code built for aarch64.
STAGES = ("dev", "direct", "arm64")
