"""Walk LookupEvents with boto3's own paginator, as a boto3 user would.

Reads a JSON job from stdin:

    {"endpoint": "http://127.0.0.1:PORT",
     "access_key_id": "...", "secret_access_key": "...",
     "page_size": 50,
     "queries": [{"name": "all", "region": "us-east-1",
                  "params": {"LookupAttributes": [...],
                             "StartTime": "2017-06-10T00:00:00Z", ...}}]}

and writes to stdout, for each query by name, the number of pages, the
size of each page and every event in the order received:

    {"all": {"pages": 3, "page_sizes": [50, 50, 7],
             "events": [{"id": "...", "time": 1497052800.0,
                         "source": "ec2.amazonaws.com"}, ...]}}

Times are seconds since the epoch, whatever time zone the machine has.
"""

import json
import sys

import boto3
from botocore.config import Config


def main():
    job = json.load(sys.stdin)
    out = {}
    for q in job["queries"]:
        client = boto3.client(
            "cloudtrail",
            endpoint_url=job["endpoint"],
            region_name=q["region"],
            aws_access_key_id=job["access_key_id"],
            aws_secret_access_key=job["secret_access_key"],
            config=Config(retries={"max_attempts": 2}),
        )
        paginator = client.get_paginator("lookup_events")
        pages = paginator.paginate(
            PaginationConfig={"PageSize": job["page_size"]}, **q.get("params", {})
        )
        sizes = []
        events = []
        for page in pages:
            sizes.append(len(page["Events"]))
            for e in page["Events"]:
                events.append(
                    {
                        "id": e["EventId"],
                        "time": e["EventTime"].timestamp(),
                        "source": e.get("EventSource", ""),
                    }
                )
        out[q["name"]] = {"pages": len(sizes), "page_sizes": sizes, "events": events}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
