"""The embedded AWS answers the calls Zappa makes that moto 5.2.5 lacks or gets wrong, as AWS
documents them, over HTTP with signed requests (moto_gaps.py; docs/moto-gaps.md). These need
moto's API Gateway and CloudFormation: `pip install embedded-aws[zappa]`."""

import io
import json
import uuid
import zipfile

import pytest
from botocore.exceptions import ClientError


@pytest.fixture
def aws(embedded_aws):
    """Make boto3 clients on the embedded AWS, with the gate's credentials."""
    return embedded_aws.client


@pytest.fixture
def function(aws) -> str:
    """A function of its own in the shared embedded AWS; return its name."""
    name = f"gaps-{uuid.uuid4().hex[:8]}"
    role = aws("iam").create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context): pass\n")
    aws("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": code.getvalue()},
    )
    return name


def test_a_function_without_a_url_lists_no_url_configs(aws, function):
    listed = aws("lambda").list_function_url_configs(FunctionName=function)
    assert listed["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert listed["FunctionUrlConfigs"] == []


def test_a_function_url_is_listed_and_got_as_aws_answers(aws, function):
    lambda_ = aws("lambda")
    created = lambda_.create_function_url_config(FunctionName=function, AuthType="NONE")
    got = lambda_.get_function_url_config(FunctionName=function)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    (listed,) = lambda_.list_function_url_configs(FunctionName=function)["FunctionUrlConfigs"]
    assert listed["FunctionUrl"] == created["FunctionUrl"] == got["FunctionUrl"]
    assert listed["AuthType"] == "NONE" and listed["FunctionArn"].endswith(f":{function}")
    # Zappa's update names the function by its ARN.
    by_arn = lambda_.list_function_url_configs(FunctionName=listed["FunctionArn"])
    assert [c["FunctionUrl"] for c in by_arn["FunctionUrlConfigs"]] == [created["FunctionUrl"]]


def test_listing_the_urls_of_a_missing_function_is_resource_not_found(aws):
    with pytest.raises(ClientError) as raised:
        aws("lambda").list_function_url_configs(FunctionName="no-such-function")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_add_permission_answers_201_created(aws, function):
    added = aws("lambda").add_permission(
        FunctionName=function,
        StatementId="s3-invoke",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn="arn:aws:s3:::some-bucket",
        SourceAccount="123456789012",
    )
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert json.loads(added["Statement"])["Sid"] == "s3-invoke"


def test_a_binary_media_type_named_in_the_patch_path_is_recorded(aws):
    apigateway = aws("apigateway")
    api = apigateway.create_rest_api(name=f"gaps-{uuid.uuid4().hex[:8]}")["id"]
    # What Zappa's binary support sends: the type in the path, as a JSON Pointer, no value.
    add = {"op": "add", "path": "/binaryMediaTypes/*~1*"}
    apigateway.update_rest_api(restApiId=api, patchOperations=[add])
    assert apigateway.get_rest_api(restApiId=api)["binaryMediaTypes"] == ["*/*"]
    remove = {"op": "remove", "path": "/binaryMediaTypes/*~1*"}
    apigateway.update_rest_api(restApiId=api, patchOperations=[remove])
    assert apigateway.get_rest_api(restApiId=api).get("binaryMediaTypes", []) == []


def test_deleting_a_stack_deletes_its_rest_api(aws):
    cloudformation, apigateway = aws("cloudformation"), aws("apigateway")
    name = f"gaps-{uuid.uuid4().hex[:8]}"
    template = {
        "Resources": {
            "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": name}},
            "Proxy": {
                "Type": "AWS::ApiGateway::Resource",
                "Properties": {
                    "RestApiId": {"Ref": "Api"},
                    "ParentId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                    "PathPart": "{proxy+}",
                },
            },
        }
    }
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))
    assert name in [api["name"] for api in apigateway.get_rest_apis()["items"]]
    cloudformation.delete_stack(StackName=name)
    assert name not in [api["name"] for api in apigateway.get_rest_apis()["items"]]
