"""AWS's prices the benchmarks use, US East (N. Virginia), beyond the free tiers."""

PRICES_DATE = "2025-06"  # when AWS listed them so

# Dollars per GB-second of duration, by architecture (the first 6 billion GB-seconds a month).
# https://aws.amazon.com/lambda/pricing/
LAMBDA_GB_SECOND = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
# Dollars per request. https://aws.amazon.com/lambda/pricing/
LAMBDA_REQUEST = 0.20 / 1_000_000
