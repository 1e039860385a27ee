"""One dated table of AWS's list prices, US East (N. Virginia), beyond the free tiers: every
figure bench/cost.py prices with, each with the page it was read from."""

from __future__ import annotations

PRICES_DATE = "2025-06"  # when these were read from AWS's pricing pages

# Lambda: per GB-second of duration, by architecture, and per request.
LAMBDA_GB_SECOND = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
LAMBDA_REQUEST = 0.20 / 1e6
API_GATEWAY_REST_REQUEST = 3.50 / 1e6  # REST APIs, the first 333 million a month
FUNCTION_URL_REQUEST = 0.0  # a function URL adds no charge of its own
S3_CLASS_A = 0.005 / 1000  # PUT, COPY, POST, LIST
S3_CLASS_B = 0.0004 / 1000  # GET, SELECT and all other requests (HEAD, OPTIONS)
S3_FREE = 0.0  # DELETE and CANCEL are free
S3_STORAGE_GB_MONTH = 0.023  # S3 Standard, the first 50 TB
DYNAMODB_WRITE_UNIT = 0.625 / 1e6  # on demand
DYNAMODB_READ_UNIT = 0.125 / 1e6  # on demand
DATA_OUT_GB = 0.09  # to the internet, after the first 100 GB a month
LOGS_INGEST_GB = 0.50  # CloudWatch Logs, standard
LOGS_STORAGE_GB_MONTH = 0.03

SOURCES = {
    "Lambda": "https://aws.amazon.com/lambda/pricing/",
    "API Gateway": "https://aws.amazon.com/api-gateway/pricing/",
    "S3": "https://aws.amazon.com/s3/pricing/",
    "DynamoDB": "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    "Data out": "https://aws.amazon.com/ec2/pricing/on-demand/#Data_Transfer",
    "CloudWatch Logs": "https://aws.amazon.com/cloudwatch/pricing/",
}
