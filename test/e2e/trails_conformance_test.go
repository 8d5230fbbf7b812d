package e2e

// The trail API against the clients people drive it with: boto3 walking
// every behaviour moto's CloudTrail tests check, and those moto does not
// (testdata/boto3_trails.py), and the AWS CLI v1 and v2 through a trail's
// whole life, plus the errors each prints.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// confOrg is the part of `cairn org create --output json` the tests need.
type confOrg struct {
	Organization struct {
		Id string
	}
}

// confWebhook is a notification endpoint that accepts and drops everything:
// these tests check trail configuration, not notifications.
func confWebhook(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	t.Cleanup(s.Close)
	return s.URL
}

// confSummary is what boto3_trails.py prints.
type confSummary struct {
	Checks   int            `json:"checks"`
	Sections map[string]int `json:"sections"`
	Failures []struct {
		Section string `json:"section"`
		Error   string `json:"error"`
	} `json:"failures"`
}

// confMinChecks guards against sections that silently stop checking: the
// script makes some 490 checks when all of it runs.
const confMinChecks = 450

func TestTrailConformanceBoto3(t *testing.T) {
	py := boto3Python(t)
	n := startNode(t, t.TempDir(), "--webhook-allow", "127.0.0.0/8") // webhooks are local test servers
	const acct, mgmt, member = "320000000001", "320000000002", "320000000003"
	k, km, kb := n.tenantKey(acct, ""), n.tenantKey(mgmt, ""), n.tenantKey(member, "")
	for bucket, owner := range map[string]string{
		"conformance-logs": acct, "conformance-logs-2": acct,
		"conformance-org-logs": mgmt, "conformance-member-logs": member,
	} {
		n.mustRun("buckets", "create", bucket, "--account-id", owner)
	}
	hook := confWebhook(t)
	for _, region := range []string{"us-east-1", "ap-southeast-2"} {
		n.mustRun("topics", "create", "conformance-news", "--webhook", hook, "--account-id", acct, "--region", region)
	}
	n.mustRun("topics", "create", "conformance-alerts", "--webhook", hook, "--account-id", acct)
	var org confOrg
	if err := json.Unmarshal([]byte(n.mustRun("org", "create", mgmt, "--output", "json")), &org); err != nil || org.Organization.Id == "" {
		t.Fatalf("org create: %v %+v", err, org)
	}
	n.mustRun("org", "add", org.Organization.Id, member)

	env := cleanClientEnv(t.TempDir(),
		"CT_ENDPOINT="+n.endpoint,
		"CT_ACCOUNT="+acct, "CT_ACCESS_KEY_ID="+k.AccessKeyID, "CT_SECRET_ACCESS_KEY="+k.SecretAccessKey,
		"CT_MGMT_ACCOUNT="+mgmt, "CT_MGMT_ACCESS_KEY_ID="+km.AccessKeyID, "CT_MGMT_SECRET_ACCESS_KEY="+km.SecretAccessKey,
		"CT_MEMBER_ACCOUNT="+member, "CT_MEMBER_ACCESS_KEY_ID="+kb.AccessKeyID, "CT_MEMBER_SECRET_ACCESS_KEY="+kb.SecretAccessKey,
		"CT_BUCKET=conformance-logs", "CT_BUCKET2=conformance-logs-2",
		"CT_ORG_BUCKET=conformance-org-logs", "CT_MEMBER_BUCKET=conformance-member-logs",
		"CT_TOPIC=conformance-news", "CT_TOPIC2=conformance-alerts",
	)
	r := runClient(t, env, nil, py, filepath.Join("testdata", "boto3_trails.py"))
	var sum confSummary
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("boto3_trails.py: exit %d, output not a summary (%v)\nstdout: %s\nstderr: %s", r.code, err, r.stdout, r.stderr)
	}
	for _, f := range sum.Failures {
		t.Errorf("%s: %s", f.Section, f.Error)
	}
	for name, checks := range sum.Sections {
		if checks == 0 && !t.Failed() {
			t.Errorf("section %s made no checks", name)
		}
	}
	if r.code != 0 && len(sum.Failures) == 0 {
		t.Errorf("boto3_trails.py: exit %d without failures: %s", r.code, r.stderr)
	}
	if !t.Failed() && sum.Checks < confMinChecks {
		t.Errorf("boto3_trails.py made %d checks, want at least %d", sum.Checks, confMinChecks)
	}
	t.Logf("boto3: %d checks in %d sections", sum.Checks, len(sum.Sections))
}

// confCLI runs `aws cloudtrail ...` of one CLI version against the node.
type confCLI struct {
	t        *testing.T
	bin      string
	major    int
	env      []string
	endpoint string
}

func (c *confCLI) run(args ...string) cliResult {
	c.t.Helper()
	full := []string{"--endpoint-url", c.endpoint, "--output", "json"}
	if c.major == 2 {
		full = append(full, "--no-cli-pager")
	}
	full = append(append(full, "cloudtrail"), args...)
	return runClient(c.t, c.env, nil, c.bin, full...)
}

// ok runs a command that must succeed and decodes its JSON output (none
// decodes as an empty map).
func (c *confCLI) ok(args ...string) map[string]any {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("aws v%d cloudtrail %s: exit %d: %s", c.major, strings.Join(args, " "), r.code, r.stderr)
	}
	out := map[string]any{}
	if strings.TrimSpace(r.stdout) != "" {
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			c.t.Fatalf("aws v%d cloudtrail %s: %v: %s", c.major, strings.Join(args, " "), err, r.stdout)
		}
	}
	return out
}

// fails runs a command that must fail as the service answered: the CLI's
// "An error occurred (CODE) when calling the OP operation: MSG" with a
// service error's exit status.
func (c *confCLI) fails(code, op, msg string, args ...string) {
	c.t.Helper()
	r := c.run(args...)
	want := fmt.Sprintf("An error occurred (%s) when calling the %s operation: %s", code, op, msg)
	if (r.code != 254 && r.code != 255) || !strings.Contains(r.stderr, want) {
		c.t.Errorf("aws v%d cloudtrail %s:\nexit %d, stderr %q\nwant exit 254 or 255 and %q", c.major, strings.Join(args, " "), r.code, r.stderr, want)
	}
}

// confPath follows keys and list indexes into decoded JSON.
func confPath(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// confExpect fails the test when a value in out is not want.
func confExpect(t *testing.T, what string, out map[string]any, want any, path ...any) {
	t.Helper()
	got := confPath(out, path...)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: %v is %#v, want %#v\nin %v", what, path, got, want, out)
	}
}

// confTimestamp reports whether a CLI prints v as a timestamp: v1 as the
// epoch seconds the service sent, v2 as ISO 8601.
func confTimestamp(v any) bool {
	switch x := v.(type) {
	case float64:
		return x > 1e9
	case string:
		return len(x) >= len("2006-01-02T15:04:05") && x[4] == '-' && x[10] == 'T'
	}
	return false
}

func TestTrailLifecycleCLI(t *testing.T) {
	n := startNode(t, t.TempDir(), "--webhook-allow", "127.0.0.0/8") // webhooks are local test servers
	hook := confWebhook(t)
	type setup struct {
		acct   string
		key    keyPair
		bucket string
	}
	setups := map[int]setup{}
	for _, major := range []int{1, 2} {
		s := setup{acct: fmt.Sprintf("33000000000%d", major), bucket: fmt.Sprintf("lifecycle-logs-v%d", major)}
		s.key = n.tenantKey(s.acct, "")
		n.mustRun("buckets", "create", s.bucket, "--account-id", s.acct)
		n.mustRun("topics", "create", "lifecycle-news", "--webhook", hook, "--account-id", s.acct)
		setups[major] = s
	}

	for _, major := range []int{1, 2} {
		t.Run(fmt.Sprintf("v%d", major), func(t *testing.T) {
			t.Parallel()
			s := setups[major]
			c := &confCLI{t: t, bin: awsCLI(t, major), major: major, endpoint: n.endpoint, env: cleanClientEnv(t.TempDir(),
				"AWS_ACCESS_KEY_ID="+s.key.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+s.key.SecretAccessKey,
				"AWS_DEFAULT_REGION=us-east-1", "AWS_REGION=us-east-1",
				"AWS_CONFIG_FILE="+os.DevNull, "AWS_SHARED_CREDENTIALS_FILE="+os.DevNull)}
			acct, bucket := s.acct, s.bucket
			arn := "arn:aws:cloudtrail:us-east-1:" + acct + ":trail/life"

			// create-trail with most options.
			out := c.ok("create-trail", "--name", "life", "--s3-bucket-name", bucket, "--s3-key-prefix", "logs",
				"--sns-topic-name", "lifecycle-news", "--is-multi-region-trail", "--enable-log-file-validation",
				"--tags-list", "Key=team,Value=audit")
			want := map[string]any{
				"Name": "life", "S3BucketName": bucket, "S3KeyPrefix": "logs", "SnsTopicName": "lifecycle-news",
				"SnsTopicARN": "arn:aws:sns:us-east-1:" + acct + ":lifecycle-news", "IncludeGlobalServiceEvents": true,
				"IsMultiRegionTrail": true, "TrailARN": arn, "LogFileValidationEnabled": true, "IsOrganizationTrail": false,
			}
			if !reflect.DeepEqual(out, want) {
				t.Errorf("create-trail printed %v\nwant %v", out, want)
			}

			// describe-trails, here and as a shadow elsewhere.
			out = c.ok("describe-trails")
			if l, _ := out["trailList"].([]any); len(l) != 1 {
				t.Errorf("describe-trails: %v", out)
			}
			confExpect(t, "describe-trails", out, "us-east-1", "trailList", 0, "HomeRegion")
			confExpect(t, "describe-trails", out, false, "trailList", 0, "HasCustomEventSelectors")
			confExpect(t, "describe-trails", out, false, "trailList", 0, "HasInsightSelectors")
			out = c.ok("describe-trails", "--region", "eu-west-1")
			confExpect(t, "describe-trails in eu-west-1", out, arn, "trailList", 0, "TrailARN")
			confExpect(t, "describe-trails in eu-west-1", out, "us-east-1", "trailList", 0, "HomeRegion")

			// get-trail (by ARN, from a shadow's Region) and get-trail-status.
			out = c.ok("get-trail", "--name", arn, "--region", "ap-southeast-2")
			confExpect(t, "get-trail", out, "life", "Trail", "Name")
			confExpect(t, "get-trail", out, "us-east-1", "Trail", "HomeRegion")
			confExpect(t, "get-trail", out, "logs", "Trail", "S3KeyPrefix")
			out = c.ok("get-trail-status", "--name", "life")
			confExpect(t, "get-trail-status", out, false, "IsLogging")
			confExpect(t, "get-trail-status", out, "", "TimeLoggingStarted")
			if _, ok := out["StartLoggingTime"]; ok {
				t.Errorf("get-trail-status of a new trail: %v", out)
			}

			// start-logging.
			if out := c.ok("start-logging", "--name", "life"); len(out) != 0 {
				t.Errorf("start-logging printed %v", out)
			}
			out = c.ok("get-trail-status", "--name", arn)
			confExpect(t, "get-trail-status after start-logging", out, true, "IsLogging")
			if !confTimestamp(out["StartLoggingTime"]) || out["TimeLoggingStarted"] == "" {
				t.Errorf("get-trail-status after start-logging: %v", out)
			}

			// Event selectors and Insights.
			basic := fmt.Sprintf(`[{"ReadWriteType":"WriteOnly","IncludeManagementEvents":true,"DataResources":[{"Type":"AWS::S3::Object","Values":["arn:aws:s3:::%s/"]}]}]`, bucket)
			out = c.ok("put-event-selectors", "--trail-name", "life", "--event-selectors", basic)
			confExpect(t, "put-event-selectors", out, arn, "TrailARN")
			confExpect(t, "put-event-selectors", out, "WriteOnly", "EventSelectors", 0, "ReadWriteType")
			out = c.ok("get-event-selectors", "--trail-name", "life")
			confExpect(t, "get-event-selectors", out, "WriteOnly", "EventSelectors", 0, "ReadWriteType")
			confExpect(t, "get-event-selectors", out, "arn:aws:s3:::"+bucket+"/", "EventSelectors", 0, "DataResources", 0, "Values", 0)
			out = c.ok("put-insight-selectors", "--trail-name", "life", "--insight-selectors", `[{"InsightType":"ApiCallRateInsight"}]`)
			confExpect(t, "put-insight-selectors", out, "ApiCallRateInsight", "InsightSelectors", 0, "InsightType")
			out = c.ok("get-insight-selectors", "--trail-name", arn)
			confExpect(t, "get-insight-selectors", out, arn, "TrailARN")
			confExpect(t, "get-insight-selectors", out, "ApiCallRateInsight", "InsightSelectors", 0, "InsightType")
			out = c.ok("get-trail", "--name", "life")
			confExpect(t, "get-trail after the puts", out, true, "Trail", "HasCustomEventSelectors")
			confExpect(t, "get-trail after the puts", out, true, "Trail", "HasInsightSelectors")
			// Advanced selectors replace the basic ones; they keep the
			// management writes that API call rate Insights need.
			advanced := `[{"Name":"management","FieldSelectors":[{"Field":"eventCategory","Equals":["Management"]}]},` +
				`{"Name":"s3 writes","FieldSelectors":[{"Field":"eventCategory","Equals":["Data"]},{"Field":"resources.type","Equals":["AWS::S3::Object"]},{"Field":"readOnly","Equals":["false"]}]}]`
			c.ok("put-event-selectors", "--trail-name", "life", "--advanced-event-selectors", advanced)
			out = c.ok("get-event-selectors", "--trail-name", "life")
			confExpect(t, "get-event-selectors after advanced", out, "s3 writes", "AdvancedEventSelectors", 1, "Name")
			confExpect(t, "get-event-selectors after advanced", out, "AWS::S3::Object", "AdvancedEventSelectors", 1, "FieldSelectors", 1, "Equals", 0)
			if _, ok := out["EventSelectors"]; ok {
				t.Errorf("basic selectors left after advanced ones: %v", out)
			}

			// Tags.
			c.ok("add-tags", "--resource-id", arn, "--tags-list", "Key=env,Value=test", "Key=owner,Value=sec")
			out = c.ok("list-tags", "--resource-id-list", arn)
			confExpect(t, "list-tags", out, arn, "ResourceTagList", 0, "ResourceId")
			confExpect(t, "list-tags", out, []any{
				map[string]any{"Key": "team", "Value": "audit"},
				map[string]any{"Key": "env", "Value": "test"},
				map[string]any{"Key": "owner", "Value": "sec"},
			}, "ResourceTagList", 0, "TagsList")
			c.ok("remove-tags", "--resource-id", arn, "--tags-list", "Key=team", "Key=owner")
			out = c.ok("list-tags", "--resource-id-list", arn)
			confExpect(t, "list-tags after remove-tags", out, []any{map[string]any{"Key": "env", "Value": "test"}}, "ResourceTagList", 0, "TagsList")

			// update-trail.
			out = c.ok("update-trail", "--name", "life", "--s3-key-prefix", "logs2", "--no-enable-log-file-validation")
			confExpect(t, "update-trail", out, "logs2", "S3KeyPrefix")
			confExpect(t, "update-trail", out, false, "LogFileValidationEnabled")
			confExpect(t, "update-trail", out, true, "IsMultiRegionTrail")
			confExpect(t, "update-trail", out, "lifecycle-news", "SnsTopicName")

			// list-trails, here and elsewhere.
			c.ok("create-trail", "--name", "second", "--s3-bucket-name", bucket)
			out = c.ok("list-trails")
			confExpect(t, "list-trails", out, []any{
				map[string]any{"TrailARN": arn, "Name": "life", "HomeRegion": "us-east-1"},
				map[string]any{"TrailARN": "arn:aws:cloudtrail:us-east-1:" + acct + ":trail/second", "Name": "second", "HomeRegion": "us-east-1"},
			}, "Trails")
			out = c.ok("list-trails", "--region", "ap-southeast-2")
			confExpect(t, "list-trails in ap-southeast-2", out, []any{
				map[string]any{"TrailARN": arn, "Name": "life", "HomeRegion": "us-east-1"},
			}, "Trails")

			// stop-logging.
			if out := c.ok("stop-logging", "--name", "life"); len(out) != 0 {
				t.Errorf("stop-logging printed %v", out)
			}
			out = c.ok("get-trail-status", "--name", "life")
			confExpect(t, "get-trail-status after stop-logging", out, false, "IsLogging")
			if !confTimestamp(out["StopLoggingTime"]) || !confTimestamp(out["StartLoggingTime"]) || out["TimeLoggingStopped"] == "" {
				t.Errorf("get-trail-status after stop-logging: %v", out)
			}

			// The errors each CLI prints.
			for _, e := range []struct {
				code, op, msg string
				args          []string
			}{
				{"TrailNotFoundException", "GetTrail", "Unknown trail: nosuch for the user: " + acct, []string{"get-trail", "--name", "nosuch"}},
				{"TrailNotFoundException", "GetTrailStatus", "Unknown trail: arn:aws:cloudtrail:us-east-1:" + acct + ":trail/nosuch for the user: " + acct,
					[]string{"get-trail-status", "--name", "nosuch"}},
				{"InvalidTrailNameException", "CreateTrail",
					"Trail name or ARN can only contain uppercase letters, lowercase letters, numbers, periods (.), hyphens (-), and underscores (_).",
					[]string{"create-trail", "--name", "my#trail", "--s3-bucket-name", bucket}},
				{"TrailAlreadyExistsException", "CreateTrail", "Trail life already exists for customer: " + acct,
					[]string{"create-trail", "--name", "life", "--s3-bucket-name", bucket}},
				{"S3BucketDoesNotExistException", "CreateTrail", "S3 bucket no-such-bucket-here does not exist!",
					[]string{"create-trail", "--name", "nowhere", "--s3-bucket-name", "no-such-bucket-here"}},
				{"InvalidParameterCombinationException", "CreateTrail", "Multi-Region trail must include global service events.",
					[]string{"create-trail", "--name", "odd", "--s3-bucket-name", bucket, "--is-multi-region-trail", "--no-include-global-service-events"}},
				{"InsightNotEnabledException", "GetInsightSelectors", "", []string{"get-insight-selectors", "--trail-name", "second"}},
				{"InvalidEventSelectorsException", "PutEventSelectors", "",
					[]string{"put-event-selectors", "--trail-name", "second", "--event-selectors", `[{"ReadWriteType":"read-only"}]`}},
				{"InvalidHomeRegionException", "StopLogging", "", []string{"stop-logging", "--name", arn, "--region", "eu-west-1"}},
				{"CloudTrailARNInvalidException", "GetTrail", "Region in ARN is wrong, you can only access resources in region eu-west-1.",
					[]string{"get-trail", "--region", "eu-west-1", "--name", "arn:aws:cloudtrail:us-east-1:" + acct + ":trail/second"}},
			} {
				c.fails(e.code, e.op, e.msg, e.args...)
			}

			// delete-trail, by ARN and by name.
			if out := c.ok("delete-trail", "--name", arn); len(out) != 0 {
				t.Errorf("delete-trail printed %v", out)
			}
			c.ok("delete-trail", "--name", "second")
			confExpect(t, "describe-trails after delete-trail", c.ok("describe-trails"), []any{}, "trailList")
			c.fails("TrailNotFoundException", "GetTrail", "Unknown trail: life for the user: "+acct, "get-trail", "--name", "life")
		})
	}
}
