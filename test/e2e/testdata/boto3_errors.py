"""Make CloudTrail calls with boto3 that are expected to fail, and report how.

Reads a JSON job from stdin:

    {"endpoint": "http://127.0.0.1:PORT", "region": "us-east-1",
     "cases": [{"name": "...", "access_key_id": "...",
                "secret_access_key": "...", "operation": "lookup_events",
                "params": {...}}]}

and writes one outcome per case name to stdout:

    {"name": {"outcome": "ClientError", "code": "...", "message": "...",
              "status": 400}}

outcome is "ok" when the call succeeded, "ClientError" when the service
answered with an error, "ParamValidationError" when botocore refused the
parameters before sending anything, or the name of any other exception.
"""

import json
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ParamValidationError


def main():
    job = json.load(sys.stdin)
    out = {}
    for case in job["cases"]:
        client = boto3.client(
            "cloudtrail",
            endpoint_url=job["endpoint"],
            region_name=job["region"],
            aws_access_key_id=case["access_key_id"],
            aws_secret_access_key=case["secret_access_key"],
            config=Config(retries={"max_attempts": 1}),
        )
        call = getattr(client, case["operation"])
        try:
            call(**case.get("params", {}))
            res = {"outcome": "ok"}
        except ClientError as e:
            res = {
                "outcome": "ClientError",
                "code": e.response.get("Error", {}).get("Code", ""),
                "message": e.response.get("Error", {}).get("Message", ""),
                "status": e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0),
            }
        except ParamValidationError as e:
            res = {"outcome": "ParamValidationError", "message": str(e)}
        except Exception as e:  # reported, so the Go test can say what went wrong
            res = {"outcome": type(e).__name__, "message": str(e)}
        out[case["name"]] = res
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
