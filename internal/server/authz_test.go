package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/cairn-audit/cairn/internal/awsapi"
)

// regexpTimes matches the members of an answer that tell times.
var regexpTimes = regexp.MustCompile(`"[A-Za-z]*Time[A-Za-z]*":("[^"]*"|[0-9.eE+-]+)`)

// authzOp is one operation of the authorization matrix, as
// testdata/authz_ops.json gives it: a request body naming the victim's
// resources by placeholders.
type authzOp struct {
	Op     string          `json:"op"`
	Body   json.RawMessage `json:"body"`
	Routed string          `json:"routed"`
	Query  string          `json:"query"`
	// AdminOnly operations are refused to every key but the
	// administrator's.
	AdminOnly bool `json:"adminOnly"`
	// BucketExistenceIsPublic: bucket names are one namespace for all
	// accounts, as in S3, where anyone learns whether a name is taken;
	// the answers to another tenant may tell a taken name from a free one.
	BucketExistenceIsPublic bool `json:"bucketExistenceIsPublic"`
}

// principal is one column of the matrix: who signs, and how.
type principal struct {
	name        string
	key, secret string
	at          time.Duration // signing time relative to now
	unsigned    bool
	account     string // X-Cairn-Account-Id
	signAccount bool   // whether that header is among the signed ones
}

type reply struct {
	status  int
	code    string
	message string
	body    []byte
}

func (r reply) String() string { return string(r.body) }

type matrix struct {
	t        *testing.T
	endpoint string
	target   map[string]string // op → X-Amz-Target prefix
	signing  map[string]string // op → SigV4 service name
}

func (m *matrix) call(p principal, o authzOp, body []byte, query string) reply {
	m.t.Helper()
	url, target := m.endpoint+"/", m.target[o.Op]+"."+o.Op
	if o.Routed != "" {
		url = m.endpoint + strings.TrimPrefix(o.Routed, "POST ") + "?" + query
		target = ""
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		m.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	if p.account != "" && p.signAccount {
		req.Header.Set(awsapi.AccountHeader, p.account)
	}
	if !p.unsigned {
		sum := sha256.Sum256(body)
		creds := aws.Credentials{AccessKeyID: p.key, SecretAccessKey: p.secret}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), m.signing[o.Op], "us-east-1", time.Now().Add(p.at)); err != nil {
			m.t.Fatal(err)
		}
	}
	if p.account != "" && !p.signAccount {
		req.Header.Set(awsapi.AccountHeader, p.account)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		m.t.Fatal(err)
	}
	r := reply{status: resp.StatusCode, body: b}
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"Message"`
		Lower   string `json:"message"`
	}
	if resp.StatusCode != http.StatusOK && json.Unmarshal(b, &e) == nil {
		r.code, r.message = e.Type, e.Message+e.Lower
	}
	return r
}

// must makes a setup call that has to succeed and decodes its answer.
func (m *matrix) must(p principal, op string, body any, out any) {
	m.t.Helper()
	b, _ := json.Marshal(body)
	r := m.call(p, authzOp{Op: op}, b, "")
	if r.status != http.StatusOK {
		m.t.Fatalf("setup %s by %s: %d %s", op, p.name, r.status, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			m.t.Fatalf("setup %s: %v", op, err)
		}
	}
}

// fill replaces the placeholders of a template.
func fill(tmpl string, vals map[string]string) string {
	for k, v := range vals {
		tmpl = strings.ReplaceAll(tmpl, "{{"+k+"}}", v)
	}
	return tmpl
}

// startMatrixServer runs a whole cairn in the test, on a loopback port.
func startMatrixServer(t *testing.T, opts ...func(*Config)) (*Server, string) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.RootAccountID = "111111111111"
	for _, o := range opts {
		o(&cfg)
	}
	s, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("server stopped: %v", err)
		}
	})
	return s, "http://" + s.Addr()
}

// TestAuthorizationMatrix calls every operation of every service cairn
// serves as every kind of caller: without a signature, with a bad or an
// expired one, with an unknown key, with another tenant's key naming the
// victim's resources, as a user and as the root of the resources' account,
// and as the administrator with a signed and an unsigned account header.
// Authentication failures answer their AWS error and change nothing; the
// other tenant gets the very answer it would get for resources that do
// not exist, and changes nothing; the account's own principals and the
// administrator are never refused but for administrator-only operations.
func TestAuthorizationMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole server")
	}
	srv, endpoint := startMatrixServer(t)
	m := &matrix{t: t, endpoint: endpoint, target: map[string]string{}, signing: map[string]string{}}
	adminOnly := map[string]bool{}
	for _, svc := range srv.api.Services {
		for op, spec := range svc.Ops {
			adminOnly[op] = spec.AdminOnly
			m.target[op] = svc.Targets[len(svc.Targets)-1]
			m.signing[op] = svc.SigningName
		}
	}
	for _, r := range srv.api.Routes {
		m.signing[r.Op] = r.Service.SigningName
	}

	raw, err := os.ReadFile(filepath.Join("testdata", "authz_ops.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ops []authzOp
	if err := json.Unmarshal(raw, &ops); err != nil {
		t.Fatal(err)
	}
	// The matrix covers every operation served, so a new operation
	// cannot be added without saying who may call it.
	var listed, served []string
	for _, o := range ops {
		listed = append(listed, o.Op)
	}
	for op := range m.signing {
		served = append(served, op)
	}
	sort.Strings(listed)
	sort.Strings(served)
	if !slices.Equal(listed, served) {
		t.Fatalf("testdata/authz_ops.json lists\n%v\nthe server serves\n%v", listed, served)
	}
	for _, o := range ops {
		if o.AdminOnly != adminOnly[o.Op] {
			t.Errorf("%s: testdata/authz_ops.json says adminOnly %v, the operation %v", o.Op, o.AdminOnly, adminOnly[o.Op])
		}
	}

	rk := srv.RootKey()
	admin := principal{name: "administrator", key: rk.AccessKeyID, secret: rk.SecretAccessKey}
	const victim, other = "222222222222", "333333333333"
	keyOf := func(acct, user string) principal {
		var k struct{ AccessKeyId, SecretAccessKey string }
		m.must(admin, "CreateAccessKey", map[string]string{"AccountId": acct, "UserName": user}, &k)
		name := acct + " root"
		if user != "" {
			name = acct + " user " + user
		}
		return principal{name: name, key: k.AccessKeyId, secret: k.SecretAccessKey}
	}
	m.must(admin, "CreateAccount", map[string]string{"AccountId": victim}, nil)
	m.must(admin, "CreateAccount", map[string]string{"AccountId": other}, nil)
	root, user, intruder := keyOf(victim, ""), keyOf(victim, "alice"), keyOf(other, "")

	// The victim's resources.
	vals := map[string]string{"acct": victim, "bucket": "victim-logs", "trailName": "victim-trail",
		"edsName": "victim-store", "chanName": "victim-channel", "topicName": "victim-topic", "objectKey": "hello.txt"}
	m.must(root, "CreateBucket", map[string]string{"Bucket": vals["bucket"]}, nil)
	if err := os.WriteFile(filepath.Join(srv.cfg.DataDir, "buckets", vals["bucket"], vals["objectKey"]), []byte("victim's object"), 0o600); err != nil {
		t.Fatal(err)
	}
	var trailOut struct{ TrailARN string }
	m.must(root, "CreateTrail", map[string]string{"Name": vals["trailName"], "S3BucketName": vals["bucket"]}, &trailOut)
	vals["trailArn"] = trailOut.TrailARN
	m.must(root, "AddTags", map[string]any{"ResourceId": vals["trailArn"], "TagsList": []map[string]string{{"Key": "owner", "Value": "victim"}}}, nil)
	m.must(root, "StartLogging", map[string]string{"Name": vals["trailArn"]}, nil)
	var eds struct{ EventDataStoreArn string }
	m.must(root, "CreateEventDataStore", map[string]string{"Name": vals["edsName"]}, &eds)
	vals["edsArn"] = eds.EventDataStoreArn
	vals["edsId"] = eds.EventDataStoreArn[strings.LastIndexByte(eds.EventDataStoreArn, '/')+1:]
	m.must(root, "CreateEventDataStore", map[string]any{"Name": "victim-audit", "AdvancedEventSelectors": []any{
		map[string]any{"FieldSelectors": []any{map[string]any{"Field": "eventCategory", "Equals": []string{"ActivityAuditLog"}}}}}}, &eds)
	vals["auditEdsArn"] = eds.EventDataStoreArn
	var ch struct{ ChannelArn string }
	m.must(root, "CreateChannel", map[string]any{"Name": vals["chanName"], "Source": "Custom",
		"Destinations": []map[string]string{{"Type": "EVENT_DATA_STORE", "Location": vals["auditEdsArn"]}}}, &ch)
	vals["chanArn"] = ch.ChannelArn
	var q struct{ QueryId string }
	m.must(root, "StartQuery", map[string]string{"QueryStatement": "SELECT eventid FROM " + vals["edsId"] + " LIMIT 1"}, &q)
	vals["queryId"] = q.QueryId
	var imp struct{ ImportId string }
	m.must(root, "StartImport", map[string]any{"Destinations": []string{vals["edsArn"]}, "ImportSource": map[string]any{"S3": map[string]string{
		"S3LocationUri": "s3://" + vals["bucket"] + "/", "S3BucketRegion": "us-east-1", "S3BucketAccessRoleArn": "arn:aws:iam::" + victim + ":role/import"}}}, &imp)
	vals["importId"] = imp.ImportId
	var topic struct{ TopicArn string }
	m.must(root, "CreateTopic", map[string]string{"Name": vals["topicName"], "Webhook": "https://hooks.example.com/victim"}, &topic)
	vals["topicArn"] = topic.TopicArn
	var org struct{ Organization struct{ Id string } }
	m.must(admin, "CreateOrganization", map[string]string{"ManagementAccountId": victim}, &org)
	vals["orgId"] = org.Organization.Id

	// The same names for resources that do not exist: what the intruder
	// would be told if the victim had none.
	const ghostID = "0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f"
	missing := map[string]string{}
	for k, v := range vals {
		missing[k] = v
	}
	missing["bucket"] = "ghost-logs"
	missing["trailName"] = "ghost-trail"
	missing["trailArn"] = strings.Replace(vals["trailArn"], "trail/victim-trail", "trail/ghost-trail", 1)
	missing["edsName"], missing["chanName"], missing["topicName"] = "ghost-store", "ghost-channel", "ghost-topic"
	missing["edsId"] = ghostID
	missing["edsArn"] = strings.Replace(vals["edsArn"], vals["edsId"], ghostID, 1)
	missing["auditEdsArn"] = missing["edsArn"]
	missing["chanArn"] = vals["chanArn"][:strings.LastIndexByte(vals["chanArn"], '/')+1] + ghostID
	missing["queryId"], missing["importId"] = ghostID, ghostID
	missing["topicArn"] = strings.Replace(vals["topicArn"], "victim-topic", "ghost-topic", 1)
	missing["orgId"] = "o-ghost00000"
	missing["objectKey"] = "ghost.txt"
	// normalize turns what an answer says of the victim's resources into
	// what it would say of the missing ones.
	normalize := func(s string) string {
		keys := make([]string, 0, len(vals))
		for k := range vals {
			keys = append(keys, k)
		}
		// Longer values first, so an ARN is replaced before its ID.
		sort.Slice(keys, func(i, j int) bool { return len(vals[keys[i]]) > len(vals[keys[j]]) })
		for _, k := range keys {
			if k != "acct" {
				s = strings.ReplaceAll(s, vals[k], missing[k])
			}
		}
		return s
	}
	victimSays := func(p principal) map[string]string {
		out := map[string]string{}
		for _, c := range []struct{ op, body string }{
			{"GetTrail", `{"Name":"{{trailArn}}"}`}, {"GetTrailStatus", `{"Name":"{{trailArn}}"}`},
			{"GetEventSelectors", `{"TrailName":"{{trailArn}}"}`}, {"ListTags", `{"ResourceIdList":["{{trailArn}}"]}`},
			{"GetEventDataStore", `{"EventDataStore":"{{edsArn}}"}`}, {"GetChannel", `{"Channel":"{{chanArn}}"}`},
			{"ListTopics", `{}`}, {"GetBucketPolicy", `{"Bucket":"{{bucket}}"}`}, {"ListObjects", `{"Bucket":"{{bucket}}"}`},
			{"DescribeOrganization", `{}`}, {"GetObject", `{"Bucket":"{{bucket}}","Key":"{{objectKey}}"}`},
		} {
			r := m.call(p, authzOp{Op: c.op}, []byte(fill(c.body, vals)), "")
			// Times that move on their own are not part of the state.
			out[c.op] = regexpTimes.ReplaceAllString(r.String(), "")
		}
		return out
	}
	before := victimSays(root)

	authFailures := []struct {
		p    principal
		code string
	}{
		{principal{name: "unsigned", unsigned: true}, awsapi.CodeMissingAuthenticationToken},
		{principal{name: "bad signature", key: root.key, secret: "not-the-secret"}, awsapi.CodeInvalidSignature},
		{principal{name: "expired signature", key: root.key, secret: root.secret, at: -20 * time.Minute}, awsapi.CodeInvalidSignature},
		{principal{name: "unknown key", key: "AKIAUNKNOWNUNKNOWN00", secret: "x"}, awsapi.CodeUnrecognizedClient},
		{principal{name: "administrator with an unsigned account header", key: admin.key, secret: admin.secret, account: victim}, awsapi.CodeIncompleteSignature},
	}
	for _, o := range ops {
		tmpl := string(o.Body)
		body, query := fill(tmpl, vals), fill(o.Query, vals)
		for _, f := range authFailures {
			if r := m.call(f.p, o, []byte(body), query); r.code != f.code {
				t.Errorf("%s by %s: %d %s, want %s", o.Op, f.p.name, r.status, r.body, f.code)
			}
		}
		// The other tenant, naming the victim's resources, and naming
		// resources that do not exist.
		seen := m.call(intruder, o, []byte(body), query)
		ghost := m.call(intruder, o, []byte(fill(tmpl, missing)), fill(o.Query, missing))
		if seen.status >= 500 || ghost.status >= 500 {
			t.Errorf("%s by the other tenant: %d %s / %d %s", o.Op, seen.status, seen.body, ghost.status, ghost.body)
		}
		naming := strings.Contains(tmpl, "{{") || strings.Contains(o.Query, "{{")
		if o.BucketExistenceIsPublic && seen.status == http.StatusOK && !strings.HasPrefix(o.Op, "Create") {
			t.Errorf("%s: the other tenant's call on the victim's bucket succeeded: %s", o.Op, seen.body)
		}
		if naming && !o.BucketExistenceIsPublic {
			if seen.status != ghost.status || seen.code != ghost.code || (seen.status != http.StatusOK && normalize(seen.message) != ghost.message) {
				t.Errorf("%s: the other tenant tells the victim's resources from missing ones:\n  victim's: %d %s\n  missing:  %d %s", o.Op, seen.status, seen.body, ghost.status, ghost.body)
			}
		}
		for k, v := range vals {
			if k == "acct" || k == "objectKey" || strings.HasSuffix(k, "Name") {
				continue
			}
			if strings.Contains(string(ghost.body), v) {
				t.Errorf("%s: the other tenant's answer shows the victim's %s %s: %s", o.Op, k, v, ghost.body)
			}
		}
	}
	after := victimSays(root)
	for op, b := range before {
		if after[op] != b {
			t.Errorf("the victim's %s changed after the other callers:\n  before %s\n  after  %s", op, b, after[op])
		}
	}
	// A query's and an import's status move on by themselves; they must
	// still be there.
	for op, body := range map[string]string{"GetImport": `{"ImportId":"{{importId}}"}`, "DescribeQuery": `{"QueryId":"{{queryId}}"}`} {
		if r := m.call(root, authzOp{Op: op}, []byte(fill(body, vals)), ""); r.status != http.StatusOK {
			t.Errorf("the victim's %s after the other callers: %s", op, r.body)
		}
	}

	// The account's own principals and the administrator acting on it are
	// never refused; the administrator acting on its own account may be
	// told the victim's buckets are not its own.
	allowed := []principal{user, root,
		{name: "administrator acting on the account", key: admin.key, secret: admin.secret, account: victim, signAccount: true}, admin}
	refused := map[string]bool{awsapi.CodeMissingAuthenticationToken: true, awsapi.CodeInvalidSignature: true, awsapi.CodeIncompleteSignature: true,
		awsapi.CodeUnrecognizedClient: true, awsapi.CodeAccessDenied: true, awsapi.CodeInternalFailure: true,
		awsapi.CodeUnknownOperation: true, awsapi.CodeSerialization: true}
	for _, o := range ops {
		body, query := fill(string(o.Body), vals), fill(o.Query, vals)
		for _, p := range allowed {
			r := m.call(p, o, []byte(body), query)
			isAdmin := p.key == admin.key
			switch {
			case o.AdminOnly && !isAdmin:
				if r.code != awsapi.CodeAccessDenied {
					t.Errorf("%s by %s: %d %s, want AccessDeniedException", o.Op, p.name, r.status, r.body)
				}
			case p == admin && o.BucketExistenceIsPublic && r.code == awsapi.CodeAccessDenied:
			case r.status >= 500 || refused[r.code]:
				t.Errorf("%s by %s: %d %s", o.Op, p.name, r.status, r.body)
			}
		}
	}
}
