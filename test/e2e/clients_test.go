package e2e

// The real AWS clients against a running node: the AWS CLI v1 and v2 and
// boto3, as people use them with CloudTrail, plus the raw HTTP answers of
// the errors those clients report.
//
// A missing client skips its test, or fails it when CAIRN_REQUIRE_ALL is
// set. The clients run with a clean environment: this process's minus every
// AWS_* variable, with HOME in a temporary directory, so that no user
// configuration leaks in.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/smithy-go"

	"github.com/cairn-audit/cairn/internal/event"
	"github.com/cairn-audit/cairn/internal/ingest"
)

// ---------------------------------------------------------------------------
// Finding the clients.

var (
	clientProbeMu sync.Mutex
	clientProbes  = map[string]clientProbe{}
)

type clientProbe struct{ path, missing string }

// clientMissing skips the test, or fails it under CAIRN_REQUIRE_ALL.
func clientMissing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CAIRN_REQUIRE_ALL") != "" {
		t.Fatalf("%s (CAIRN_REQUIRE_ALL is set)", msg)
	}
	t.Skipf("%s; skipping (set CAIRN_REQUIRE_ALL=1 to fail instead)", msg)
}

// probeOnce runs probe once per test binary and remembers its answer.
func probeOnce(t testing.TB, name string, probe func() (string, string)) string {
	t.Helper()
	clientProbeMu.Lock()
	p, ok := clientProbes[name]
	if !ok {
		p.path, p.missing = probe()
		clientProbes[name] = p
	}
	clientProbeMu.Unlock()
	if p.path == "" {
		clientMissing(t, p.missing)
	}
	return p.path
}

// awsCLI returns the AWS CLI of the given major version. Version 1 is the
// `aws` that PATH finds first (as a user typing `aws` gets it); when that is
// another version, and for version 2, every `aws` on PATH is tried in order.
// CAIRN_AWS_CLI_V1 and CAIRN_AWS_CLI_V2 name a binary to try first.
func awsCLI(t testing.TB, major int) string {
	t.Helper()
	return probeOnce(t, fmt.Sprintf("aws-cli/%d", major), func() (string, string) {
		want := fmt.Sprintf("aws-cli/%d.", major)
		var candidates []string
		if p := os.Getenv(fmt.Sprintf("CAIRN_AWS_CLI_V%d", major)); p != "" {
			candidates = append(candidates, p)
		}
		if p, err := exec.LookPath("aws"); err == nil {
			candidates = append(candidates, p)
		}
		for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
			if dir == "" {
				continue
			}
			if p, err := exec.LookPath(filepath.Join(dir, "aws")); err == nil {
				candidates = append(candidates, p)
			}
		}
		seen := map[string]bool{}
		var tried []string
		for _, c := range candidates {
			real, err := filepath.EvalSymlinks(c)
			if err != nil {
				real = c
			}
			if seen[real] {
				continue
			}
			seen[real] = true
			cmd := exec.Command(c, "--version")
			cmd.Env = cleanClientEnv(os.TempDir())
			out, err := cmd.CombinedOutput()
			version := strings.TrimSpace(string(out))
			if err == nil && strings.HasPrefix(version, want) {
				return c, ""
			}
			tried = append(tried, fmt.Sprintf("%s says %q", c, probeFirstLine(version)))
		}
		if len(tried) == 0 {
			return "", "AWS CLI not found on PATH"
		}
		return "", fmt.Sprintf("AWS CLI v%d not found on PATH (%s)", major, strings.Join(tried, "; "))
	})
}

// boto3Python returns a python3 that can import boto3.
func boto3Python(t testing.TB) string {
	t.Helper()
	return probeOnce(t, "boto3", func() (string, string) {
		py, err := exec.LookPath("python3")
		if err != nil {
			return "", "python3 not found on PATH"
		}
		cmd := exec.Command(py, "-c", "import boto3, botocore; print(boto3.__version__, botocore.__version__)")
		cmd.Env = cleanClientEnv(os.TempDir())
		if out, err := cmd.CombinedOutput(); err != nil {
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			return "", fmt.Sprintf("%s cannot import boto3: %s", py, lines[len(lines)-1])
		}
		return py, ""
	})
}

func probeFirstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// cleanClientEnv is this process's environment without any AWS_* variable,
// with HOME set to home, followed by extra (later entries win).
//
// AWS_* entries of extra with an empty value are left out: botocore takes
// AWS_PROFILE="" for a profile named "" ("The config profile () could not be
// found"), and nothing of the caller's AWS_* settings is passed on anyway.
func cleanClientEnv(home string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+home)
	for _, kv := range extra {
		if strings.HasPrefix(kv, "AWS_") && strings.HasSuffix(kv, "=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

type cliResult struct {
	stdout, stderr string
	code           int
}

// runClient runs a client program with env and returns what it wrote and
// its exit code.
func runClient(t testing.TB, env []string, stdin []byte, bin string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := cliResult{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s %s: %v", bin, strings.Join(args, " "), err)
	}
	return r
}

// waitHistoryIndexed waits until Event history has indexed everything in
// the ledger, as the node's metrics tell.
func waitHistoryIndexed(t testing.TB, n *node) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(n.endpoint + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "cairn_history_lag_entries "); ok && strings.TrimSpace(v) == "0" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("Event history did not catch up with the ledger within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// The records of the tutorial tests: EC2 calls of three IAM users in the
// root account, us-east-1, around 2019-12-01.

const (
	tutorialAccount = "111122223333"
	tutorialRegion  = "us-east-1"
)

type tutorialEvent struct {
	id, name, user, instance string
	time                     time.Time
	readOnly                 bool
}

func (e tutorialEvent) accessKey() string {
	return "AKIAEXAMPLE" + fmt.Sprintf("%-5s", strings.ToUpper(e.user))[:5] + "0001"
}

func tutorialEvents() []tutorialEvent {
	var evs []tutorialEvent
	add := func(name, user, instance, at string, ro bool) {
		tm, err := time.Parse(time.RFC3339, at)
		if err != nil {
			panic(err)
		}
		i := len(evs) + 1
		evs = append(evs, tutorialEvent{
			id:   fmt.Sprintf("7e57da7a-%04x-4c1e-8a11-%012x", i, i*7919),
			name: name, user: user, instance: instance, time: tm, readOnly: ro,
		})
	}
	// November: enough of bob's calls for several pages.
	base := time.Date(2019, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range 120 {
		at := base.Add(time.Duration(i) * 5 * time.Hour).Format(time.RFC3339)
		if i%10 == 0 {
			add("RunInstances", "bob", "", at, false)
		} else {
			add("DescribeInstances", "bob", "", at, true)
		}
	}
	add("DescribeInstances", "alice", "", "2019-11-30T23:59:59Z", true) // just before the window
	add("DescribeRegions", "alice", "", "2019-12-01T00:00:00Z", true)   // first second of the window
	add("TerminateInstances", "alice", "i-0a1b2c3d4e5f60001", "2019-12-01T08:30:00Z", false)
	add("StopInstances", "bob", "i-0a1b2c3d4e5f60003", "2019-12-01T12:00:00Z", false)
	add("DescribeInstances", "bob", "", "2019-12-01T23:59:59Z", true)
	add("DescribeInstances", "carol", "", "2019-12-02T00:00:00Z", true) // EndTime is inclusive
	add("DescribeInstances", "alice", "", "2019-12-02T00:00:01Z", true) // just after
	add("TerminateInstances", "carol", "i-0a1b2c3d4e5f60002", "2019-12-03T10:00:00Z", false)
	return evs
}

func (e tutorialEvent) record() map[string]any {
	var req, resp any
	if e.instance != "" {
		req = map[string]any{"instancesSet": map[string]any{"items": []any{map[string]any{"instanceId": e.instance}}}}
		resp = map[string]any{
			"requestId": e.id,
			"instancesSet": map[string]any{"items": []any{map[string]any{
				"instanceId":    e.instance,
				"currentState":  map[string]any{"code": 32, "name": "shutting-down"},
				"previousState": map[string]any{"code": 16, "name": "running"},
			}}},
		}
	}
	return map[string]any{
		"eventVersion": "1.08",
		"userIdentity": map[string]any{
			"type":        "IAMUser",
			"principalId": "AIDA" + strings.ToUpper(e.user) + "EXAMPLE",
			"arn":         "arn:aws:iam::" + tutorialAccount + ":user/" + e.user,
			"accountId":   tutorialAccount,
			"accessKeyId": e.accessKey(),
			"userName":    e.user,
		},
		"eventTime":          e.time.Format(time.RFC3339),
		"eventSource":        "ec2.amazonaws.com",
		"eventName":          e.name,
		"awsRegion":          tutorialRegion,
		"sourceIPAddress":    "198.51.100.23",
		"userAgent":          "aws-cli/1.16.290 Python/3.7.5 Linux/4.14.146 botocore/1.13.26",
		"requestParameters":  req,
		"responseElements":   resp,
		"requestID":          "req-" + e.id,
		"eventID":            e.id,
		"readOnly":           e.readOnly,
		"eventType":          "AwsApiCall",
		"managementEvent":    true,
		"recipientAccountId": tutorialAccount,
		"eventCategory":      "Management",
	}
}

// ingestTutorialEvents writes the tutorial records as a CloudTrail log file
// and sends it with `cairn ingest`.
func ingestTutorialEvents(t *testing.T, n *node) []tutorialEvent {
	t.Helper()
	evs := tutorialEvents()
	recs := make([]any, len(evs))
	for i, e := range evs {
		recs[i] = e.record()
	}
	b, err := json.Marshal(map[string]any{"Records": recs})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "111122223333_CloudTrail_us-east-1_20191201T0000Z_tutorial.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out := n.mustRun("ingest", path); !strings.Contains(out, fmt.Sprintf("%d added, 0 already present, 0 failed", len(evs))) {
		t.Fatalf("ingest: %s", out)
	}
	waitHistoryIndexed(t, n)
	return evs
}

// ---------------------------------------------------------------------------
// Reading the CLI's output.

type cliLookupOutput struct {
	Events    []map[string]any
	NextToken string
}

type seenEvent struct {
	id, source string
	time       time.Time
}

func parseCLILookup(t *testing.T, stdout string) cliLookupOutput {
	t.Helper()
	var out cliLookupOutput
	d := json.NewDecoder(strings.NewReader(stdout))
	d.UseNumber()
	if err := d.Decode(&out); err != nil {
		t.Fatalf("CLI output is not LookupEvents JSON: %v\n%s", err, stdout)
	}
	if out.Events == nil && !strings.Contains(stdout, `"Events"`) {
		t.Fatalf("CLI output has no Events: %s", stdout)
	}
	return out
}

// cliTime reads an EventTime as the CLIs print it: v1 prints the wire's
// epoch seconds, v2 an ISO 8601 time in the local zone.
func cliTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return time.Time{}, err
		}
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), nil
	case string:
		return time.Parse(time.RFC3339Nano, x)
	}
	return time.Time{}, fmt.Errorf("EventTime %v (%T) is neither a number nor a string", v, v)
}

// checkCLIEvents checks the shape of every event the CLI printed and, for
// the tutorial's own events, every field against the record; it returns the
// events in the order printed. Events of the test's own calls (after
// testStart) must be cairn's audit records of CloudTrail calls.
func checkCLIEvents(t *testing.T, out cliLookupOutput, byID map[string]tutorialEvent, testStart time.Time) (tutorial []seenEvent, audit []seenEvent) {
	t.Helper()
	var prev time.Time
	for i, e := range out.Events {
		str := func(k string) string {
			v, ok := e[k].(string)
			if !ok && e[k] != nil {
				t.Fatalf("event %d: %s is %T, not a string: %v", i, k, e[k], e)
			}
			return v
		}
		id, name, ro, source, ctEvent := str("EventId"), str("EventName"), str("ReadOnly"), str("EventSource"), str("CloudTrailEvent")
		if id == "" || name == "" || source == "" {
			t.Fatalf("event %d lacks EventId, EventName or EventSource: %v", i, e)
		}
		if ro != "true" && ro != "false" {
			t.Fatalf("event %s: ReadOnly is %v, want the string \"true\" or \"false\"", id, e["ReadOnly"])
		}
		tm, err := cliTime(e["EventTime"])
		if err != nil {
			t.Fatalf("event %s: %v", id, err)
		}
		if !prev.IsZero() && tm.After(prev) {
			t.Fatalf("events not newest first: %s at %v after %v", id, tm, prev)
		}
		prev = tm
		var rec map[string]any
		if err := json.Unmarshal([]byte(ctEvent), &rec); err != nil {
			t.Fatalf("event %s: CloudTrailEvent is not a JSON object: %v: %q", id, err, ctEvent)
		}
		if rec["eventID"] != id || rec["eventName"] != name || rec["eventSource"] != source {
			t.Fatalf("event %s: CloudTrailEvent %s does not match the event %v", id, ctEvent, e)
		}
		if rt, err := time.Parse(time.RFC3339, fmt.Sprint(rec["eventTime"])); err != nil || !rt.Equal(tm) {
			t.Fatalf("event %s: CloudTrailEvent eventTime %v, EventTime %v", id, rec["eventTime"], tm)
		}
		if _, ok := e["Resources"].([]any); !ok {
			t.Fatalf("event %s: Resources is %T, not a list", id, e["Resources"])
		}
		s := seenEvent{id: id, source: source, time: tm}
		want, ok := byID[id]
		if !ok {
			if tm.Before(testStart) || source != "cloudtrail.amazonaws.com" {
				t.Fatalf("unexpected event %s %s from %s at %v", id, name, source, tm)
			}
			audit = append(audit, s)
			continue
		}
		if name != want.name || source != "ec2.amazonaws.com" || !tm.Equal(want.time) ||
			ro != strconv.FormatBool(want.readOnly) || str("Username") != want.user || str("AccessKeyId") != want.accessKey() {
			t.Fatalf("event %s printed as %v; the record is %+v", id, e, want)
		}
		if want.instance != "" && !cliHasResource(e["Resources"], "AWS::EC2::Instance", want.instance) {
			t.Fatalf("event %s: Resources %v lack the instance %s", id, e["Resources"], want.instance)
		}
		tutorial = append(tutorial, s)
	}
	return tutorial, audit
}

func cliHasResource(v any, typ, name string) bool {
	list, _ := v.([]any)
	for _, r := range list {
		m, _ := r.(map[string]any)
		if m["ResourceType"] == typ && m["ResourceName"] == name {
			return true
		}
	}
	return false
}

func seenIDs(evs []seenEvent) []string {
	ids := make([]string, len(evs))
	for i, e := range evs {
		ids[i] = e.id
	}
	return ids
}

// expectTutorial returns the IDs of the tutorial events that match, newest
// first (the tutorial events all have distinct times).
func expectTutorial(evs []tutorialEvent, match func(tutorialEvent) bool) []string {
	var sel []tutorialEvent
	for _, e := range evs {
		if match(e) {
			sel = append(sel, e)
		}
	}
	sort.Slice(sel, func(i, j int) bool { return sel[i].time.After(sel[j].time) })
	ids := make([]string, len(sel))
	for i, e := range sel {
		ids[i] = e.id
	}
	return ids
}

// ---------------------------------------------------------------------------
// Tests.

// TestCLILookupEvents runs `aws cloudtrail lookup-events` with the AWS CLI
// v1 and v2: with nothing but the node's credentials file and a region, and
// the commands of the CloudTrail tutorials (--max-items with
// --starting-token, a time window, Username and EventName lookups).
func TestCLILookupEvents(t *testing.T) {
	testStart := time.Now().Add(-time.Second)
	n := startNode(t, t.TempDir(), "--history-retention", "0")
	evs := ingestTutorialEvents(t, n)
	byID := map[string]tutorialEvent{}
	for _, e := range evs {
		byID[e.id] = e
	}
	all := expectTutorial(evs, func(tutorialEvent) bool { return true })
	credentials := filepath.Join(n.dataDir, "credentials")

	for _, major := range []int{1, 2} {
		t.Run(fmt.Sprintf("v%d", major), func(t *testing.T) {
			t.Parallel()
			bin := awsCLI(t, major)
			env := cleanClientEnv(t.TempDir(), n.env...)
			lookup := func(t *testing.T, args ...string) cliLookupOutput {
				t.Helper()
				full := append([]string{"--endpoint-url", n.endpoint, "--output", "json", "cloudtrail", "lookup-events"}, args...)
				r := runClient(t, env, nil, bin, full...)
				if r.code != 0 {
					t.Fatalf("aws %s: exit %d: %s", strings.Join(full, " "), r.code, r.stderr)
				}
				return parseCLILookup(t, r.stdout)
			}

			t.Run("credentials file and region only", func(t *testing.T) {
				env := cleanClientEnv(t.TempDir(), "AWS_SHARED_CREDENTIALS_FILE="+credentials, "AWS_DEFAULT_REGION="+tutorialRegion)
				r := runClient(t, env, nil, bin, "--endpoint-url", n.endpoint, "cloudtrail", "lookup-events")
				if r.code != 0 {
					t.Fatalf("exit %d: %s", r.code, r.stderr)
				}
				tut, _ := checkCLIEvents(t, parseCLILookup(t, r.stdout), byID, testStart)
				if got := seenIDs(tut); !slices.Equal(got, all) {
					t.Fatalf("got %d tutorial events, want all %d newest first\n got %v\nwant %v", len(got), len(all), clientFirstFew(got), clientFirstFew(all))
				}
			})

			t.Run("max-items and starting-token", func(t *testing.T) {
				first := lookup(t, "--max-items", "100")
				if len(first.Events) != 100 || first.NextToken == "" {
					t.Fatalf("--max-items 100: %d events, NextToken %q; want 100 and a token", len(first.Events), first.NextToken)
				}
				tut1, audit1 := checkCLIEvents(t, first, byID, testStart)
				rest := lookup(t, "--starting-token", first.NextToken)
				if rest.NextToken != "" {
					t.Fatalf("the rest ends with NextToken %q", rest.NextToken)
				}
				tut2, audit2 := checkCLIEvents(t, rest, byID, testStart)
				if len(audit2) > 0 && len(tut1) > 0 {
					t.Fatalf("audit events %v after the tutorial events of the first page", seenIDs(audit2))
				}
				seen := map[string]bool{}
				for _, id := range slices.Concat(seenIDs(audit1), seenIDs(tut1), seenIDs(audit2), seenIDs(tut2)) {
					if seen[id] {
						t.Fatalf("event %s is on both sides of --starting-token", id)
					}
					seen[id] = true
				}
				if tut := slices.Concat(seenIDs(tut1), seenIDs(tut2)); !slices.Equal(tut, all) {
					t.Fatalf("the two parts hold %d tutorial events, want %d newest first", len(tut), len(all))
				}
			})

			t.Run("max-items within a page", func(t *testing.T) {
				// 75 items end within the second page of 50: the CLI's token
				// carries the server's token of the first page and a count
				// to skip, so the server must answer the same token twice.
				first := lookup(t, "--max-items", "75")
				if len(first.Events) != 75 || first.NextToken == "" {
					t.Fatalf("--max-items 75: %d events, NextToken %q; want 75 and a token", len(first.Events), first.NextToken)
				}
				tut1, audit1 := checkCLIEvents(t, first, byID, testStart)
				next := lookup(t, "--starting-token", first.NextToken, "--max-items", "40")
				if len(next.Events) != 40 || next.NextToken == "" {
					t.Fatalf("--starting-token --max-items 40: %d events, NextToken %q; want 40 and a token", len(next.Events), next.NextToken)
				}
				tut2, audit2 := checkCLIEvents(t, next, byID, testStart)
				seen := map[string]bool{}
				for _, id := range slices.Concat(seenIDs(audit1), seenIDs(tut1), seenIDs(audit2), seenIDs(tut2)) {
					if seen[id] {
						t.Fatalf("event %s is on both sides of --starting-token", id)
					}
					seen[id] = true
				}
				if len(audit2) > 0 && len(tut1) > 0 {
					t.Fatalf("audit events %v after the tutorial events of the first part", seenIDs(audit2))
				}
				tut := slices.Concat(seenIDs(tut1), seenIDs(tut2))
				// Events newer than the tutorial's are the test's own calls;
				// after them, the tutorial's newest come without a gap.
				if len(tut2) == 0 || !slices.Equal(tut, all[:len(tut)]) {
					t.Fatalf("the two parts hold %d+%d tutorial events, not the newest %d in order", len(tut1), len(tut2), len(tut))
				}
			})

			t.Run("time window", func(t *testing.T) {
				out := lookup(t, "--start-time", "2019-12-01", "--end-time", "2019-12-02")
				tut, audit := checkCLIEvents(t, out, byID, testStart)
				lo, hi := time.Date(2019, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2019, 12, 2, 0, 0, 0, 0, time.UTC)
				want := expectTutorial(evs, func(e tutorialEvent) bool { return !e.time.Before(lo) && !e.time.After(hi) })
				if got := seenIDs(tut); len(audit) > 0 || !slices.Equal(got, want) || len(want) != 5 {
					t.Fatalf("2019-12-01..2019-12-02: got %v (and %d others), want %v", got, len(audit), want)
				}
			})

			t.Run("username", func(t *testing.T) {
				out := lookup(t, "--lookup-attributes", "AttributeKey=Username,AttributeValue=alice")
				tut, audit := checkCLIEvents(t, out, byID, testStart)
				want := expectTutorial(evs, func(e tutorialEvent) bool { return e.user == "alice" })
				if got := seenIDs(tut); len(audit) > 0 || !slices.Equal(got, want) || len(want) != 4 {
					t.Fatalf("Username=alice: got %v (and %d others), want %v", got, len(audit), want)
				}
			})

			t.Run("event name", func(t *testing.T) {
				out := lookup(t, "--lookup-attributes", "AttributeKey=EventName,AttributeValue=TerminateInstances")
				tut, audit := checkCLIEvents(t, out, byID, testStart)
				want := expectTutorial(evs, func(e tutorialEvent) bool { return e.name == "TerminateInstances" })
				if got := seenIDs(tut); len(audit) > 0 || !slices.Equal(got, want) || len(want) != 2 {
					t.Fatalf("EventName=TerminateInstances: got %v (and %d others), want %v", got, len(audit), want)
				}
			})
		})
	}
}

// botoQuery is one LookupEvents query walked by boto3's paginator and by the
// Go SDK's.
type botoQuery struct {
	Name   string         `json:"name"`
	Region string         `json:"region"`
	Params map[string]any `json:"params,omitempty"`
	// for the Go side
	attr       *types.LookupAttribute
	start, end *time.Time
}

type botoPages struct {
	Pages     int   `json:"pages"`
	PageSizes []int `json:"page_sizes"`
	Events    []struct {
		ID     string  `json:"id"`
		Time   float64 `json:"time"`
		Source string  `json:"source"`
	} `json:"events"`
}

// TestBotoPaginator ingests the real data set and walks LookupEvents with
// boto3's paginator (PageSize 50), unfiltered, with a LookupAttributes
// filter, with a time window and with both; every page must be walked, no
// event twice, and the events must be those the Go SDK's paginator finds
// and those the files hold.
func TestBotoPaginator(t *testing.T) {
	py := boto3Python(t)
	root := filepath.Join(sharedData(t), "s3-layout")
	testStart := time.Now().Add(-time.Second)
	n := startNode(t, t.TempDir(), "--history-retention", "0")
	if out := n.mustRun("ingest", root); !strings.Contains(out, "present, 0 failed") {
		t.Fatalf("ingest: %s", out)
	}
	waitHistoryIndexed(t, n)
	const account = "974349055189"
	k := n.tenantKey(account, "")

	ts := func(s string) *time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return &tm
	}
	attr := func(key types.LookupAttributeKey, v string) *types.LookupAttribute {
		return &types.LookupAttribute{AttributeKey: key, AttributeValue: aws.String(v)}
	}
	queries := []botoQuery{
		{Name: "all", Region: "us-east-1"},
		{Name: "all-sa-east-1", Region: "sa-east-1"},
		{Name: "event-name", Region: "us-east-1", attr: attr(types.LookupAttributeKeyEventName, "DescribeInstances")},
		{Name: "read-write", Region: "us-east-1", attr: attr(types.LookupAttributeKeyReadOnly, "false")},
		{Name: "window", Region: "us-east-1", start: ts("2014-09-26T00:00:00Z"), end: ts("2014-09-27T06:00:00Z")},
		{Name: "event-name-window", Region: "us-east-1", attr: attr(types.LookupAttributeKeyEventName, "DescribeAlarms"),
			start: ts("2014-09-27T00:00:00Z"), end: ts("2017-06-01T23:59:59Z")},
	}
	for i := range queries {
		q := &queries[i]
		q.Params = map[string]any{}
		if q.attr != nil {
			q.Params["LookupAttributes"] = []map[string]string{{"AttributeKey": string(q.attr.AttributeKey), "AttributeValue": *q.attr.AttributeValue}}
		}
		if q.start != nil {
			q.Params["StartTime"] = q.start.Format(time.RFC3339)
			q.Params["EndTime"] = q.end.Format(time.RFC3339)
		}
	}

	// What the files hold, read without cairn's server.
	want := map[string]map[string]bool{}
	for _, q := range queries {
		want[q.Name] = map[string]bool{}
	}
	files, err := ingest.Files([]string{root})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		f, err := ingest.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range f.Records {
			e, err := event.Parse(raw, event.Defaults{AccountID: f.AccountID})
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if e.AccountID != account || e.Category != event.Management {
				continue
			}
			for _, q := range queries {
				if e.Region != q.Region || q.start != nil && (e.EventTime.Before(*q.start) || e.EventTime.After(*q.end)) {
					continue
				}
				if q.attr != nil {
					v := e.EventName
					if q.attr.AttributeKey == types.LookupAttributeKeyReadOnly {
						v = strconv.FormatBool(e.ReadOnly)
					}
					if v != *q.attr.AttributeValue {
						continue
					}
				}
				want[q.Name][e.EventID] = true
			}
		}
	}

	job, err := json.Marshal(map[string]any{
		"endpoint": n.endpoint, "access_key_id": k.AccessKeyID, "secret_access_key": k.SecretAccessKey,
		"page_size": 50, "queries": queries,
	})
	if err != nil {
		t.Fatal(err)
	}
	r := runClient(t, cleanClientEnv(t.TempDir()), job, py, filepath.Join("testdata", "boto3_paginate.py"))
	if r.code != 0 {
		t.Fatalf("boto3_paginate.py: exit %d: %s", r.code, r.stderr)
	}
	var got map[string]botoPages
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("boto3_paginate.py output: %v: %s", err, r.stdout)
	}

	ctx := ctxT(t)
	for _, q := range queries {
		bp, ok := got[q.Name]
		if !ok {
			t.Fatalf("%s: no result from boto3", q.Name)
		}
		if len(want[q.Name]) <= 50 {
			t.Fatalf("%s: the data set has only %d matching events; the query must span pages", q.Name, len(want[q.Name]))
		}
		// boto3's walk.
		botoIDs := map[string]bool{} // every event boto3 saw
		old := map[string]bool{}     // those of the data set
		total := 0
		for _, s := range bp.PageSizes {
			if s > 50 {
				t.Errorf("%s: boto3 got a page of %d events with PageSize 50", q.Name, s)
			}
			total += s
		}
		if total != len(bp.Events) || bp.Pages != len(bp.PageSizes) {
			t.Fatalf("%s: boto3 output inconsistent: %d pages, sizes %v, %d events", q.Name, bp.Pages, bp.PageSizes, len(bp.Events))
		}
		prev := 0.0
		for i, e := range bp.Events {
			if i > 0 && e.Time > prev {
				t.Fatalf("%s: boto3 events not newest first at %d", q.Name, i)
			}
			prev = e.Time
			if botoIDs[e.ID] {
				t.Fatalf("%s: boto3's paginator returned %s twice", q.Name, e.ID)
			}
			botoIDs[e.ID] = true
			if time.Unix(int64(e.Time), 0).Before(testStart) {
				old[e.ID] = true
			} else if e.Source != "cloudtrail.amazonaws.com" {
				t.Fatalf("%s: unexpected new event %s from %s", q.Name, e.ID, e.Source)
			}
		}
		if minPages := (len(bp.Events) + 49) / 50; bp.Pages < minPages {
			t.Fatalf("%s: %d events in %d pages", q.Name, len(bp.Events), bp.Pages)
		}

		// The Go SDK's walk of the same query.
		in := &cloudtrail.LookupEventsInput{StartTime: q.start, EndTime: q.end}
		if q.attr != nil {
			in.LookupAttributes = []types.LookupAttribute{*q.attr}
		}
		p := cloudtrail.NewLookupEventsPaginator(n.sdk(k, q.Region), in, func(o *cloudtrail.LookupEventsPaginatorOptions) { o.Limit = 50 })
		goIDs := map[string]bool{}
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatalf("%s: Go SDK: %v", q.Name, err)
			}
			for _, e := range page.Events {
				id := aws.ToString(e.EventId)
				if !e.EventTime.Before(testStart) {
					continue
				}
				if goIDs[id] {
					t.Fatalf("%s: Go SDK paginator returned %s twice", q.Name, id)
				}
				goIDs[id] = true
			}
		}

		if d := botoSetDiff(old, goIDs); d != "" {
			t.Errorf("%s: boto3 and the Go SDK differ: %s", q.Name, d)
		}
		if d := botoSetDiff(old, want[q.Name]); d != "" {
			t.Errorf("%s: boto3 and the files differ: %s", q.Name, d)
		}
		t.Logf("%s: boto3 walked %d pages, %d events (%d of the data set, %d of the test's own calls)",
			q.Name, bp.Pages, len(bp.Events), len(old), len(bp.Events)-len(old))
	}
}

// botoSetDiff describes how got and want differ, or returns "".
func botoSetDiff(got, want map[string]bool) string {
	var extra, missing []string
	for id := range got {
		if !want[id] {
			extra = append(extra, id)
		}
	}
	for id := range want {
		if !got[id] {
			missing = append(missing, id)
		}
	}
	if len(extra) == 0 && len(missing) == 0 {
		return ""
	}
	sort.Strings(extra)
	sort.Strings(missing)
	return fmt.Sprintf("%d vs %d events; %d extra %v, %d missing %v", len(got), len(want), len(extra), clientFirstFew(extra), len(missing), clientFirstFew(missing))
}

// clientErrorCase is one request cairn must refuse as AWS does.
type clientErrorCase struct {
	name string
	// key is "root", "wrong-secret" or "unknown-key".
	key string
	// params are LookupEvents parameters (raw HTTP, boto3); raw, if set,
	// is the body sent instead.
	params map[string]any
	raw    string
	// target is the raw request's operation, LookupEvents if empty.
	target string
	// signedAgo back-dates the raw request's signature.
	signedAgo time.Duration
	// botoOp is the boto3 method ("" = lookup_events; "-" = not sent with
	// boto3); botoValidation says botocore must refuse the call itself.
	botoOp         string
	botoValidation bool
	// cli is the arguments after `aws cloudtrail`; nil: not sent with the CLI.
	cli []string
	// code and a piece of the message the caller must see (for boto3 and
	// the CLI, cliMsg if set: their request differs).
	code, msg, cliMsg string
}

// TestCLIAndBotoErrors sends requests cairn must refuse: as raw signed HTTP
// (checking status 400 and AWS's JSON error body), through the Go SDK, the
// AWS CLI v1 and v2, and boto3, each of which must show AWS's exception name
// and cairn's message.
func TestCLIAndBotoErrors(t *testing.T) {
	n := startNode(t, t.TempDir(), "--history-retention", "0")
	ingestTutorialEvents(t, n)
	rootK := n.rootKey()
	keys := map[string]keyPair{
		"root":         rootK,
		"wrong-secret": {AccessKeyID: rootK.AccessKeyID, SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
		"unknown-key":  {AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
	}
	ctx := ctxT(t)

	// A token for an unfiltered lookup, to be reused with a filter.
	first, err := n.sdk(rootK, tutorialRegion).LookupEvents(ctx, &cloudtrail.LookupEventsInput{MaxResults: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	token := aws.ToString(first.NextToken)
	if token == "" {
		t.Fatal("no NextToken after one event of many")
	}

	terminate := map[string]string{"AttributeKey": "EventName", "AttributeValue": "TerminateInstances"}
	cases := []clientErrorCase{
		{name: "two lookup attributes", key: "root",
			params: map[string]any{"LookupAttributes": []any{terminate, map[string]string{"AttributeKey": "Username", "AttributeValue": "alice"}}},
			cli:    []string{"lookup-events", "--lookup-attributes", "AttributeKey=EventName,AttributeValue=TerminateInstances", "AttributeKey=Username,AttributeValue=alice"},
			code:   "InvalidLookupAttributesException", msg: "lookup attribute"},
		{name: "unknown attribute key", key: "root",
			params: map[string]any{"LookupAttributes": []any{map[string]string{"AttributeKey": "Colour", "AttributeValue": "red"}}},
			cli:    []string{"lookup-events", "--lookup-attributes", "AttributeKey=Colour,AttributeValue=red"},
			code:   "ValidationException", msg: "Colour"},
		{name: "start after end", key: "root",
			params: map[string]any{"StartTime": 1575244800, "EndTime": 1575158400},
			cli:    []string{"lookup-events", "--start-time", "2019-12-02", "--end-time", "2019-12-01"},
			code:   "InvalidTimeRangeException", msg: "start time"},
		{name: "MaxResults 51", key: "root",
			params: map[string]any{"MaxResults": 51},
			cli:    []string{"lookup-events", "--max-results", "51", "--no-paginate"},
			code:   "InvalidMaxResultsException", msg: "MaxResults"},
		{name: "MaxResults 0", key: "root",
			params: map[string]any{"MaxResults": 0}, botoValidation: true,
			code: "InvalidMaxResultsException", msg: "MaxResults"},
		{name: "NextToken reused with other parameters", key: "root",
			params: map[string]any{"NextToken": token, "LookupAttributes": []any{terminate}},
			cli:    []string{"lookup-events", "--no-paginate", "--next-token", token, "--lookup-attributes", "AttributeKey=EventName,AttributeValue=TerminateInstances"},
			code:   "InvalidNextTokenException", msg: "token"},
		{name: "wrong secret", key: "wrong-secret", params: map[string]any{},
			cli:  []string{"lookup-events"},
			code: "InvalidSignatureException", msg: "signature we calculated does not match"},
		{name: "unknown access key", key: "unknown-key", params: map[string]any{},
			cli:  []string{"lookup-events"},
			code: "UnrecognizedClientException", msg: "security token included in the request is invalid"},
		// An operation of CloudTrail's model that cairn does not serve.
		{name: "unknown operation", key: "root", params: map[string]any{"MemberAccountId": "123456789012"},
			target: "CloudTrail_20131101.NoSuchOp", botoOp: "register_organization_delegated_admin",
			cli:  []string{"register-organization-delegated-admin", "--member-account-id", "123456789012"},
			code: "UnknownOperationException", msg: "NoSuchOp", cliMsg: "RegisterOrganizationDelegatedAdmin"},
		{name: "malformed JSON", key: "root", raw: `{"MaxResults": `, botoOp: "-",
			code: "SerializationException"},
		{name: "expired signature", key: "root", params: map[string]any{}, signedAgo: 20 * time.Minute, botoOp: "-",
			code: "InvalidSignatureException", msg: "Signature expired"},
	}

	t.Run("raw HTTP", func(t *testing.T) {
		for _, c := range cases {
			body := c.raw
			if body == "" {
				b, err := json.Marshal(c.params)
				if err != nil {
					t.Fatal(err)
				}
				body = string(b)
			}
			target := c.target
			if target == "" {
				target = "CloudTrail_20131101.LookupEvents"
			}
			status, h, respBody := rawSignedCall(t, n.endpoint, keys[c.key], target, body, time.Now().Add(-c.signedAgo))
			var eb map[string]any
			if err := json.Unmarshal(respBody, &eb); err != nil {
				t.Errorf("%s: the error body is not JSON: %v: %q", c.name, err, respBody)
				continue
			}
			typ, _ := eb["__type"].(string)
			msg, _ := eb["Message"].(string)
			if _, after, ok := strings.Cut(typ, "#"); ok {
				typ = after
			}
			if status != http.StatusBadRequest || typ != c.code || len(eb) != 2 || msg == "" || !errContainsFold(msg, c.msg) {
				t.Errorf("%s: %s with %s\nanswered %d %s\nwant 400 {\"__type\":%q,\"Message\":\"...%s...\"}", c.name, target, body, status, respBody, c.code, c.msg)
			}
			if ct := h.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
				t.Errorf("%s: Content-Type %q", c.name, ct)
			}
			if h.Get("X-Amzn-Requestid") == "" {
				t.Errorf("%s: no x-amzn-RequestId", c.name)
			}
		}
	})

	t.Run("Go SDK MaxResults 0", func(t *testing.T) {
		// The Go SDK checks only required members before sending, so
		// MaxResults 0 reaches the server.
		_, err := n.sdk(rootK, tutorialRegion).LookupEvents(ctx, &cloudtrail.LookupEventsInput{MaxResults: aws.Int32(0)})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidMaxResultsException" || !strings.Contains(ae.ErrorMessage(), "MaxResults") {
			t.Fatalf("LookupEvents with MaxResults 0: %v, want InvalidMaxResultsException", err)
		}
	})

	for _, major := range []int{1, 2} {
		t.Run(fmt.Sprintf("CLI v%d", major), func(t *testing.T) {
			t.Parallel()
			bin := awsCLI(t, major)
			credFiles := map[string]string{}
			dir := t.TempDir()
			for name, k := range keys {
				p := filepath.Join(dir, name+".credentials")
				content := fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", k.AccessKeyID, k.SecretAccessKey)
				if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
				credFiles[name] = p
			}
			for _, c := range cases {
				if c.cli == nil {
					continue
				}
				env := cleanClientEnv(t.TempDir(), append(n.env, "AWS_SHARED_CREDENTIALS_FILE="+credFiles[c.key])...)
				args := append([]string{"--endpoint-url", n.endpoint, "cloudtrail"}, c.cli...)
				r := runClient(t, env, nil, bin, args...)
				msg := c.msg
				if c.cliMsg != "" {
					msg = c.cliMsg
				}
				if (r.code != 254 && r.code != 255) || !strings.Contains(r.stderr, "An error occurred ("+c.code+")") || !errContainsFold(r.stderr, msg) {
					t.Errorf("%s: aws %s\nexit %d, stderr %q\nwant exit 254 or 255 and \"An error occurred (%s)\" with %q", c.name, strings.Join(args, " "), r.code, r.stderr, c.code, msg)
				}
			}
		})
	}

	t.Run("boto3", func(t *testing.T) {
		t.Parallel()
		py := boto3Python(t)
		type botoCase struct {
			Name   string         `json:"name"`
			Key    string         `json:"access_key_id"`
			Secret string         `json:"secret_access_key"`
			Op     string         `json:"operation"`
			Params map[string]any `json:"params"`
		}
		var bcs []botoCase
		for _, c := range cases {
			if c.botoOp == "-" {
				continue
			}
			op := c.botoOp
			if op == "" {
				op = "lookup_events"
			}
			bcs = append(bcs, botoCase{c.name, keys[c.key].AccessKeyID, keys[c.key].SecretAccessKey, op, c.params})
		}
		job, err := json.Marshal(map[string]any{"endpoint": n.endpoint, "region": tutorialRegion, "cases": bcs})
		if err != nil {
			t.Fatal(err)
		}
		r := runClient(t, cleanClientEnv(t.TempDir()), job, py, filepath.Join("testdata", "boto3_errors.py"))
		if r.code != 0 {
			t.Fatalf("boto3_errors.py: exit %d: %s", r.code, r.stderr)
		}
		var got map[string]struct {
			Outcome string `json:"outcome"`
			Code    string `json:"code"`
			Message string `json:"message"`
			Status  int    `json:"status"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("boto3_errors.py output: %v: %s", err, r.stdout)
		}
		for _, c := range cases {
			if c.botoOp == "-" {
				continue
			}
			g := got[c.name]
			if c.botoValidation {
				if g.Outcome != "ParamValidationError" {
					t.Errorf("%s: boto3 gave %+v, want botocore's ParamValidationError before sending", c.name, g)
				}
				continue
			}
			msg := c.msg
			if c.cliMsg != "" {
				msg = c.cliMsg
			}
			if g.Outcome != "ClientError" || g.Code != c.code || g.Status != 400 || !errContainsFold(g.Message, msg) {
				t.Errorf("%s: boto3 gave %+v, want ClientError %s (HTTP 400) with %q", c.name, g, c.code, msg)
			}
		}
	})
}

// clientFirstFew shortens a list for a failure message.
func clientFirstFew(s []string) []string {
	if len(s) > 5 {
		return s[:5]
	}
	return s
}

func errContainsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// rawSignedCall sends one AWS JSON 1.1 request, signed with SigV4 at signTime,
// and returns the answer.
func rawSignedCall(t *testing.T, endpoint string, k keyPair, target, body string, signTime time.Time) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", target)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "cloudtrail", tutorialRegion, signTime); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}
