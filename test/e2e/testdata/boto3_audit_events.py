"""Put events through a Lake channel with boto3's cloudtrail-data client.

The Go test TestLakeChannels passes CT_ENDPOINT, CT_ACCESS_KEY_ID,
CT_SECRET_ACCESS_KEY, CT_ACCOUNT and CT_CHANNEL (a channel's ARN). The
script puts three good events (one with its checksum) and four bad ones,
then tries a duplicated id, an unknown channel and a malformed channel
ARN, and prints what came back as one JSON object.
"""

import base64
import hashlib
import json
import os

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENV = os.environ
data = boto3.client(
    "cloudtrail-data",
    endpoint_url=ENV["CT_ENDPOINT"],
    region_name="us-east-1",
    aws_access_key_id=ENV["CT_ACCESS_KEY_ID"],
    aws_secret_access_key=ENV["CT_SECRET_ACCESS_KEY"],
    config=Config(retries={"max_attempts": 1}),
)
ACCT = ENV["CT_ACCOUNT"]
CHANNEL = ENV["CT_CHANNEL"]


def event(uid, name, **extra):
    e = {
        "version": "1.0",
        "userIdentity": {"type": "CustomUserIdentity", "principalId": "bob", "details": {"team": "red"}},
        "eventSource": "payments.example.com",
        "eventName": name,
        "eventTime": "2026-11-21T08:00:0%dZ" % (len(uid) % 10),
        "UID": uid,
        "recipientAccountId": ACCT,
        "sourceIPAddress": "198.51.100.7",
        "requestParameters": {"amount": 42, "currency": "EUR"},
    }
    e.update(extra)
    return json.dumps(e)


good = [event("boto-1", "Charge"), event("boto-22", "Refund"), event("boto-333", "Charge")]
checksum = base64.b64encode(hashlib.sha256(good[0].encode()).digest()).decode()
out = {}
r = data.put_audit_events(
    channelArn=CHANNEL,
    externalId="boto-test",
    auditEvents=[
        {"id": "g1", "eventData": good[0], "eventDataChecksum": checksum},
        {"id": "g2", "eventData": good[1]},
        {"id": "g3", "eventData": good[2]},
        {"id": "b1", "eventData": good[0], "eventDataChecksum": base64.b64encode(b"0" * 32).decode()},
        {"id": "b2", "eventData": "{not json"},
        {"id": "b3", "eventData": event("boto-4", "Charge", recipientAccountId="999999999999")},
        {"id": "b4", "eventData": json.dumps({"version": "1.0", "eventName": "NoSource"})},
    ],
)
out["successful"] = sorted(r["successful"], key=lambda s: s["id"])
out["failed"] = {f["id"]: f["errorCode"] for f in r["failed"]}


def code(**kw):
    try:
        data.put_audit_events(**kw)
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


one = [{"id": "x", "eventData": good[1]}]
out["duplicate"] = code(channelArn=CHANNEL, auditEvents=one + one)
out["unknown"] = code(channelArn=CHANNEL.rsplit("/", 1)[0] + "/00000000-0000-4000-8000-000000000000", auditEvents=one)
out["malformed"] = code(channelArn="arn:aws:cloudtrail:us-east-1:%s:channel/nope" % ACCT, auditEvents=one)
print(json.dumps(out))
