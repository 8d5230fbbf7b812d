package event

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
)

// realData is the shared set of real CloudTrail records, checked out beside
// the repository. Tests that need it skip when it is absent.
const realData = "../../testdata/cloudtrail-real"

// realRecord is one record of the shared data set and the file it came from.
type realRecord struct {
	file string
	raw  json.RawMessage
}

var realOnce struct {
	sync.Once
	recs []realRecord
	err  error
}

// realRecords returns every record of the S3-layout deliveries and of the
// Logstash NDJSON file, loading them once per test binary.
func realRecords(t testing.TB) []realRecord {
	t.Helper()
	if _, err := os.Stat(realData); err != nil {
		t.Skipf("real data set not available: %v", err)
	}
	realOnce.Do(func() {
		realOnce.recs, realOnce.err = loadRealRecords()
	})
	if realOnce.err != nil {
		t.Fatal(realOnce.err)
	}
	return realOnce.recs
}

func loadRealRecords() ([]realRecord, error) {
	var out []realRecord
	err := filepath.WalkDir(filepath.Join(realData, "s3-layout"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !strings.HasSuffix(path, ".json") && !strings.HasSuffix(path, ".json.gz") {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		var r io.Reader = f
		if strings.HasSuffix(path, ".gz") {
			z, err := gzip.NewReader(f)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			defer z.Close()
			r = z
		}
		var file struct {
			Records []json.RawMessage
		}
		if err := json.NewDecoder(r).Decode(&file); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, raw := range file.Records {
			out = append(out, realRecord{path, raw})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ndjson, err := filepath.Glob(filepath.Join(realData, "otrf-security-datasets", "*.json"))
	if err != nil {
		return nil, err
	}
	for _, path := range ndjson {
		lines, err := readLines(path)
		if err != nil {
			return nil, err
		}
		for _, l := range lines {
			out = append(out, realRecord{path, l})
		}
	}
	return out, nil
}

func readLines(path string) ([]json.RawMessage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []json.RawMessage
	s := bufio.NewScanner(f)
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		if l := bytes.TrimSpace(s.Bytes()); len(l) > 0 {
			out = append(out, json.RawMessage(bytes.Clone(l)))
		}
	}
	return out, s.Err()
}

func decodeRecord(t testing.TB, raw []byte) *Record {
	t.Helper()
	var r Record
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("record does not decode: %v", err)
	}
	return &r
}

func TestInferReadOnly(t *testing.T) {
	tests := []struct {
		source, name string
		want         bool
	}{
		{"ec2.amazonaws.com", "DescribeInstances", true},
		{"ec2.amazonaws.com", "GetPasswordData", true},
		{"ec2.amazonaws.com", "RunInstances", false},
		{"ec2.amazonaws.com", "Describe", true},
		{"s3.amazonaws.com", "ListBuckets", true},
		{"s3.amazonaws.com", "HeadBucket", true},
		{"s3.amazonaws.com", "GetObject", true},
		{"s3.amazonaws.com", "PutObject", false},
		{"s3.amazonaws.com", "SelectObjectContent", true},
		{"lambda.amazonaws.com", "ListFunctions20150331", true},
		{"lambda.amazonaws.com", "Invoke", false},
		{"dynamodb.amazonaws.com", "Query", true},
		{"dynamodb.amazonaws.com", "Scan", true},
		{"dynamodb.amazonaws.com", "BatchGetItem", true},
		{"dynamodb.amazonaws.com", "BatchWriteItem", false},
		{"dynamodb.amazonaws.com", "TransactGetItems", true},
		{"dynamodb.amazonaws.com", "TransactWriteItems", false},
		{"cloudtrail.amazonaws.com", "LookupEvents", true},
		{"cloudtrail.amazonaws.com", "StartLogging", false},
		{"logs.amazonaws.com", "FilterLogEvents", true},
		{"cloudformation.amazonaws.com", "EstimateTemplateCost", true},
		{"cloudformation.amazonaws.com", "ValidateTemplate", true},
		{"iam.amazonaws.com", "SimulatePrincipalPolicy", true},
		{"iam.amazonaws.com", "GenerateCredentialReport", false},
		{"rds.amazonaws.com", "DownloadDBLogFilePortion", true},
		{"devops-guru.amazonaws.com", "SearchInsights", true},
		{"sts.amazonaws.com", "AssumeRole", true},
		{"sts.amazonaws.com", "AssumeRoleWithSAML", true},
		{"sts.amazonaws.com", "GetCallerIdentity", true},
		{"kms.amazonaws.com", "Decrypt", true},
		{"kms.amazonaws.com", "Encrypt", true},
		{"kms.amazonaws.com", "GenerateDataKey", true},
		{"kms.amazonaws.com", "CreateGrant", false},
		{"kms.amazonaws.com", "ScheduleKeyDeletion", false},
		{"signin.amazonaws.com", "ConsoleLogin", false},
		{"signin.amazonaws.com", "CheckMfa", false},
		{"ses.amazonaws.com", "VerifyEmailIdentity", false},
		{"apigateway.amazonaws.com", "TestInvokeMethod", false},
		// Whole words only.
		{"example.amazonaws.com", "Getaway", false},
		{"example.amazonaws.com", "Listen", false},
		{"example.amazonaws.com", "Headquarters", false},
		{"example.amazonaws.com", "Scanner", false},
		{"example.amazonaws.com", "get", false},
		{"example.amazonaws.com", "", false},
		// The exceptions are per service: Decrypt elsewhere is a write.
		{"example.amazonaws.com", "Decrypt", false},
	}
	for _, tt := range tests {
		t.Run(tt.source+"/"+tt.name, func(t *testing.T) {
			if got := InferReadOnly(tt.source, tt.name); got != tt.want {
				t.Errorf("InferReadOnly(%q, %q) = %v, want %v", tt.source, tt.name, got, tt.want)
			}
		})
	}
}

// TestInferReadOnlyAgreesWithAWS checks InferReadOnly against AWS's own
// readOnly in every real record that has one.
func TestInferReadOnlyAgreesWithAWS(t *testing.T) {
	type call struct{ source, name string }
	var total, agree int
	wrong := map[call]bool{}
	calls := map[call]bool{}
	for _, rr := range realRecords(t) {
		r := decodeRecord(t, rr.raw)
		if r.ReadOnly == nil || Classify(r) == Insight {
			continue
		}
		total++
		c := call{r.EventSource, r.EventName}
		calls[c] = true
		if InferReadOnly(r.EventSource, r.EventName) == bool(*r.ReadOnly) {
			agree++
		} else {
			wrong[c] = bool(*r.ReadOnly)
		}
	}
	if total == 0 {
		t.Fatal("no record with readOnly in the data set")
	}
	t.Logf("readOnly agreement: %d of %d records (%.2f%%), %d distinct calls",
		agree, total, 100*float64(agree)/float64(total), len(calls))
	for c, aws := range wrong {
		t.Errorf("InferReadOnly(%q, %q) disagrees with AWS's readOnly %v", c.source, c.name, aws)
	}
}

func TestClassify(t *testing.T) {
	yes, no := FlexBool(true), FlexBool(false)
	tests := []struct {
		name string
		r    Record
		want Category
	}{
		{"category management", Record{EventCategory: "Management", EventSource: "s3.amazonaws.com", EventName: "GetObject"}, Management},
		{"category data", Record{EventCategory: "Data", EventSource: "s3.amazonaws.com", EventName: "ListBuckets"}, Data},
		{"category insight", Record{EventCategory: "Insight"}, Insight},
		{"category network", Record{EventCategory: "NetworkActivity", ManagementEvent: &no}, NetworkActivity},
		{"insight type", Record{EventType: "AwsCloudTrailInsight"}, Insight},
		{"insight details", Record{InsightDetails: json.RawMessage(`{"state":"Start"}`)}, Insight},
		{"vpce event", Record{EventType: "AwsVpceEvent", EventSource: "s3.amazonaws.com", EventName: "PutObject"}, NetworkActivity},
		{"managementEvent false", Record{ManagementEvent: &no, EventSource: "ec2.amazonaws.com", EventName: "RunInstances"}, Data},
		{"managementEvent true", Record{ManagementEvent: &yes, EventSource: "s3.amazonaws.com", EventName: "GetObject"}, Management},
		{"lake category falls through", Record{EventCategory: "ActivityAuditLog", EventSource: "s3.amazonaws.com", EventName: "PutObject"}, Data},
		{"legacy s3 GetObject", Record{EventSource: "s3.amazonaws.com", EventName: "GetObject"}, Data},
		{"legacy s3 ListObjects", Record{EventSource: "s3.amazonaws.com", EventName: "ListObjects"}, Data},
		{"legacy s3 ListObjectsV2", Record{EventSource: "s3.amazonaws.com", EventName: "ListObjectsV2"}, Data},
		{"legacy s3 multipart", Record{EventSource: "s3.amazonaws.com", EventName: "UploadPart"}, Data},
		{"legacy s3 DeleteObjects", Record{EventSource: "s3.amazonaws.com", EventName: "DeleteObjects"}, Data},
		{"legacy s3 ListBuckets", Record{EventSource: "s3.amazonaws.com", EventName: "ListBuckets"}, Management},
		{"legacy s3 PutBucketPolicy", Record{EventSource: "s3.amazonaws.com", EventName: "PutBucketPolicy"}, Management},
		{"legacy s3 object resource", Record{EventSource: "s3.amazonaws.com", EventName: "HeadBucket",
			Resources: []RecordResource{{Type: "AWS::S3::Object", ARNPrefix: "arn:aws:s3:::b/"}, {Type: "AWS::S3::Bucket", ARN: "arn:aws:s3:::b"}}}, Data},
		{"legacy s3 bucket resource", Record{EventSource: "s3.amazonaws.com", EventName: "GetBucketAcl",
			Resources: []RecordResource{{Type: "AWS::S3::Bucket", ARN: "arn:aws:s3:::b"}}}, Management},
		{"legacy lambda Invoke", Record{EventSource: "lambda.amazonaws.com", EventName: "Invoke"}, Data},
		{"legacy lambda GetFunction", Record{EventSource: "lambda.amazonaws.com", EventName: "GetFunction20150331v2"}, Management},
		{"legacy dynamodb PutItem", Record{EventSource: "dynamodb.amazonaws.com", EventName: "PutItem"}, Data},
		{"legacy dynamodb CreateTable", Record{EventSource: "dynamodb.amazonaws.com", EventName: "CreateTable"}, Management},
		{"legacy ec2 GetObject", Record{EventSource: "ec2.amazonaws.com", EventName: "GetObject"}, Management},
		{"legacy console login", Record{EventSource: "signin.amazonaws.com", EventName: "ConsoleLogin", EventType: "AwsConsoleSignIn"}, Management},
		{"empty", Record{}, Management},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(&tt.r); got != tt.want {
				t.Errorf("Classify = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestClassifyRealData checks the S3 data events of the Logstash file, and
// that the rules for old records reproduce AWS's category for every real
// record that states one, once the record's own word is removed.
func TestClassifyRealData(t *testing.T) {
	var data, stated int
	for _, rr := range realRecords(t) {
		r := decodeRecord(t, rr.raw)
		if strings.Contains(rr.file, "otrf-security-datasets") && r.EventSource == "s3.amazonaws.com" &&
			(r.EventName == "GetObject" || r.EventName == "ListObjects") {
			data++
			if got := Classify(r); got != Data {
				t.Errorf("%s %s: Classify = %v, want Data", r.EventName, r.EventID, got)
			}
		}
		aws := Classify(r)
		if r.EventCategory == "" && r.ManagementEvent == nil {
			continue
		}
		stated++
		legacy := *r
		legacy.EventCategory, legacy.ManagementEvent = "", nil
		if got := Classify(&legacy); got != aws {
			t.Errorf("%s %s %s: without eventCategory/managementEvent Classify = %v, AWS says %v",
				r.EventSource, r.EventName, r.EventID, got, aws)
		}
	}
	if data == 0 {
		t.Error("no S3 data event found in the Logstash file")
	}
	t.Logf("%d S3 data events classified Data; %d records with a stated category agree with the legacy rules", data, stated)
}

func TestLookupUsername(t *testing.T) {
	tests := []struct {
		name string
		id   string // userIdentity JSON; empty for none
		want string
	}{
		{"no identity", ``, ""},
		{"IAM user", `{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::123456789012:user/alice","accountId":"123456789012","userName":"alice"}`, "alice"},
		{"IAM user with path", `{"type":"IAMUser","arn":"arn:aws:iam::123456789012:user/dev/bob","userName":"bob"}`, "bob"},
		{"IAM user failed sign-in", `{"type":"IAMUser","accountId":"123456789012","accessKeyId":"","userName":"HIDDEN_DUE_TO_SECURITY_REASONS"}`, "HIDDEN_DUE_TO_SECURITY_REASONS"},
		{"root", `{"type":"Root","principalId":"123456789012","arn":"arn:aws:iam::123456789012:root","accountId":"123456789012"}`, "root"},
		{"root with account alias", `{"type":"Root","principalId":"123456789012","arn":"arn:aws:iam::123456789012:root","userName":"my-alias","invokedBy":"autoscaling.amazonaws.com"}`, "root"},
		{"assumed role", `{"type":"AssumedRole","principalId":"AROAEXAMPLE:my-session-name","arn":"arn:aws:sts::123456789012:assumed-role/MyRole/my-session-name",
			"sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::123456789012:role/MyRole","userName":"MyRole"}}}`, "my-session-name"},
		{"assumed role, e-mail session", `{"type":"AssumedRole","arn":"arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123/jane@example.com"}`, "jane@example.com"},
		{"assumed role without ARN", `{"type":"AssumedRole","principalId":"AROAEXAMPLE:i-0abc"}`, "i-0abc"},
		{"assumed role without anything", `{"type":"AssumedRole"}`, ""},
		{"federated user", `{"type":"FederatedUser","principalId":"123456789012:Bob","arn":"arn:aws:sts::123456789012:federated-user/Bob"}`, "Bob"},
		{"federated user without ARN", `{"type":"FederatedUser","principalId":"123456789012:Bob"}`, "Bob"},
		{"role", `{"type":"Role","arn":"arn:aws:iam::123456789012:role/service-role/Worker"}`, "Worker"},
		{"aws service", `{"type":"AWSService","invokedBy":"elasticmapreduce.amazonaws.com"}`, ""},
		{"service event without type", `{"accountId":"123456789012","invokedBy":"ec2.amazonaws.com"}`, ""},
		{"SAML user", `{"type":"SAMLUser","principalId":"SAMPLE:user@example.com","userName":"user@example.com","identityProvider":"SAMPLE"}`, "user@example.com"},
		{"web identity user", `{"type":"WebIdentityUser","principalId":"accounts.google.com:app:user","userName":"user","identityProvider":"accounts.google.com"}`, "user"},
		{"identity center user", `{"type":"IdentityCenterUser","accountId":"123456789012","onBehalfOf":{"userId":"544894e8-80c1-707f-60e3-3ba6510dfac1","identityStoreArn":"arn:aws:identitystore::123456789012:identitystore/d-1234567890"}}`, "544894e8-80c1-707f-60e3-3ba6510dfac1"},
		{"identity center user with name", `{"type":"IdentityCenterUser","userName":"jane"}`, "jane"},
		{"identity center user, bad onBehalfOf", `{"type":"IdentityCenterUser","onBehalfOf":"x"}`, ""},
		{"directory", `{"type":"Directory","userName":"dir-user"}`, "dir-user"},
		{"unknown empty", `{"type":"Unknown","principalId":"","arn":"","accountId":"123456789012","accessKeyId":"","userName":""}`, ""},
		{"aws account", `{"type":"AWSAccount","principalId":"AIDAEXAMPLE","accountId":"111122223333"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Record
			if tt.id != "" {
				r.UserIdentity = new(UserIdentity)
				if err := json.Unmarshal([]byte(tt.id), r.UserIdentity); err != nil {
					t.Fatal(err)
				}
			}
			if got := LookupUsername(&r); got != tt.want {
				t.Errorf("LookupUsername = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestIsGlobalServiceEvent(t *testing.T) {
	tests := []struct {
		source string
		want   bool
	}{
		{"iam.amazonaws.com", true},
		{"sts.amazonaws.com", true},
		{"cloudfront.amazonaws.com", true},
		{"signin.amazonaws.com", true},
		{"route53.amazonaws.com", true},
		{"ec2.amazonaws.com", false},
		{"s3.amazonaws.com", false},
		{"organizations.amazonaws.com", false},
		{"route53resolver.amazonaws.com", false},
		{"IAM.amazonaws.com", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.source, func(t *testing.T) {
			if got := IsGlobalServiceEvent(tt.source); got != tt.want {
				t.Errorf("IsGlobalServiceEvent(%q) = %v, want %v", tt.source, got, tt.want)
			}
		})
	}
}

// lookupEvent is one item of a LookupEvents response.
type lookupEvent struct {
	EventID         string `json:"EventId"`
	EventName       string
	ReadOnly        string
	Username        string
	Resources       []Resource
	CloudTrailEvent string
}

// sanitizedResources undo, per event, edits the publisher of the LookupEvents
// samples made to the response but not to the record inside it: in the
// CreateSecurityGroup sample the record's vpcId was shortened by one digit
// while the response kept the full ID, so no derivation from the record can
// produce the response's name. The test checks that the record really holds
// the short form.
var sanitizedResources = map[string]map[Resource]Resource{
	"c91c963c-d149-4dc5-9e4a-830da763cf7b": {
		{Type: "AWS::EC2::VPC", Name: "vpc-01234567890123456"}: {Type: "AWS::EC2::VPC", Name: "vpc-0123456789012345"},
	},
}

// TestLookupEventsSamples compares Username, ReadOnly and Resources with
// real LookupEvents output.
func TestLookupEventsSamples(t *testing.T) {
	path := filepath.Join(realData, "lookup-events-format", "plaso_aws_cloudtrail.jsonl")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("LookupEvents samples not available: %v", err)
	}
	lines, err := readLines(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) == 0 {
		t.Fatal("no samples")
	}
	for _, l := range lines {
		var ev lookupEvent
		if err := json.Unmarshal(l, &ev); err != nil {
			t.Fatal(err)
		}
		t.Run(ev.EventName, func(t *testing.T) {
			r := decodeRecord(t, []byte(ev.CloudTrailEvent))
			if got := LookupUsername(r); got != ev.Username {
				t.Errorf("Username = %q, want %q", got, ev.Username)
			}
			want := ev.ReadOnly == "true"
			if r.ReadOnly == nil || bool(*r.ReadOnly) != want {
				t.Errorf("record readOnly = %v, LookupEvents says %s", r.ReadOnly, ev.ReadOnly)
			}
			if got := InferReadOnly(r.EventSource, r.EventName); got != want {
				t.Errorf("InferReadOnly = %v, want %v", got, want)
			}
			expect := slices.Clone(ev.Resources)
			for i, x := range expect {
				if y, ok := sanitizedResources[ev.EventID][x]; ok {
					if !strings.Contains(ev.CloudTrailEvent, `"`+y.Name+`"`) || strings.Contains(ev.CloudTrailEvent, `"`+x.Name+`"`) {
						t.Fatalf("sanitization note for %s is stale: record does not hold %q instead of %q", ev.EventID, y.Name, x.Name)
					}
					expect[i] = y
				}
			}
			got := LookupResources(r)
			if !sameSet(got, expect) {
				t.Errorf("Resources differ\n got: %v\nwant: %v", sorted(got), sorted(expect))
			}
		})
	}
}

func sorted(rs []Resource) []Resource {
	out := slices.Clone(rs)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Type != out[j].Type {
			return out[i].Type < out[j].Type
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func sameSet(a, b []Resource) bool {
	return slices.Equal(slices.Compact(sorted(a)), slices.Compact(sorted(b)))
}

// resourceCase is one case of testdata/lookup_resources.json.
type resourceCase struct {
	Name   string
	Record json.RawMessage
	Want   []Resource
}

func TestLookupResources(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "lookup_resources.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []resourceCase
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cases); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, tc := range cases {
		if names[tc.Name] {
			t.Fatalf("duplicate case name %q", tc.Name)
		}
		names[tc.Name] = true
		t.Run(tc.Name, func(t *testing.T) {
			r := decodeRecord(t, tc.Record)
			got := LookupResources(r)
			if len(got) == 0 && len(tc.Want) == 0 {
				return
			}
			if !slices.Equal(got, tc.Want) {
				t.Errorf("LookupResources\n got: %v\nwant: %v", got, tc.Want)
			}
		})
	}
}

// TestLookupResourcesMalformed feeds members that are not objects, or not
// JSON at all, straight into the record, as a caller building a Record by
// hand could.
func TestLookupResourcesMalformed(t *testing.T) {
	inputs := []string{
		``, `null`, `true`, `12`, `"i-0abc"`, `[]`, `["i-0abc"]`, `[[[[]]]]`,
		`{`, `}`, `{"instanceId"`, `{"instanceId":}`, `{"instanceId":"i-1"`,
		`{"instanceId":"i-1"}}`, `{"instanceId":["i-1",{"x":"y"},null]}`,
		`{"instanceId":{"content":"i-2"}}`, `{"content":"i-3"}`, `[{"content":"i-4"}]`,
		`{"instanceId":"i-1"} {"instanceId":"i-5"}`, `{"a":{"b":{"c":{"instanceId":12}}}}`,
		strings.Repeat(`[`, 20000) + strings.Repeat(`]`, 20000),
		strings.Repeat(`{"a":`, 5000) + `"x"` + strings.Repeat(`}`, 5000),
		`{"resourcesSet":{"items":[` + strings.Repeat(`{"resourceId":"i-1"},`, 1000) + `{"resourceId":"i-2"}]}}`,
	}
	for i, in := range inputs {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			r := &Record{EventSource: "ec2.amazonaws.com", EventName: "CreateTags",
				RequestParameters: json.RawMessage(in), ResponseElements: json.RawMessage(in)}
			checkResources(t, LookupResources(r))
		})
	}
	t.Run("cap", func(t *testing.T) {
		var b strings.Builder
		b.WriteString(`{"instancesSet":{"items":[`)
		for i := range 3 * maxLookupResources {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"instanceId":"i-%d"}`, i)
		}
		b.WriteString(`]}}`)
		r := &Record{EventSource: "ec2.amazonaws.com", EventName: "TerminateInstances", RequestParameters: json.RawMessage(b.String())}
		got := LookupResources(r)
		if len(got) != maxLookupResources {
			t.Errorf("got %d resources, want the cap %d", len(got), maxLookupResources)
		}
		if got[0].Name != "i-0" {
			t.Errorf("first resource %v, want i-0 first", got[0])
		}
	})
}

// checkResources asserts what must hold for any record.
func checkResources(t testing.TB, rs []Resource) {
	t.Helper()
	if len(rs) > maxLookupResources {
		t.Errorf("%d resources, more than %d", len(rs), maxLookupResources)
	}
	seen := map[Resource]bool{}
	for _, x := range rs {
		if strings.TrimSpace(x.Name) == "" {
			t.Errorf("resource with empty name: %+v", x)
		}
		if seen[x] {
			t.Errorf("duplicate resource %+v", x)
		}
		seen[x] = true
	}
}

// TestDeriveRealData runs every derivation over the whole data set: no
// panics, the resource invariants hold, and the same record gives the same
// answer twice.
func TestDeriveRealData(t *testing.T) {
	recs := realRecords(t)
	types := map[string]int{}
	var withResources int
	for _, rr := range recs {
		r := decodeRecord(t, rr.raw)
		got := LookupResources(r)
		checkResources(t, got)
		if again := LookupResources(r); !slices.Equal(got, again) {
			t.Fatalf("%s: LookupResources is not stable: %v then %v", r.EventID, got, again)
		}
		if len(got) > 0 {
			withResources++
		}
		for _, x := range got {
			types[x.Type]++
		}
		_ = LookupUsername(r)
		_ = Classify(r)
	}
	t.Logf("%d records, %d with resources, %d resource types", len(recs), withResources, len(types))
}

func FuzzLookupResources(f *testing.F) {
	f.Add([]byte(`{"eventSource":"ec2.amazonaws.com","eventName":"RunInstances","requestParameters":{"instancesSet":{"items":[{"imageId":"ami-1","keyName":"k"}]}},"responseElements":{"instancesSet":{"items":[{"instanceId":"i-1","placement":{"groupName":"pg"}}]}}}`))
	f.Add([]byte(`{"eventSource":"ec2.amazonaws.com","eventName":"CreateFlowLogs","requestParameters":{"CreateFlowLogsRequest":{"ResourceId":{"tag":1,"content":"vpc-1"}}}}`))
	f.Add([]byte(`{"eventSource":"s3.amazonaws.com","eventName":"GetObject","requestParameters":{"bucketName":"b","key":"k"},"resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::b/k"},{"ARNPrefix":"arn:aws:s3:::b/"}]}`))
	f.Add([]byte(`{"eventSource":"route53.amazonaws.com","eventName":"GetHostedZone","requestParameters":{"id":"/hostedzone/Z1"}}`))
	f.Add([]byte(`{"eventSource":"ssm.amazonaws.com","eventName":"GetParameters","requestParameters":{"names":["a",1,null,{"x":[]}]}}`))
	f.Add([]byte(`{"eventSource":"kms.amazonaws.com","eventName":"Decrypt","requestParameters":"x","responseElements":[1,2]}`))
	if recs, err := loadSeeds(); err == nil {
		for _, raw := range recs {
			f.Add([]byte(raw))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// The bytes as a whole record, when they decode as one.
		var r Record
		if json.Unmarshal(data, &r) == nil {
			checkResources(t, LookupResources(&r))
			_ = LookupUsername(&r)
			_ = Classify(&r)
		}
		// The bytes as raw members, whether or not they are JSON, for calls
		// that between them use every kind of rule.
		for _, c := range fuzzCalls {
			r := Record{EventSource: c.source, EventName: c.name, RequestParameters: data, ResponseElements: data}
			checkResources(t, LookupResources(&r))
		}
	})
}

// fuzzCalls exercise plain, qualified, inferred, trimmed, top-level and
// event-limited rules.
var fuzzCalls = []struct{ source, name string }{
	{"ec2.amazonaws.com", "RunInstances"},
	{"cloudtrail.amazonaws.com", "CreateTrail"},
	{"route53.amazonaws.com", "GetHostedZone"},
	{"ssm.amazonaws.com", "GetParameters"},
	{"kms.amazonaws.com", "Decrypt"},
	{"iam.amazonaws.com", "CreatePolicy"},
}

// loadSeeds returns the LookupEvents sample records as fuzz seeds.
func loadSeeds() ([]string, error) {
	lines, err := readLines(filepath.Join(realData, "lookup-events-format", "plaso_aws_cloudtrail.jsonl"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range lines {
		var ev lookupEvent
		if json.Unmarshal(l, &ev) == nil {
			out = append(out, ev.CloudTrailEvent)
		}
	}
	return out, nil
}
