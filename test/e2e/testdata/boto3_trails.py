"""Check cairn's trail API through boto3, behaviour by behaviour.

The behaviours are those moto's CloudTrail tests check (create, get,
status, start/stop, list, describe, delete, update, event and Insights
selectors, tags), held to what AWS does where moto is lenient, plus what
moto does not check at all: duplicate names, the full naming rules, the
five-trails quota, bucket, prefix, topic, KMS and CloudWatch Logs
validation, home-Region rules for shadow trails, malformed ARNs, selector
validation, tag limits, paging and organization trails.

The Go test TestTrailConformanceBoto3 sets up a node and passes, by
environment variable:

    CT_ENDPOINT                      the node's URL
    CT_ACCOUNT, CT_ACCESS_KEY_ID, CT_SECRET_ACCESS_KEY
                                     the account under test (in no organization)
    CT_MGMT_ACCOUNT, CT_MGMT_ACCESS_KEY_ID, CT_MGMT_SECRET_ACCESS_KEY
                                     an organization's management account
    CT_MEMBER_ACCOUNT, CT_MEMBER_ACCESS_KEY_ID, CT_MEMBER_SECRET_ACCESS_KEY
                                     a member of that organization
    CT_BUCKET, CT_BUCKET2            two buckets of CT_ACCOUNT
    CT_ORG_BUCKET                    a bucket of the management account
    CT_MEMBER_BUCKET                 a bucket of the member account
    CT_TOPIC                         a topic of CT_ACCOUNT in us-east-1 and
                                     in ap-southeast-2
    CT_TOPIC2                        a topic of CT_ACCOUNT in us-east-1 only

Each section runs on its own: the trails it created are deleted after
it. An assertion that fails ends its section and is reported; the others
still run. At the end one JSON object goes to stdout:

    {"checks": 490, "sections": {"create_trail_simple": 14, ...},
     "failures": [{"section": "...", "error": "..."}]}

and the exit status is 1 when anything failed.
"""

import datetime
import json
import os
import sys
import traceback

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENV = os.environ
ENDPOINT = ENV["CT_ENDPOINT"]
ACCT = ENV["CT_ACCOUNT"]
MGMT = ENV["CT_MGMT_ACCOUNT"]
MEMBER = ENV["CT_MEMBER_ACCOUNT"]
BUCKET = ENV["CT_BUCKET"]
BUCKET2 = ENV["CT_BUCKET2"]
ORG_BUCKET = ENV["CT_ORG_BUCKET"]
MEMBER_BUCKET = ENV["CT_MEMBER_BUCKET"]
TOPIC = ENV["CT_TOPIC"]
TOPIC2 = ENV["CT_TOPIC2"]

KEYS = {
    "main": (ENV["CT_ACCESS_KEY_ID"], ENV["CT_SECRET_ACCESS_KEY"]),
    "mgmt": (ENV["CT_MGMT_ACCESS_KEY_ID"], ENV["CT_MGMT_SECRET_ACCESS_KEY"]),
    "member": (ENV["CT_MEMBER_ACCESS_KEY_ID"], ENV["CT_MEMBER_SECRET_ACCESS_KEY"]),
}

# Every Region a section uses.
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-west-3", "eu-central-1", "ap-southeast-2"]

NO_BUCKET = "specificweirdbucketthatdoesnotexist"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
LOG_GROUP = "arn:aws:logs:us-east-1:%s:log-group:cairn-trail:*" % ACCT
ROLE = "arn:aws:iam::%s:role/CloudTrail_CloudWatchLogs_Role" % ACCT

# The messages cairn shares with AWS (or with moto, which copied them).
TOO_SHORT = "Trail name too short. Minimum allowed length: 3 characters. Specified name length: %d characters."
TOO_LONG = "Trail name too long. Maximum allowed length: 128 characters. Specified name length: %d characters."
MUST_START = "Trail name must starts with a letter or number."
MUST_END = "Trail name must ends with a letter or number."
CHARSET = ("Trail name or ARN can only contain uppercase letters, lowercase letters, numbers, "
           "periods (.), hyphens (-), and underscores (_).")
MULTI_NOT_GLOBAL = "Multi-Region trail must include global service events."
SNS_POLICY = "SNS Topic does not exist or the topic policy is incorrect!"
DEFAULT_SELECTORS = [{
    "ReadWriteType": "All",
    "IncludeManagementEvents": True,
    "DataResources": [],
    "ExcludeManagementEventSources": [],
}]

_clients = {}
_scopes = {}  # id of a client -> (account, Region)
_touched = set()  # (account, Region) where a trail may have been created


def ct(region="us-east-1", who="main"):
    """A CloudTrail client of one of the three accounts in region."""
    if (who, region) not in _clients:
        key, secret = KEYS[who]
        c = boto3.client(
            "cloudtrail",
            endpoint_url=ENDPOINT,
            region_name=region,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=Config(retries={"max_attempts": 1}),
        )
        _clients[(who, region)] = c
        _scopes[id(c)] = (who, region)
    return _clients[(who, region)]


def touch(call):
    """Remember where a CreateTrail call is made, for purge."""
    if call.__name__ == "create_trail":
        _touched.add(_scopes[id(call.__self__)])


def arn(name, region="us-east-1", account=ACCT):
    return "arn:aws:cloudtrail:%s:%s:trail/%s" % (region, account, name)


def unknown(name, account=ACCT):
    return "Unknown trail: %s for the user: %s" % (name, account)


def strip(resp):
    """A response without botocore's ResponseMetadata."""
    return {k: v for k, v in resp.items() if k != "ResponseMetadata"}


_names = [0]


def uniq(prefix):
    _names[0] += 1
    return "%s-%d" % (prefix, _names[0])


def create(region="us-east-1", who="main", **params):
    params.setdefault("Name", uniq("trail"))
    params.setdefault("S3BucketName", BUCKET)
    call = ct(region, who).create_trail
    touch(call)
    return strip(call(**params))


def purge():
    """Delete every trail the last section may have created, in its home
    Region."""
    for who, region in sorted(_touched):
        c = ct(region, who)
        for t in c.describe_trails(includeShadowTrails=False)["trailList"]:
            c.delete_trail(Name=t["TrailARN"])
    _touched.clear()


def purge_all():
    """Delete every trail of the three accounts in every Region used."""
    _touched.update((who, region) for who in KEYS for region in REGIONS)
    purge()


def parse_iso(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


class Run:
    """Counts checks by section and collects failures."""

    def __init__(self):
        self.checks = 0
        self.sections = {}
        self.failures = []
        self.section = ""

    def ok(self, cond, what):
        if not cond:
            raise AssertionError(what)
        self.checks += 1
        self.sections[self.section] += 1

    def eq(self, got, want, what):
        self.ok(got == want, "%s: got %r, want %r" % (what, got, want))

    def absent(self, d, key, what):
        self.ok(key not in d, "%s: %s is present (%r)" % (what, key, d.get(key)))

    def fails(self, call, code, message=None, **params):
        """Call must fail with HTTP 400, code (or one of a tuple of codes)
        and, when given, exactly message; otherwise with some message.
        Returns the error."""
        what = "%s(%s)" % (call.__name__, short(params))
        touch(call)
        try:
            call(**params)
        except ClientError as e:
            err = e.response.get("Error", {})
            codes = code if isinstance(code, tuple) else (code,)
            self.ok(err.get("Code") in codes, "%s: error %r (%r), want %s" % (what, err.get("Code"), err.get("Message"), code))
            self.eq(e.response["ResponseMetadata"]["HTTPStatusCode"], 400, what + " HTTP status")
            msg = err.get("Message", "")
            if message is not None:
                self.eq(msg, message, what + " message")
            else:
                self.ok(msg != "", what + ": empty message")
            return err
        raise AssertionError("%s succeeded; want %s" % (what, code))


def short(params):
    s = ", ".join("%s=%r" % kv for kv in params.items())
    return s if len(s) < 160 else s[:160] + "..."


R = Run()
SECTIONS = []


def section(fn):
    SECTIONS.append(fn)
    return fn


# ---------------------------------------------------------------------------
# What moto's tests check (tests/test_cloudtrail), held to AWS's behaviour.


@section
def create_trail_without_bucket():
    R.fails(ct().create_trail, "S3BucketDoesNotExistException",
            "S3 bucket %s does not exist!" % NO_BUCKET,
            Name="mytrailwithinvalidbucket", S3BucketName=NO_BUCKET)


@section
def create_trail_invalid_name():
    # Checked before the bucket, which does not exist.
    for name, msg in [
        ("a", TOO_SHORT % 1),
        ("aa", TOO_SHORT % 2),
        ("a" * 129, TOO_LONG % 129),
        ("trail!", MUST_END),
        ("my#trail", CHARSET),
        ("-trail", MUST_START),
    ]:
        R.fails(ct().create_trail, "InvalidTrailNameException", msg, Name=name, S3BucketName=NO_BUCKET)


@section
def create_trail_simple():
    name = uniq("simple")
    resp = create(Name=name)
    R.eq(resp["Name"], name, "Name")
    R.eq(resp["S3BucketName"], BUCKET, "S3BucketName")
    for k in ("S3KeyPrefix", "SnsTopicName", "SnsTopicARN", "CloudWatchLogsLogGroupArn", "CloudWatchLogsRoleArn", "KmsKeyId"):
        R.absent(resp, k, "CreateTrail of a simple trail")
    R.eq(resp["IncludeGlobalServiceEvents"], True, "IncludeGlobalServiceEvents default")
    R.eq(resp["IsMultiRegionTrail"], False, "IsMultiRegionTrail default")
    R.eq(resp["TrailARN"], arn(name), "TrailARN")
    R.eq(resp["LogFileValidationEnabled"], False, "LogFileValidationEnabled default")
    R.eq(resp["IsOrganizationTrail"], False, "IsOrganizationTrail default")
    # Creating does not start logging.
    R.eq(ct().get_trail_status(Name=name)["IsLogging"], False, "IsLogging after CreateTrail")


@section
def create_trail_multi_but_not_global():
    # Checked before the bucket, which does not exist.
    R.fails(ct().create_trail, "InvalidParameterCombinationException", MULTI_NOT_GLOBAL,
            Name="mytrail", S3BucketName=NO_BUCKET, IncludeGlobalServiceEvents=False, IsMultiRegionTrail=True)


@section
def create_trail_with_nonexisting_topic():
    R.fails(ct().create_trail, "InsufficientSnsTopicPolicyException", SNS_POLICY,
            Name=uniq("topicless"), S3BucketName=BUCKET, SnsTopicName="nonexistingtopic")


def create_advanced(region="us-east-1", name=None):
    """A trail with every optional CreateTrail field set (not an
    organization trail: see organization_trails)."""
    name = name or uniq("advanced")
    return create(
        region,
        Name=name,
        S3KeyPrefix="s3kp",
        SnsTopicName=TOPIC,
        IncludeGlobalServiceEvents=True,
        IsMultiRegionTrail=True,
        EnableLogFileValidation=True,
        IsOrganizationTrail=False,
        CloudWatchLogsLogGroupArn=LOG_GROUP,
        CloudWatchLogsRoleArn=ROLE,
        KmsKeyId=KEY_ID,
        TagsList=[{"Key": "tk", "Value": "tv"}, {"Key": "tk2", "Value": "tv2"}],
    )


def advanced_fields(name, region="us-east-1"):
    """The Trail of create_advanced, as GetTrail and DescribeTrails show it."""
    return {
        "Name": name,
        "S3BucketName": BUCKET,
        "S3KeyPrefix": "s3kp",
        "SnsTopicName": TOPIC,
        "SnsTopicARN": "arn:aws:sns:%s:%s:%s" % (region, ACCT, TOPIC),
        "IncludeGlobalServiceEvents": True,
        "IsMultiRegionTrail": True,
        "HomeRegion": region,
        "TrailARN": arn(name, region),
        "LogFileValidationEnabled": True,
        "CloudWatchLogsLogGroupArn": LOG_GROUP,
        "CloudWatchLogsRoleArn": ROLE,
        "KmsKeyId": "arn:aws:kms:%s:%s:key/%s" % (region, ACCT, KEY_ID),
        "HasCustomEventSelectors": False,
        "HasInsightSelectors": False,
        "IsOrganizationTrail": False,
    }


def simple_fields(name, region="us-east-1", bucket=BUCKET):
    return {
        "Name": name,
        "S3BucketName": bucket,
        "IncludeGlobalServiceEvents": True,
        "IsMultiRegionTrail": False,
        "HomeRegion": region,
        "TrailARN": arn(name, region),
        "LogFileValidationEnabled": False,
        "HasCustomEventSelectors": False,
        "HasInsightSelectors": False,
        "IsOrganizationTrail": False,
    }


@section
def create_trail_advanced():
    name = uniq("advanced")
    resp = create_advanced(name=name)
    want = advanced_fields(name)
    for k in ("HomeRegion", "HasCustomEventSelectors", "HasInsightSelectors"):
        del want[k]  # not members of CreateTrail's answer
    R.eq(resp, want, "CreateTrail answer")
    R.eq(strip(ct().get_trail(Name=name))["Trail"], advanced_fields(name), "GetTrail")
    tags = ct().list_tags(ResourceIdList=[arn(name)])["ResourceTagList"]
    R.eq(tags, [{"ResourceId": arn(name), "TagsList": [{"Key": "tk", "Value": "tv"}, {"Key": "tk2", "Value": "tv2"}]}], "ListTags")


@section
def get_trail_with_one_char():
    R.fails(ct().get_trail, "InvalidTrailNameException", TOO_SHORT % 1, Name="?")


@section
def get_trail_unknown():
    R.fails(ct().get_trail, "TrailNotFoundException", unknown("unknowntrail"), Name="unknowntrail")


@section
def get_trail():
    first = create()["Name"]
    name = create()["Name"]
    t = ct().get_trail(Name=name)["Trail"]
    R.eq(t["Name"], name, "Name")
    R.eq(t["IncludeGlobalServiceEvents"], True, "IncludeGlobalServiceEvents")
    R.eq(t["IsMultiRegionTrail"], False, "IsMultiRegionTrail")
    R.eq(t["TrailARN"], arn(name), "TrailARN")
    R.eq(t["HomeRegion"], "us-east-1", "HomeRegion")
    R.eq(ct().get_trail(Name=arn(first))["Trail"]["Name"], first, "GetTrail by ARN")


@section
def get_trail_status_with_one_char():
    R.fails(ct().get_trail_status, "InvalidTrailNameException", TOO_SHORT % 1, Name="?")


@section
def get_trail_status_unknown_trail():
    R.fails(ct().get_trail_status, "TrailNotFoundException", unknown(arn("unknowntrail")), Name="unknowntrail")


def check_inactive(status, what):
    R.eq(status["IsLogging"], False, what + " IsLogging")
    for k in ("LatestDeliveryAttemptTime", "LatestNotificationAttemptTime", "LatestNotificationAttemptSucceeded",
              "LatestDeliveryAttemptSucceeded", "TimeLoggingStarted", "TimeLoggingStopped"):
        R.eq(status.get(k), "", "%s %s" % (what, k))
    for k in ("StartLoggingTime", "StopLoggingTime", "LatestDeliveryTime", "LatestDeliveryError"):
        R.absent(status, k, what)


@section
def get_trail_status_inactive():
    name = create()["Name"]
    check_inactive(ct().get_trail_status(Name=name), "status by name")
    check_inactive(ct().get_trail_status(Name=arn(name)), "status by ARN")


@section
def start_and_stop_logging_by_arn():
    name = create()["Name"]
    R.eq(strip(ct().start_logging(Name=arn(name))), {}, "StartLogging answer")
    R.eq(ct().get_trail_status(Name=name)["IsLogging"], True, "IsLogging after StartLogging by ARN")
    R.eq(strip(ct().stop_logging(Name=arn(name))), {}, "StopLogging answer")
    R.eq(ct().get_trail_status(Name=name)["IsLogging"], False, "IsLogging after StopLogging by ARN")


@section
def start_logging_unknown_trail():
    err = R.fails(ct().start_logging, "TrailNotFoundException", Name="unknowntrail")
    R.ok(err["Message"].startswith("Unknown trail: ") and "unknowntrail" in err["Message"], "StartLogging message %r" % err["Message"])
    R.fails(ct().stop_logging, "TrailNotFoundException", Name="unknowntrail")


def check_time(t, before, after, what):
    R.ok(isinstance(t, datetime.datetime), "%s is %r, not a timestamp" % (what, t))
    R.ok(before - 5 <= t.timestamp() <= after + 5, "%s %s is not between %s and %s" % (what, t, before, after))


@section
def get_trail_status_after_starting_and_stopping():
    c = ct("eu-west-3")
    name = create("eu-west-3")["Name"]
    before = datetime.datetime.now(datetime.timezone.utc).timestamp()
    c.start_logging(Name=name)
    after = datetime.datetime.now(datetime.timezone.utc).timestamp()
    s = c.get_trail_status(Name=name)
    R.eq(s["IsLogging"], True, "IsLogging after starting")
    check_time(s.get("StartLoggingTime"), before, after, "StartLoggingTime")
    R.eq(parse_iso(s["TimeLoggingStarted"]).timestamp(), float(int(s["StartLoggingTime"].timestamp())),
         "TimeLoggingStarted against StartLoggingTime")
    R.absent(s, "StopLoggingTime", "status after starting")
    R.eq(s.get("TimeLoggingStopped", ""), "", "TimeLoggingStopped after starting")
    # Nothing need have been delivered yet; once something is, it is a time.
    if "LatestDeliveryTime" in s:
        check_time(s["LatestDeliveryTime"], before, datetime.datetime.now(datetime.timezone.utc).timestamp(), "LatestDeliveryTime")
    started = s["StartLoggingTime"]

    before = datetime.datetime.now(datetime.timezone.utc).timestamp()
    c.stop_logging(Name=name)
    after = datetime.datetime.now(datetime.timezone.utc).timestamp()
    s = c.get_trail_status(Name=name)
    R.eq(s["IsLogging"], False, "IsLogging after stopping")
    check_time(s.get("StopLoggingTime"), before, after, "StopLoggingTime")
    R.ok(s["StopLoggingTime"] >= started, "StopLoggingTime before StartLoggingTime")
    R.eq(s.get("StartLoggingTime"), started, "StartLoggingTime after stopping")
    R.eq(parse_iso(s["TimeLoggingStopped"]).timestamp(), float(int(s["StopLoggingTime"].timestamp())),
         "TimeLoggingStopped against StopLoggingTime")
    R.eq(parse_iso(s["TimeLoggingStarted"]).timestamp(), float(int(started.timestamp())), "TimeLoggingStarted after stopping")


@section
def get_trail_status_multi_region_not_from_the_home_region():
    name = create_advanced("ap-southeast-2")["Name"]
    a = arn(name, "ap-southeast-2")
    ct("ap-southeast-2").start_logging(Name=name)
    R.eq(ct("eu-west-1").get_trail_status(Name=a)["IsLogging"], True, "status of a multi-Region trail from a shadow Region")
    trails = ct("eu-west-1").describe_trails()["trailList"]
    R.eq([t["TrailARN"] for t in trails], [a], "eu-west-1 sees the shadow")
    # By name it is unknown outside its home.
    R.fails(ct("eu-west-1").get_trail_status, "TrailNotFoundException", unknown(arn(name, "eu-west-1")), Name=name)


@section
def list_trails_different_home_region_one_multiregion():
    create("ap-southeast-2")
    name = create_advanced("ap-southeast-2")["Name"]
    create("eu-west-1")
    trails = ct("eu-west-3").list_trails()["Trails"]
    R.eq(trails, [{"TrailARN": arn(name, "ap-southeast-2"), "Name": name, "HomeRegion": "ap-southeast-2"}],
         "ListTrails in eu-west-3")


@section
def list_trails_different_home_region_no_multiregion():
    create("ap-southeast-2")
    R.eq(ct("eu-west-3").list_trails()["Trails"], [], "ListTrails in eu-west-3")


def three_trails():
    """moto's set: a simple and an advanced (multi-Region) trail in
    us-east-1, a simple one in eu-west-1."""
    t1 = create()["Name"]
    t2 = create_advanced()["Name"]
    t3 = create("eu-west-1")["Name"]
    return t1, t2, t3


@section
def describe_trails_without_shadowtrails():
    t1, t2, _ = three_trails()
    trails = ct().describe_trails()["trailList"]
    R.eq(len(trails), 2, "trails in us-east-1")
    by_name = {t["Name"]: t for t in trails}
    R.eq(by_name.get(t1), simple_fields(t1), "simple trail")
    R.eq(by_name.get(t2), advanced_fields(t2), "advanced trail")


@section
def describe_trails_with_shadowtrails_true():
    t1, t2, t3 = three_trails()
    east = ct().describe_trails(includeShadowTrails=True)["trailList"]
    R.eq(sorted(t["Name"] for t in east), sorted([t1, t2]), "us-east-1")
    west = ct("eu-west-1").describe_trails(includeShadowTrails=True)["trailList"]
    R.eq(sorted(t["Name"] for t in west), sorted([t2, t3]), "eu-west-1")
    shadow = [t for t in west if t["Name"] == t2][0]
    R.eq(shadow, advanced_fields(t2), "the shadow keeps its home ARN and Region")


@section
def describe_trails_with_shadowtrails_false():
    t1, t2, t3 = three_trails()
    R.eq([t["Name"] for t in ct().describe_trails(includeShadowTrails=False)["trailList"]], [t1, t2],
         "us-east-1, in creation order")
    R.eq([t["Name"] for t in ct("eu-west-1").describe_trails(includeShadowTrails=False)["trailList"]], [t3],
         "eu-west-1")


@section
def delete_trail():
    name = create()["Name"]
    R.eq(len(ct().describe_trails()["trailList"]), 1, "trails before DeleteTrail")
    R.eq(strip(ct().delete_trail(Name=name)), {}, "DeleteTrail answer")
    R.eq(len(ct().describe_trails()["trailList"]), 0, "trails after DeleteTrail")


@section
def update_trail_simple():
    name = create()["Name"]
    before = strip(ct().get_trail(Name=name))
    resp = strip(ct().update_trail(Name=name))
    want = simple_fields(name)
    for k in ("HomeRegion", "HasCustomEventSelectors", "HasInsightSelectors"):
        del want[k]
    R.eq(resp, want, "UpdateTrail answer")
    R.eq(strip(ct().get_trail(Name=name)), before, "GetTrail after a no-op UpdateTrail")


@section
def update_trail_full():
    name = create()["Name"]
    key_arn = "arn:aws:kms:us-east-1:%s:key/%s" % (ACCT, KEY_ID)
    resp = strip(ct().update_trail(
        Name=name,
        S3BucketName=BUCKET2,
        S3KeyPrefix="s3kp",
        SnsTopicName=TOPIC2,
        IncludeGlobalServiceEvents=True,
        IsMultiRegionTrail=True,
        EnableLogFileValidation=True,
        CloudWatchLogsLogGroupArn=LOG_GROUP,
        CloudWatchLogsRoleArn=ROLE,
        KmsKeyId=key_arn,
    ))
    want = {
        "Name": name, "S3BucketName": BUCKET2, "S3KeyPrefix": "s3kp", "SnsTopicName": TOPIC2,
        "SnsTopicARN": "arn:aws:sns:us-east-1:%s:%s" % (ACCT, TOPIC2), "IncludeGlobalServiceEvents": True,
        "IsMultiRegionTrail": True, "TrailARN": arn(name), "LogFileValidationEnabled": True,
        "CloudWatchLogsLogGroupArn": LOG_GROUP, "CloudWatchLogsRoleArn": ROLE, "KmsKeyId": key_arn,
        "IsOrganizationTrail": False,
    }
    R.eq(resp, want, "UpdateTrail answer")
    got = ct().get_trail(Name=name)["Trail"]
    want.update({"HomeRegion": "us-east-1", "HasCustomEventSelectors": False, "HasInsightSelectors": False})
    R.eq(got, want, "GetTrail after UpdateTrail")
    # Now multi-Region, the trail has a shadow elsewhere.
    R.eq([t["TrailARN"] for t in ct("eu-west-1").list_trails()["Trails"]], [arn(name)], "shadow after UpdateTrail")
    # Dropping global events alone conflicts with multi-Region.
    R.fails(ct().update_trail, "InvalidParameterCombinationException", MULTI_NOT_GLOBAL,
            Name=name, IncludeGlobalServiceEvents=False)
    resp = ct().update_trail(Name=name, IsMultiRegionTrail=False, IncludeGlobalServiceEvents=False)
    R.eq((resp["IsMultiRegionTrail"], resp["IncludeGlobalServiceEvents"]), (False, False), "back to a single Region")
    R.eq(ct("eu-west-1").list_trails()["Trails"], [], "no shadow after UpdateTrail to one Region")


BASIC = [{
    "ReadWriteType": "All",
    "IncludeManagementEvents": True,
    "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::%s/" % BUCKET]}],
}]

ADVANCED = [{
    "Name": "S3 object writes",
    "FieldSelectors": [
        {"Field": "eventCategory", "Equals": ["Data"]},
        {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
        {"Field": "readOnly", "Equals": ["false"]},
    ],
}]


def check_basic(got, what):
    R.eq(len(got), 1, what + ": selectors")
    s = got[0]
    for k, v in BASIC[0].items():
        R.eq(s.get(k), v, "%s: %s" % (what, k))
    R.eq(s.get("ExcludeManagementEventSources", []), [], what + ": ExcludeManagementEventSources")


@section
def put_event_selectors():
    name = create()["Name"]
    resp = strip(ct().put_event_selectors(TrailName=name, EventSelectors=BASIC))
    R.eq(resp["TrailARN"], arn(name), "TrailARN")
    check_basic(resp["EventSelectors"], "PutEventSelectors answer")
    R.absent(resp, "AdvancedEventSelectors", "PutEventSelectors answer")


@section
def put_event_selectors_basic_and_advanced():
    # moto stores one and echoes both; AWS takes either, not both.
    name = create()["Name"]
    R.fails(ct().put_event_selectors, "InvalidParameterCombinationException",
            TrailName=name, EventSelectors=BASIC, AdvancedEventSelectors=ADVANCED)
    R.eq(strip(ct().get_event_selectors(TrailName=name))["EventSelectors"], DEFAULT_SELECTORS, "selectors unchanged")


@section
def get_event_selectors_empty():
    name = create()["Name"]
    resp = strip(ct().get_event_selectors(TrailName=name))
    R.eq(resp, {"TrailARN": arn(name), "EventSelectors": DEFAULT_SELECTORS}, "GetEventSelectors of a new trail")
    R.eq(strip(ct().get_event_selectors(TrailName=arn(name))), resp, "GetEventSelectors by ARN")


@section
def get_event_selectors():
    name = create()["Name"]
    ct().put_event_selectors(TrailName=name, EventSelectors=BASIC)
    resp = strip(ct().get_event_selectors(TrailName=name))
    R.eq(resp["TrailARN"], arn(name), "TrailARN")
    check_basic(resp["EventSelectors"], "GetEventSelectors")
    R.absent(resp, "AdvancedEventSelectors", "GetEventSelectors")


@section
def get_event_selectors_multiple():
    name = create()["Name"]
    ct().put_event_selectors(TrailName=name, EventSelectors=BASIC)
    resp = strip(ct().put_event_selectors(TrailName=name, AdvancedEventSelectors=ADVANCED))
    R.eq(resp.get("AdvancedEventSelectors"), ADVANCED, "PutEventSelectors answer")
    resp = strip(ct().get_event_selectors(TrailName=name))
    R.eq(resp.get("AdvancedEventSelectors"), ADVANCED, "advanced selectors replace basic ones")
    R.ok(not resp.get("EventSelectors"), "basic selectors are gone: %r" % resp.get("EventSelectors"))
    # And back: basic ones replace advanced ones.
    ct().put_event_selectors(TrailName=name, EventSelectors=BASIC)
    resp = strip(ct().get_event_selectors(TrailName=name))
    check_basic(resp["EventSelectors"], "basic after advanced")
    R.ok(not resp.get("AdvancedEventSelectors"), "advanced selectors are gone")


@section
def put_insight_selectors():
    for by_arn in (True, False):
        name = create()["Name"]
        ref = arn(name) if by_arn else name
        resp = strip(ct().put_insight_selectors(TrailName=ref, InsightSelectors=[{"InsightType": "ApiCallRateInsight"}]))
        R.eq(resp["TrailARN"], arn(name), "PutInsightSelectors TrailARN")
        R.eq([s["InsightType"] for s in resp["InsightSelectors"]], ["ApiCallRateInsight"], "PutInsightSelectors answer")
        resp = strip(ct().get_insight_selectors(TrailName=ref))
        R.eq(resp["TrailARN"], arn(name), "GetInsightSelectors TrailARN")
        R.eq([s["InsightType"] for s in resp["InsightSelectors"]], ["ApiCallRateInsight"], "GetInsightSelectors")


@section
def get_insight_selectors_not_enabled():
    # moto answers without InsightSelectors; AWS refuses.
    name = create()["Name"]
    R.fails(ct().get_insight_selectors, "InsightNotEnabledException", TrailName=name)


@section
def add_tags():
    name = create()["Name"]
    R.eq(strip(ct().add_tags(ResourceId=arn(name), TagsList=[{"Key": "k1", "Value": "v1"}])), {}, "AddTags answer")
    R.eq(ct().list_tags(ResourceIdList=[arn(name)])["ResourceTagList"],
         [{"ResourceId": arn(name), "TagsList": [{"Key": "k1", "Value": "v1"}]}], "ListTags")


@section
def remove_tags():
    name = create_advanced()["Name"]
    ct().add_tags(ResourceId=arn(name), TagsList=[{"Key": "tk3", "Value": "tv3"}])
    R.eq(strip(ct().remove_tags(ResourceId=arn(name), TagsList=[{"Key": "tk2", "Value": "tv2"}])), {}, "RemoveTags answer")
    R.eq(ct().list_tags(ResourceIdList=[arn(name)])["ResourceTagList"][0]["TagsList"],
         [{"Key": "tk", "Value": "tv"}, {"Key": "tk3", "Value": "tv3"}], "tags left, in the order added")


@section
def create_trail_without_tags_and_list_tags():
    name = create()["Name"]
    R.eq(ct().list_tags(ResourceIdList=[arn(name)])["ResourceTagList"],
         [{"ResourceId": arn(name), "TagsList": []}], "ListTags of an untagged trail")


@section
def create_trail_with_tags_and_list_tags():
    name = create_advanced()["Name"]
    R.eq(ct().list_tags(ResourceIdList=[arn(name)])["ResourceTagList"],
         [{"ResourceId": arn(name), "TagsList": [{"Key": "tk", "Value": "tv"}, {"Key": "tk2", "Value": "tv2"}]}],
         "ListTags")


# ---------------------------------------------------------------------------
# What moto does not enforce or gets wrong, as AWS does it.


@section
def trail_already_exists():
    name = create()["Name"]
    R.fails(ct().create_trail, "TrailAlreadyExistsException",
            "Trail %s already exists for customer: %s" % (name, ACCT), Name=name, S3BucketName=BUCKET)
    # Names are per Region: another Region may hold the same name.
    R.eq(create("eu-west-1", Name=name)["TrailARN"], arn(name, "eu-west-1"), "the same name in another Region")
    R.eq(ct().get_trail(Name=name)["Trail"]["HomeRegion"], "us-east-1", "the first trail is untouched")


@section
def trail_name_rules():
    for name in ("my--trail", "my-_trail", "my._trail", "my..trail", "my__trail", "192.168.5.4"):
        R.fails(ct().create_trail, "InvalidTrailNameException", Name=name, S3BucketName=BUCKET)
    for name in ("abc", "A" * 128, "my.trail_name-1", "192.168.5"):
        R.eq(create(Name=name)["Name"], name, "valid name " + name[:20])


@section
def five_trails_per_region():
    region = "eu-central-1"
    names = [create(region)["Name"] for _ in range(5)]
    R.fails(ct(region).create_trail, "MaximumNumberOfTrailsExceededException",
            "User: %s already has 5 trails in %s." % (ACCT, region), Name=uniq("sixth"), S3BucketName=BUCKET)
    # Another Region is not full.
    create("eu-west-1")
    # A multi-Region trail homed elsewhere counts where it has a shadow.
    ct(region).delete_trail(Name=names[0])
    create("eu-west-3", IsMultiRegionTrail=True)
    R.fails(ct(region).create_trail, "MaximumNumberOfTrailsExceededException", Name=uniq("sixth"), S3BucketName=BUCKET)


@section
def five_trails_per_region_with_new_shadows():
    # Shadows count in every Region (the quota's own note: "In shadow
    # Regions, to get latest resource count metric, call the ListTrails
    # API"), so a multi-Region trail cannot push a full Region past five.
    for _ in range(5):
        create("eu-central-1")
    R.fails(ct().create_trail, "MaximumNumberOfTrailsExceededException",
            Name=uniq("everywhere"), S3BucketName=BUCKET, IsMultiRegionTrail=True)
    name = create()["Name"]
    R.fails(ct().update_trail, "MaximumNumberOfTrailsExceededException", Name=name, IsMultiRegionTrail=True)
    R.eq(len(ct("eu-central-1").list_trails()["Trails"]), 5, "trails in eu-central-1")


@section
def bucket_validation():
    for bad in ("Invalid_Bucket", "ab", "bucket..name", "-bucket"):
        R.fails(ct().create_trail, "InvalidS3BucketNameException", Name=uniq("badbucket"), S3BucketName=bad)
    R.fails(ct().create_trail, "InvalidS3PrefixException", Name=uniq("longprefix"), S3BucketName=BUCKET, S3KeyPrefix="p" * 201)
    R.eq(create(S3KeyPrefix="p" * 200)["S3KeyPrefix"], "p" * 200, "a 200-character prefix")
    R.eq(create(S3KeyPrefix="a/b")["S3KeyPrefix"], "a/b", "a prefix with a slash")
    R.fails(ct().create_trail, "InsufficientS3BucketPolicyException",
            "Incorrect S3 bucket policy is detected for bucket: %s" % ORG_BUCKET, Name=uniq("foreign"), S3BucketName=ORG_BUCKET)


@section
def topic_validation():
    for bad in ("x.fifo", "bad topic!", "a" * 257):
        R.fails(ct().create_trail, "InvalidSnsTopicNameException", Name=uniq("badtopic"), S3BucketName=BUCKET, SnsTopicName=bad)
    topic_arn = "arn:aws:sns:us-east-1:%s:%s" % (ACCT, TOPIC)
    resp = create(SnsTopicName=topic_arn)
    R.eq(resp["SnsTopicARN"], topic_arn, "SnsTopicARN of a topic given by ARN")
    # A trail publishes only to a topic of its own Region.
    R.fails(ct("ap-southeast-2").create_trail, "InsufficientSnsTopicPolicyException", SNS_POLICY,
            Name=uniq("farTopic"), S3BucketName=BUCKET, SnsTopicName=TOPIC2)
    R.fails(ct("ap-southeast-2").create_trail, "InsufficientSnsTopicPolicyException", SNS_POLICY,
            Name=uniq("farTopic"), S3BucketName=BUCKET, SnsTopicName=topic_arn)
    R.eq(create("ap-southeast-2", SnsTopicName=TOPIC)["SnsTopicARN"], "arn:aws:sns:ap-southeast-2:%s:%s" % (ACCT, TOPIC),
         "the Region's own topic of that name")


@section
def kms_key_validation():
    R.fails(ct().create_trail, "InvalidKmsKeyIdException", Name=uniq("kms"), S3BucketName=BUCKET, KmsKeyId="kki")
    key_arn = "arn:aws:kms:us-east-1:%s:key/%s" % (ACCT, KEY_ID)
    R.eq(create(KmsKeyId=KEY_ID)["KmsKeyId"], key_arn, "a key ID is echoed as its ARN")
    R.eq(create(KmsKeyId=key_arn)["KmsKeyId"], key_arn, "a key ARN is echoed")
    alias = create(KmsKeyId="alias/cairn-trails")["KmsKeyId"]
    R.ok(alias.startswith("arn:aws:kms:us-east-1:%s:" % ACCT), "an alias is echoed as an ARN: %r" % alias)


@section
def cloudwatch_logs_validation():
    R.fails(ct().create_trail, "InvalidCloudWatchLogsLogGroupArnException", Name=uniq("cw"), S3BucketName=BUCKET,
            CloudWatchLogsLogGroupArn="cwllga", CloudWatchLogsRoleArn=ROLE)
    R.fails(ct().create_trail, "InvalidCloudWatchLogsRoleArnException", Name=uniq("cw"), S3BucketName=BUCKET,
            CloudWatchLogsLogGroupArn=LOG_GROUP, CloudWatchLogsRoleArn="cwlra")
    # The log group is required with a role, and the other way round.
    R.fails(ct().create_trail, "InvalidCloudWatchLogsLogGroupArnException", Name=uniq("cw"), S3BucketName=BUCKET,
            CloudWatchLogsRoleArn=ROLE)
    R.fails(ct().create_trail, ("InvalidCloudWatchLogsRoleArnException", "InvalidCloudWatchLogsLogGroupArnException"),
            Name=uniq("cw"), S3BucketName=BUCKET, CloudWatchLogsLogGroupArn=LOG_GROUP)


@section
def update_trail_validation():
    name = create()["Name"]
    R.fails(ct().update_trail, "S3BucketDoesNotExistException", "S3 bucket %s does not exist!" % NO_BUCKET,
            Name=name, S3BucketName=NO_BUCKET)
    R.fails(ct().update_trail, "InvalidParameterCombinationException", MULTI_NOT_GLOBAL,
            Name=name, IsMultiRegionTrail=True, IncludeGlobalServiceEvents=False)
    R.fails(ct().update_trail, "InsufficientSnsTopicPolicyException", SNS_POLICY, Name=name, SnsTopicName="nonexistingtopic")
    R.fails(ct().update_trail, "InvalidS3PrefixException", Name=name, S3KeyPrefix="p" * 201)
    R.fails(ct().update_trail, "InvalidKmsKeyIdException", Name=name, KmsKeyId="kki")
    R.fails(ct().update_trail, "OrganizationsNotInUseException", Name=name, IsOrganizationTrail=True)
    R.fails(ct().update_trail, "TrailNotFoundException", unknown("nosuchtrail"), Name="nosuchtrail")
    R.fails(ct().update_trail, "InvalidTrailNameException", TOO_SHORT % 2, Name="ab")
    # Nothing of the refused updates stuck.
    R.eq(ct().get_trail(Name=name)["Trail"], simple_fields(name), "GetTrail after refused updates")


@section
def delete_trail_rules():
    err = R.fails(ct().delete_trail, "TrailNotFoundException", Name="nosuchtrail")
    R.ok(err["Message"].startswith("Unknown trail: ") and "nosuchtrail" in err["Message"], "DeleteTrail message %r" % err["Message"])
    name = create(TagsList=[{"Key": "team", "Value": "audit"}])["Name"]
    ct().delete_trail(Name=arn(name))
    R.eq(ct().describe_trails()["trailList"], [], "DeleteTrail by ARN")
    R.fails(ct().get_trail, "TrailNotFoundException", unknown(name), Name=name)
    # The tags went with the trail: a new trail of that name has none.
    create(Name=name)
    R.eq(ct().list_tags(ResourceIdList=[arn(name)])["ResourceTagList"][0]["TagsList"], [], "tags of a re-created trail")


@section
def describe_trails_name_list():
    local = create()["Name"]
    everywhere = create("us-west-2", IsMultiRegionTrail=True)["Name"]
    create("us-west-2")
    c = ct()

    def names(lst, **kw):
        return sorted(t["TrailARN"] for t in c.describe_trails(trailNameList=lst, **kw)["trailList"])

    R.eq(names([local]), [arn(local)], "a name of this Region")
    R.eq(names([arn(local)]), [arn(local)], "an ARN of this Region")
    R.eq(names([everywhere]), [], "a name of a shadow (names are this Region's only)")
    R.eq(names([arn(everywhere, "us-west-2")]), [arn(everywhere, "us-west-2")], "the ARN of a shadow")
    R.eq(names(["nosuchtrail"]), [], "an unknown name is left out")
    R.eq(names([arn("nosuchtrail")]), [], "an unknown ARN is left out")
    R.eq(names([local, "nosuchtrail", arn(everywhere, "us-west-2")]), sorted([arn(local), arn(everywhere, "us-west-2")]),
         "a mixed list")
    R.eq(names([local, arn(local)]), [arn(local)], "a trail named twice is described once")


def shadow_trail():
    """A multi-Region trail homed in us-west-2, seen from us-east-1."""
    name = create("us-west-2", IsMultiRegionTrail=True, TagsList=[{"Key": "k", "Value": "v"}])["Name"]
    return name, arn(name, "us-west-2")


@section
def shadow_trails_change_only_at_home():
    name, a = shadow_trail()
    c = ct()
    for call, params in [
        (c.update_trail, {"Name": a, "S3KeyPrefix": "x"}),
        (c.delete_trail, {"Name": a}),
        (c.start_logging, {"Name": a}),
        (c.stop_logging, {"Name": a}),
        (c.put_event_selectors, {"TrailName": a, "EventSelectors": BASIC}),
        (c.put_insight_selectors, {"TrailName": a, "InsightSelectors": [{"InsightType": "ApiCallRateInsight"}]}),
        (c.add_tags, {"ResourceId": a, "TagsList": [{"Key": "k2", "Value": "v2"}]}),
        (c.remove_tags, {"ResourceId": a, "TagsList": [{"Key": "k"}]}),
    ]:
        R.fails(call, "InvalidHomeRegionException", **params)
    # Reads by ARN work from the shadow's Region.
    t = c.get_trail(Name=a)["Trail"]
    R.eq((t["Name"], t["HomeRegion"], t["TrailARN"]), (name, "us-west-2", a), "GetTrail of a shadow by ARN")
    R.eq(c.get_trail_status(Name=a)["IsLogging"], False, "GetTrailStatus of a shadow by ARN")
    R.eq(c.get_event_selectors(TrailName=a)["TrailARN"], a, "GetEventSelectors of a shadow by ARN")
    # By name, the shadow is unknown outside its home.
    R.fails(c.get_trail, "TrailNotFoundException", unknown(name), Name=name)
    R.fails(c.delete_trail, "TrailNotFoundException", Name=name)
    # Nothing changed; at home the same calls work.
    home = ct("us-west-2")
    R.eq(home.get_trail(Name=name)["Trail"].get("S3KeyPrefix"), None, "the shadow's refused update did not stick")
    home.start_logging(Name=a)
    R.eq(c.get_trail_status(Name=a)["IsLogging"], True, "logging started at home, seen from the shadow")
    home.delete_trail(Name=name)
    R.eq(c.describe_trails()["trailList"], [], "the shadow goes with its trail")


@section
def arn_validation():
    c = ct()
    for bad in ("arn:aws:cloudtrail:us-east-1:123:trail/foo", "arn:aws:s3:::bucket", "arn:aws:cloudtrail:us-east-1:%s:foo" % ACCT):
        R.fails(c.get_trail, "CloudTrailARNInvalidException", Name=bad)
    R.fails(c.add_tags, "CloudTrailARNInvalidException", ResourceId="not-an-arn", TagsList=[{"Key": "k", "Value": "v"}])
    R.fails(c.list_tags, "CloudTrailARNInvalidException", ResourceIdList=["not-an-arn"])
    # A single-Region trail's ARN, used in another Region.
    name = create("us-west-2")["Name"]
    a = arn(name, "us-west-2")
    wrong = "Region in ARN is wrong, you can only access resources in region us-east-1."
    R.fails(c.get_trail, "CloudTrailARNInvalidException", wrong, Name=a)
    R.fails(c.get_trail_status, "CloudTrailARNInvalidException", wrong, Name=a)
    R.fails(c.start_logging, "CloudTrailARNInvalidException", wrong, Name=a)
    R.fails(c.get_event_selectors, "CloudTrailARNInvalidException", wrong, TrailName=a)
    R.fails(c.delete_trail, "CloudTrailARNInvalidException", wrong, Name=a)
    # A well-formed ARN of nothing.
    R.fails(c.get_trail, "TrailNotFoundException", unknown(arn("nosuchtrail")), Name=arn("nosuchtrail"))
    # Another account's trail.
    other = create(who="mgmt", S3BucketName=ORG_BUCKET)["Name"]
    R.fails(c.get_trail, ("TrailNotFoundException", "CloudTrailARNInvalidException"), Name=arn(other, account=MGMT))


@section
def has_selectors_flags():
    name = create()["Name"]
    t = ct().get_trail(Name=name)["Trail"]
    R.eq((t["HasCustomEventSelectors"], t["HasInsightSelectors"], t["HomeRegion"]), (False, False, "us-east-1"),
         "flags of a new trail")
    ct().put_event_selectors(TrailName=name, EventSelectors=[{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}])
    ct().put_insight_selectors(TrailName=name, InsightSelectors=[{"InsightType": "ApiCallRateInsight"}])
    t = ct().get_trail(Name=name)["Trail"]
    R.eq((t["HasCustomEventSelectors"], t["HasInsightSelectors"]), (True, True), "flags after the puts (GetTrail)")
    t = ct().describe_trails(trailNameList=[name])["trailList"][0]
    R.eq((t["HasCustomEventSelectors"], t["HasInsightSelectors"]), (True, True), "flags after the puts (DescribeTrails)")
    ct().put_event_selectors(TrailName=name, AdvancedEventSelectors=[
        {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}])
    R.eq(ct().get_trail(Name=name)["Trail"]["HasCustomEventSelectors"], True, "HasCustomEventSelectors with advanced selectors")


@section
def insight_selectors_replace_and_disable():
    name = create()["Name"]
    c = ct()
    c.put_insight_selectors(TrailName=name, InsightSelectors=[{"InsightType": "ApiCallRateInsight"}])
    c.put_insight_selectors(TrailName=name, InsightSelectors=[{"InsightType": "ApiErrorRateInsight"}])
    R.eq([s["InsightType"] for s in c.get_insight_selectors(TrailName=name)["InsightSelectors"]],
         ["ApiErrorRateInsight"], "a put replaces the Insights types")
    c.put_insight_selectors(TrailName=name, InsightSelectors=[{"InsightType": "ApiCallRateInsight"}, {"InsightType": "ApiErrorRateInsight"}])
    R.eq(sorted(s["InsightType"] for s in c.get_insight_selectors(TrailName=name)["InsightSelectors"]),
         ["ApiCallRateInsight", "ApiErrorRateInsight"], "both types")
    resp = strip(c.put_insight_selectors(TrailName=name, InsightSelectors=[]))
    R.eq(resp.get("InsightSelectors", []), [], "PutInsightSelectors with an empty list")
    R.fails(c.get_insight_selectors, "InsightNotEnabledException", TrailName=name)
    R.eq(c.get_trail(Name=name)["Trail"]["HasInsightSelectors"], False, "HasInsightSelectors after disabling")
    R.fails(c.put_insight_selectors, "InvalidInsightSelectorsException", TrailName=name,
            InsightSelectors=[{"InsightType": "ApiFooInsight"}])
    R.fails(c.get_insight_selectors, "InsightNotEnabledException", TrailName=name)
    # API call rate Insights need write management events to analyze.
    c.put_event_selectors(TrailName=name, EventSelectors=[{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}])
    R.fails(c.put_insight_selectors, "InvalidInsightSelectorsException", TrailName=name,
            InsightSelectors=[{"InsightType": "ApiCallRateInsight"}])


@section
def event_selectors_validation():
    name = create()["Name"]
    c = ct()
    R.fails(c.put_event_selectors, "InvalidEventSelectorsException", TrailName=name,
            EventSelectors=[{"ReadWriteType": "read-only", "IncludeManagementEvents": True}])
    R.fails(c.put_event_selectors, "InvalidEventSelectorsException", TrailName=name,
            EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": True}] * 6)
    R.fails(c.put_event_selectors, "InvalidEventSelectorsException", TrailName=name,
            AdvancedEventSelectors=[{"Name": "aes1", "FieldSelectors": [{"Field": "f", "Equals": ["fs1"]}]}])
    R.fails(c.put_event_selectors, "InvalidEventSelectorsException", TrailName=name,
            AdvancedEventSelectors=[{"FieldSelectors": [{"Field": "resources.type", "Equals": ["AWS::S3::Object"]}]}])
    R.fails(c.put_event_selectors, "InvalidEventSelectorsException", TrailName=name,
            EventSelectors=[{"ReadWriteType": "All", "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::*/*"]}]}])
    R.fails(c.put_event_selectors, "TrailNotFoundException", TrailName="nosuchtrail", EventSelectors=BASIC)
    # Five are fine, and nothing refused stuck.
    R.eq(strip(c.get_event_selectors(TrailName=name))["EventSelectors"], DEFAULT_SELECTORS, "selectors after refused puts")
    resp = c.put_event_selectors(TrailName=name, EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": True}] * 5)
    R.eq(len(resp["EventSelectors"]), 5, "five basic selectors")


@section
def tag_limits():
    c = ct()
    many = [{"Key": "k%d" % i, "Value": "v"} for i in range(51)]
    R.fails(c.create_trail, "TagsLimitExceededException", Name=uniq("tags"), S3BucketName=BUCKET, TagsList=many)
    name = create(TagsList=many[:50])["Name"]
    R.eq(len(c.list_tags(ResourceIdList=[arn(name)])["ResourceTagList"][0]["TagsList"]), 50, "fifty tags")
    R.fails(c.add_tags, "TagsLimitExceededException", ResourceId=arn(name), TagsList=[{"Key": "one-more", "Value": "v"}])
    # Re-adding a key replaces its value and does not count again.
    c.add_tags(ResourceId=arn(name), TagsList=[{"Key": "k0", "Value": "new"}])
    tags = c.list_tags(ResourceIdList=[arn(name)])["ResourceTagList"][0]["TagsList"]
    R.eq((len(tags), tags[0]), (50, {"Key": "k0", "Value": "new"}), "re-added key")
    other = create()["Name"]
    R.fails(c.add_tags, "InvalidTagParameterException", ResourceId=arn(other), TagsList=[{"Key": "k" * 129, "Value": "v"}])
    R.fails(c.add_tags, "InvalidTagParameterException", ResourceId=arn(other), TagsList=[{"Key": "k", "Value": "v" * 257}])
    R.fails(c.add_tags, "ResourceNotFoundException", ResourceId=arn("nosuchtrail"), TagsList=[{"Key": "k", "Value": "v"}])
    R.fails(c.list_tags, "ResourceNotFoundException", ResourceIdList=[arn("nosuchtrail")])
    # A tag without a value.
    c.add_tags(ResourceId=arn(other), TagsList=[{"Key": "bare"}])
    R.eq(c.list_tags(ResourceIdList=[arn(other)])["ResourceTagList"][0]["TagsList"], [{"Key": "bare"}], "a tag without a value")
    both = c.list_tags(ResourceIdList=[arn(name), arn(other)])["ResourceTagList"]
    R.eq([r["ResourceId"] for r in both], [arn(name), arn(other)], "ListTags of two trails")


@section
def list_trails_paginator():
    mine = [create()["Name"] for _ in range(3)]
    far = create("us-west-2", IsMultiRegionTrail=True)["Name"]
    create("us-west-2")
    pages = list(ct().get_paginator("list_trails").paginate())
    got = [t for p in pages for t in p["Trails"]]
    want = sorted([arn(n) for n in mine] + [arn(far, "us-west-2")])
    R.eq(sorted(t["TrailARN"] for t in got), want, "trails over all pages")
    R.eq(len(got), len(want), "no trail twice")
    R.ok(all(set(t) == {"TrailARN", "Name", "HomeRegion"} for t in got), "TrailInfo members: %r" % got)
    R.eq({t["Name"]: t["HomeRegion"] for t in got}[far], "us-west-2", "HomeRegion of the shadow")
    R.absent(pages[-1], "NextToken", "the last page")
    described = sorted(t["TrailARN"] for t in ct().describe_trails()["trailList"])
    R.eq(described, want, "ListTrails and DescribeTrails agree")


@section
def organization_trails():
    R.fails(ct().create_trail, "OrganizationsNotInUseException", Name=uniq("org"), S3BucketName=BUCKET, IsOrganizationTrail=True)
    R.fails(ct(who="member").create_trail, "NotOrganizationMasterAccountException",
            Name=uniq("org"), S3BucketName=MEMBER_BUCKET, IsOrganizationTrail=True)
    mg = ct(who="mgmt")
    name = uniq("org")
    resp = create(who="mgmt", Name=name, S3BucketName=ORG_BUCKET, IsOrganizationTrail=True)
    a = arn(name, account=MGMT)
    R.eq((resp["IsOrganizationTrail"], resp["TrailARN"]), (True, a), "CreateTrail of an organization trail")
    mg.start_logging(Name=name)

    m = ct(who="member")
    seen = m.describe_trails()["trailList"]
    R.eq([(t["TrailARN"], t["IsOrganizationTrail"], t["HomeRegion"]) for t in seen], [(a, True, "us-east-1")],
         "the member sees the organization trail")
    R.eq(m.describe_trails(includeShadowTrails=False)["trailList"], [], "not without shadow trails")
    R.eq([t["TrailARN"] for t in m.list_trails()["Trails"]], [a], "ListTrails of the member")
    R.eq(m.get_trail_status(Name=a)["IsLogging"], True, "the member reads the status")
    R.eq(m.get_trail(Name=a)["Trail"]["Name"], name, "the member reads the trail by ARN")
    R.fails(m.get_trail, "TrailNotFoundException", unknown(name, MEMBER), Name=name)
    for call, params in [
        (m.stop_logging, {"Name": a}),
        (m.delete_trail, {"Name": a}),
        (m.update_trail, {"Name": a, "S3KeyPrefix": "x"}),
        (m.put_event_selectors, {"TrailName": a, "EventSelectors": BASIC}),
    ]:
        R.fails(call, "NotOrganizationMasterAccountException", **params)
    R.eq(mg.get_trail_status(Name=name)["IsLogging"], True, "still logging")
    # An account outside the organization sees nothing of it.
    R.eq(ct().describe_trails()["trailList"], [], "an outsider's trails")
    R.fails(ct().get_trail, ("TrailNotFoundException", "CloudTrailARNInvalidException"), Name=a)
    # Turned into an account trail, it leaves the member's view.
    R.eq(mg.update_trail(Name=name, IsOrganizationTrail=False)["IsOrganizationTrail"], False, "UpdateTrail to an account trail")
    R.eq(m.describe_trails()["trailList"], [], "the member's view after UpdateTrail")


# Tags are read in the trail's home Region, by its account only. Tools that
# walk DescribeTrails meet these answers of AWS on shadows and organization
# trails: cloudquery/cq-provider-aws#236 (a shadow's Region),
# prowler-cloud/prowler#2025 and cloudquery/cq-provider-aws#405 (a member
# reading the organization trail's tags).


@section
def list_tags_of_a_shadow():
    name, a = shadow_trail()
    R.eq(ct("us-west-2").list_tags(ResourceIdList=[a])["ResourceTagList"][0]["TagsList"], [{"Key": "k", "Value": "v"}],
         "ListTags at home")
    R.fails(ct().list_tags, "CloudTrailARNInvalidException",
            "Region in ARN is wrong, you can only access resources in region us-east-1.", ResourceIdList=[a])


def org_trail_arn():
    return create(who="mgmt", S3BucketName=ORG_BUCKET, IsOrganizationTrail=True, TagsList=[{"Key": "k", "Value": "v"}])["TrailARN"]


@section
def list_tags_of_an_organization_trail_by_a_member():
    R.fails(ct(who="member").list_tags, "CloudTrailARNInvalidException",
            "AccountID in ARN is wrong, you can only access resources with AccountID %s." % MEMBER,
            ResourceIdList=[org_trail_arn()])


@section
def list_tags_of_another_accounts_trail():
    R.fails(ct().list_tags, "CloudTrailARNInvalidException",
            "AccountID in ARN is wrong, you can only access resources with AccountID %s." % ACCT,
            ResourceIdList=[org_trail_arn()])


def main():
    purge_all()
    for fn in SECTIONS:
        R.section = fn.__name__
        R.sections[R.section] = 0
        try:
            fn()
        except Exception as e:  # reported, so that every failure shows at once
            detail = "".join(traceback.format_exception_only(type(e), e)).strip()
            if not isinstance(e, AssertionError):
                detail += "\n" + traceback.format_exc()
            R.failures.append({"section": R.section, "error": detail})
        try:
            purge()
        except Exception as e:
            R.failures.append({"section": R.section + " (purge)", "error": repr(e)})
    try:
        purge_all()
    except Exception as e:
        R.failures.append({"section": "purge", "error": repr(e)})
    json.dump({"checks": R.checks, "sections": R.sections, "failures": R.failures}, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 1 if R.failures else 0


if __name__ == "__main__":
    sys.exit(main())
