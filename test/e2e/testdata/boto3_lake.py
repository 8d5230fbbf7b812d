"""Run CloudTrail Lake's store, query and import lifecycles through boto3.

The Go test TestLakeWithBoto3 sets up a node and passes, by environment
variable:

    CT_ENDPOINT                      the node's URL
    CT_ACCOUNT, CT_ACCESS_KEY_ID, CT_SECRET_ACCESS_KEY
                                     the account under test
    CT_IMPORT_BUCKET                 a bucket of the account holding
                                     CloudTrail log files in AWS's layout
    CT_IMPORT_EVENTS                 how many records those files hold

Each check that fails is reported; at the end one JSON object goes to
stdout, {"checks": N, "failures": [...]}, and the exit status is 1 when
anything failed.
"""

import json
import os
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENV = os.environ
ct = boto3.client(
    "cloudtrail",
    endpoint_url=ENV["CT_ENDPOINT"],
    region_name="us-east-1",
    aws_access_key_id=ENV["CT_ACCESS_KEY_ID"],
    aws_secret_access_key=ENV["CT_SECRET_ACCESS_KEY"],
    config=Config(retries={"max_attempts": 1}),
)
ACCT = ENV["CT_ACCOUNT"]
checks = 0
failures = []


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        failures.append(what)


def error_code(fn, **kw):
    try:
        fn(**kw)
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


def wait_query(qid):
    for _ in range(600):
        d = ct.describe_query(QueryId=qid)
        if d["QueryStatus"] not in ("QUEUED", "RUNNING"):
            return d
        time.sleep(0.05)
    raise RuntimeError("query %s did not end" % qid)


def all_rows(qid, page):
    rows, token = [], None
    while True:
        kw = {"QueryId": qid, "MaxQueryResults": page}
        if token:
            kw["NextToken"] = token
        r = ct.get_query_results(**kw)
        rows += r["QueryResultRows"]
        token = r.get("NextToken")
        if not token:
            return rows, r


# Stores.
eds = ct.create_event_data_store(Name="boto-lake", RetentionPeriod=3653, TerminationProtectionEnabled=False)
arn = eds["EventDataStoreArn"]
eid = arn.rsplit("/", 1)[1]
check(eds["Status"] == "CREATED" and eds["RetentionPeriod"] == 3653, "create: %s" % eds)
check(arn.startswith("arn:aws:cloudtrail:us-east-1:%s:eventdatastore/" % ACCT), "arn %s" % arn)
got = ct.get_event_data_store(EventDataStore=eid)
check(got["Status"] == "ENABLED" and got["Name"] == "boto-lake", "get: %s" % got)
check(got["AdvancedEventSelectors"][0]["FieldSelectors"][0] == {"Field": "eventCategory", "Equals": ["Management"]},
      "default selectors %s" % got["AdvancedEventSelectors"])
names = [s["Name"] for s in ct.list_event_data_stores()["EventDataStores"]]
check(names == ["boto-lake"], "list %s" % names)
check(error_code(ct.create_event_data_store, Name="boto-lake") == "EventDataStoreAlreadyExistsException", "duplicate name")
check(error_code(ct.create_event_data_store, Name="bad name!") == "InvalidParameterException", "bad name")
check(error_code(ct.create_event_data_store, Name="fixed-retention", BillingMode="FIXED_RETENTION_PRICING", RetentionPeriod=3000) == "InvalidParameterException", "fixed pricing beyond 2557 days")
check(error_code(ct.get_event_data_store, EventDataStore="00000000-0000-4000-8000-000000000000") == "EventDataStoreNotFoundException",
      "unknown store")
upd = ct.update_event_data_store(EventDataStore=arn, RetentionPeriod=3650)
check(upd["RetentionPeriod"] == 3650, "update %s" % upd)
ct.stop_event_data_store_ingestion(EventDataStore=eid)
check(ct.get_event_data_store(EventDataStore=eid)["Status"] == "STOPPED_INGESTION", "stopped")
check(error_code(ct.stop_event_data_store_ingestion, EventDataStore=eid) == "InvalidEventDataStoreStatusException", "stop twice")
ct.start_event_data_store_ingestion(EventDataStore=eid)
check(ct.get_event_data_store(EventDataStore=eid)["Status"] == "ENABLED", "started")

# Import.
want_events = int(ENV["CT_IMPORT_EVENTS"])
imp = ct.start_import(
    Destinations=[arn],
    ImportSource={"S3": {"S3LocationUri": "s3://%s/" % ENV["CT_IMPORT_BUCKET"], "S3BucketRegion": "us-east-1",
                         "S3BucketAccessRoleArn": "arn:aws:iam::%s:role/import" % ACCT}},
)
iid = imp["ImportId"]
check(imp["ImportStatus"] in ("INITIALIZING", "IN_PROGRESS"), "start_import %s" % imp)
for _ in range(600):
    g = ct.get_import(ImportId=iid)
    if g["ImportStatus"] not in ("INITIALIZING", "IN_PROGRESS"):
        break
    time.sleep(0.1)
check(g["ImportStatus"] == "COMPLETED", "import ended %s" % g["ImportStatus"])
check(g["ImportStatistics"]["EventsCompleted"] == want_events, "imported %s, want %d" % (g["ImportStatistics"], want_events))
check(g["ImportStatistics"]["FailedEntries"] == 0, "failures %s" % g["ImportStatistics"])
listed = ct.list_imports(Destination=arn)["Imports"]
check([i["ImportId"] for i in listed] == [iid], "list_imports %s" % listed)
check(ct.list_import_failures(ImportId=iid)["Failures"] == [], "list_import_failures")
check(error_code(ct.get_import, ImportId="00000000-0000-4000-8000-000000000000") == "ImportNotFoundException", "unknown import")
check(error_code(ct.start_import, Destinations=[arn], ImportSource={"S3": {"S3LocationUri": "s3://no-such-bucket-here/",
      "S3BucketRegion": "us-east-1", "S3BucketAccessRoleArn": "arn:aws:iam::%s:role/import" % ACCT}}) is not None, "import of no bucket")

# Queries.
q = ct.start_query(QueryStatement="SELECT eventid, eventname, eventtime FROM %s WHERE eventtime < timestamp '2025-01-01 00:00:00' ORDER BY eventtime, eventid" % eid)
d = wait_query(q["QueryId"])
check(d["QueryStatus"] == "FINISHED", "describe %s" % d)
check(d["QueryStatistics"]["EventsMatched"] == want_events, "matched %s" % d["QueryStatistics"])
check(d["QueryStatistics"]["EventsScanned"] >= want_events and d["QueryStatistics"]["BytesScanned"] > 0, "scanned %s" % d["QueryStatistics"])
rows, last = all_rows(q["QueryId"], 7)
check(len(rows) == want_events, "%d rows, want %d" % (len(rows), want_events))
check(all([list(c.keys()) for c in r] == [["eventid"], ["eventname"], ["eventtime"]] for r in rows), "row shape %s" % rows[:1])
check(len({r[0]["eventid"] for r in rows}) == want_events, "distinct ids")
check(last["QueryStatistics"]["TotalResultsCount"] == want_events, "total %s" % last["QueryStatistics"])
times = [r[2]["eventtime"] for r in rows]
check(times == sorted(times), "ordered by time")
q2 = ct.start_query(QueryStatement="SELECT count(*), max(eventname) AS last FROM %s" % eid)
wait_query(q2["QueryId"])
r2 = ct.get_query_results(QueryId=q2["QueryId"])["QueryResultRows"]
check(list(r2[0][0].keys()) == ["_col0"] and list(r2[0][1].keys()) == ["last"], "names %s" % r2)
check(int(r2[0][0]["_col0"]) >= want_events, "count %s" % r2)
listed = ct.list_queries(EventDataStore=arn)["Queries"]
check({x["QueryId"] for x in listed} >= {q["QueryId"], q2["QueryId"]}, "list_queries %s" % listed)
for bad in ("DROP TABLE %s" % eid, "SELECT * FROM read_csv('/etc/passwd')", "SELEC 1 FROM %s" % eid,
            "SELECT * FROM 00000000-0000-4000-8000-000000000000"):
    check(error_code(ct.start_query, QueryStatement=bad) == "InvalidQueryStatementException", "bad SQL %r" % bad)
check(error_code(ct.describe_query, QueryId="00000000-0000-4000-8000-000000000000") == "QueryIdNotFoundException", "unknown query")
check(error_code(ct.cancel_query, QueryId=q["QueryId"]) == "InactiveQueryException", "cancel a finished query")

# Channels.
apps = ct.create_event_data_store(
    Name="boto-apps", TerminationProtectionEnabled=False,
    AdvancedEventSelectors=[{"Name": "apps", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["ActivityAuditLog"]}]}],
)["EventDataStoreArn"]
chan = ct.create_channel(Name="boto-channel", Source="Custom", Destinations=[{"Type": "EVENT_DATA_STORE", "Location": apps}],
                         Tags=[{"Key": "team", "Value": "blue"}])
carn = chan["ChannelArn"]
check(carn.startswith("arn:aws:cloudtrail:us-east-1:%s:channel/" % ACCT) and chan["Destinations"][0]["Location"] == apps, "create_channel %s" % chan)
g = ct.get_channel(Channel=carn)
check(g["Name"] == "boto-channel" and g["Source"] == "Custom" and "IngestionStatus" in g, "get_channel %s" % g)
check([c["ChannelArn"] for c in ct.list_channels()["Channels"]] == [carn], "list_channels")
check(error_code(ct.create_channel, Name="boto-channel", Source="Custom", Destinations=[{"Type": "EVENT_DATA_STORE", "Location": apps}])
      == "ChannelAlreadyExistsException", "duplicate channel")
check(error_code(ct.create_channel, Name="to-cloudtrail-store", Source="Custom", Destinations=[{"Type": "EVENT_DATA_STORE", "Location": arn}])
      == "InvalidEventDataStoreCategoryException", "channel to a store of CloudTrail events")
check(error_code(ct.get_channel, Channel=carn.rsplit("/", 1)[0] + "/00000000-0000-4000-8000-000000000000") == "ChannelNotFoundException", "unknown channel")
u = ct.update_channel(Channel=carn, Name="boto-channel-2")
check(u["Name"] == "boto-channel-2", "update_channel %s" % u)
check(error_code(ct.delete_event_data_store, EventDataStore=apps) == "ChannelExistsForEDSException", "store of a channel")
ct.delete_channel(Channel=carn)
check(ct.list_channels()["Channels"] == [], "deleted channel")
ct.delete_event_data_store(EventDataStore=apps)

# Deletion and restore.
ct.update_event_data_store(EventDataStore=eid, TerminationProtectionEnabled=True)
check(error_code(ct.delete_event_data_store, EventDataStore=eid) == "EventDataStoreTerminationProtectedException", "protected")
ct.update_event_data_store(EventDataStore=eid, TerminationProtectionEnabled=False)
ct.delete_event_data_store(EventDataStore=eid)
check(ct.get_event_data_store(EventDataStore=eid)["Status"] == "PENDING_DELETION", "pending deletion")
check(error_code(ct.start_query, QueryStatement="SELECT count(*) FROM %s" % eid) is not None, "query on a deleted store")
r = ct.restore_event_data_store(EventDataStore=eid)
check(r["Status"] == "ENABLED", "restore %s" % r)
q3 = ct.start_query(QueryStatement="SELECT count(*) FROM %s WHERE eventtime < timestamp '2025-01-01 00:00:00'" % eid)
wait_query(q3["QueryId"])
r3 = ct.get_query_results(QueryId=q3["QueryId"])["QueryResultRows"]
check(r3 == [[{"_col0": str(want_events)}]], "after restore %s" % r3)

print(json.dumps({"checks": checks, "failures": failures}))
sys.exit(1 if failures else 0)
