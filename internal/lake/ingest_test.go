package lake

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/cairn-audit/cairn/internal/lakesql"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cairn-audit/cairn/internal/awsapi"
	"github.com/cairn-audit/cairn/internal/event"
	"github.com/cairn-audit/cairn/internal/ledger"
	"github.com/cairn-audit/cairn/internal/store"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// lakeFixture is a ledger, the store API, the lake database, the
// ingester and the queries.
type lakeFixture struct {
	*apiFixture
	ledger  *ledger.Ledger
	dbs     *Databases
	ing     *Ingester
	queries *Queries
	n       int
}

func newLake(t testing.TB) *lakeFixture {
	dir := t.TempDir()
	ldb, err := store.Open(dir+"/ledger", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := store.Open(dir+"/ids", store.Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.New(ldb, ids, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	stores, err := OpenStores(ldb)
	if err != nil {
		t.Fatal(err)
	}
	dbs, err := OpenDatabases(context.Background(), dir+"/lake", DefaultDBOptions(), stores, quiet)
	if err != nil {
		t.Fatal(err)
	}
	f := &lakeFixture{apiFixture: &apiFixture{t: t, clock: time.Now()}, ledger: l, dbs: dbs}
	f.a = &API{Stores: stores, Position: l.Last, Now: func() time.Time { return f.clock }}
	f.ing = &Ingester{Ledger: l, Stores: stores, DBs: dbs, Log: quiet, Now: func() time.Time { return f.clock }}
	f.queries = &Queries{DBs: dbs, API: f.a, Log: quiet}
	f.extra = f.queries.Ops()
	t.Cleanup(func() {
		f.queries.Close()
		cancel()
		<-done
		dbs.Close()
		ids.Close()
		ldb.Close()
	})
	return f
}

// add appends CloudTrail records to the ledger.
func (f *lakeFixture) add(records ...string) {
	f.t.Helper()
	var entries []ledger.Entry
	for _, raw := range records {
		env, err := event.Parse([]byte(raw), event.Defaults{})
		if err != nil {
			f.t.Fatal(err)
		}
		v, err := env.MarshalBinary()
		if err != nil {
			f.t.Fatal(err)
		}
		entries = append(entries, ledger.Entry{Account: env.AccountID, ID: env.EventID, Value: v})
	}
	if _, err := f.ledger.Append(context.Background(), entries); err != nil {
		f.t.Fatal(err)
	}
}

func (f *lakeFixture) record(account, region, source, name string, readOnly bool, params string, when time.Time) string {
	f.n++
	if params == "" {
		params = "null"
	}
	return fmt.Sprintf(`{"eventVersion":"1.11","userIdentity":{"type":"IAMUser","principalId":"AIDA%d","arn":"arn:aws:iam::%s:user/u%d","accountId":"%s","userName":"u%d","sessionContext":{"attributes":{"creationDate":"2026-11-01T10:00:00Z","mfaAuthenticated":"true"}}},"eventTime":"%s","eventSource":"%s","eventName":"%s","awsRegion":"%s","sourceIPAddress":"203.0.113.%d","userAgent":"test","requestParameters":%s,"responseElements":null,"requestID":"req-%d","eventID":"00000000-0000-4000-8000-%012d","readOnly":%v,"resources":[{"accountId":"%s","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::b%d"}],"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"%s","eventCategory":"Management","tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"s3.amazonaws.com"}}`,
		f.n%3, account, f.n%3, account, f.n%3, when.UTC().Format(time.RFC3339), source, name, region, f.n%250, params, f.n, f.n, readOnly, account, f.n%4, account)
}

// drain runs ingestion passes until nothing is left.
func (f *lakeFixture) drain() {
	f.t.Helper()
	for {
		more, err := f.ing.Pass(context.Background())
		if err != nil {
			f.t.Fatal(err)
		}
		if !more {
			return
		}
	}
}

// query runs a query through the API and returns its rows as
// "col=value" cells joined by "|".
func (f *lakeFixture) query(sql string) ([]string, string) {
	f.t.Helper()
	return f.queryAs("123456789012", sql)
}

// queryAs runs a query as account, as query does.
func (f *lakeFixture) queryAs(account, sql string) ([]string, string) {
	f.t.Helper()
	body, _ := json.Marshal(map[string]any{"QueryStatement": sql})
	call := &awsapi.Call{Operation: "StartQuery", AccountID: account, Region: "us-east-1", Body: body}
	out, err := f.queries.Ops()["StartQuery"].Handle(context.Background(), call)
	if err != nil {
		return nil, err.Error()
	}
	id := out.(struct{ QueryId string }).QueryId
	var status string
	for start := time.Now(); time.Since(start) < 30*time.Second; time.Sleep(5 * time.Millisecond) {
		d, _ := f.call(account, "us-east-1", "DescribeQuery", map[string]any{"QueryId": id})
		status = d["QueryStatus"].(string)
		if status != QueryQueued && status != QueryRunning {
			if status != QueryFinished {
				return nil, status + ": " + fmt.Sprint(d["ErrorMessage"])
			}
			break
		}
	}
	var rows []string
	token := ""
	for {
		in := map[string]any{"QueryId": id, "MaxQueryResults": 2}
		if token != "" {
			in["NextToken"] = token
		}
		res, code := f.call(account, "us-east-1", "GetQueryResults", in)
		if code != "" {
			f.t.Fatalf("GetQueryResults: %s", code)
		}
		for _, r := range res["QueryResultRows"].([]any) {
			var cells []string
			for _, c := range r.([]any) {
				for k, v := range c.(map[string]any) {
					cells = append(cells, fmt.Sprintf("%s=%v", k, v))
				}
			}
			rows = append(rows, strings.Join(cells, "|"))
		}
		next, _ := res["NextToken"].(string)
		if next == "" {
			break
		}
		token = next
	}
	return rows, ""
}

func TestIngestAndQuery(t *testing.T) {
	f := newLake(t)
	base := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	f.add(f.record("123456789012", "us-east-1", "s3.amazonaws.com", "Before", false, "", base)) // before the store
	all := f.ok("CreateEventDataStore", map[string]any{"Name": "all-mgmt"})["EventDataStoreArn"].(string)
	writes := f.ok("CreateEventDataStore", map[string]any{"Name": "writes", "MultiRegionEnabled": false, "AdvancedEventSelectors": []any{
		map[string]any{"Name": "w", "FieldSelectors": []any{
			map[string]any{"Field": "eventCategory", "Equals": []string{"Management"}},
			map[string]any{"Field": "readOnly", "Equals": []string{"false"}}}}}})["EventDataStoreArn"].(string)
	allID, _, _, _ := ParseRef(all)
	writesID, _, _, _ := ParseRef(writes)
	f.add(
		f.record("123456789012", "us-east-1", "s3.amazonaws.com", "CreateBucket", false, `{"bucketName":"logs","CreateBucketConfiguration":{"LocationConstraint":"eu-west-1"},"n":3}`, base.Add(time.Minute)),
		f.record("123456789012", "eu-west-1", "s3.amazonaws.com", "ListBuckets", true, "", base.Add(2*time.Minute)),
		f.record("123456789012", "us-east-1", "ec2.amazonaws.com", "RunInstances", false, `{"instanceType":"t3.micro"}`, base.Add(3*time.Minute)),
		f.record("123456789012", "us-east-1", "ec2.amazonaws.com", "DescribeInstances", true, "", base.Add(4*time.Minute)),
		f.record("210987654321", "us-east-1", "ec2.amazonaws.com", "OtherAccount", false, "", base.Add(5*time.Minute)),
	)
	f.drain()

	rows, errMsg := f.query("SELECT eventname, count(*) AS n FROM " + allID + " GROUP BY eventname ORDER BY eventname")
	if errMsg != "" || strings.Join(rows, ";") != "eventname=CreateBucket|n=1;eventname=DescribeInstances|n=1;eventname=ListBuckets|n=1;eventname=RunInstances|n=1" {
		t.Fatalf("all: %q %s", rows, errMsg)
	}
	rows, errMsg = f.query("SELECT eventname FROM " + writes + " ORDER BY eventtime")
	if errMsg != "" || strings.Join(rows, ";") != "eventname=CreateBucket;eventname=RunInstances" {
		t.Fatalf("writes (single-Region, by ARN): %q %s", rows, errMsg)
	}
	rows, errMsg = f.query(`SELECT element_at(requestparameters, 'bucketName') AS b, requestparameters['CreateBucketConfiguration'] AS c, requestparameters['n'] AS n,
		useridentity.sessioncontext.attributes.mfaauthenticated AS mfa, tlsdetails.tlsversion AS tls, resources[1].arn AS r, eventtime
		FROM ` + allID + ` WHERE eventname = 'CreateBucket' AND eventtime > '2026-11-20 10:00:00'`)
	want := `b=logs|c={"LocationConstraint":"eu-west-1"}|n=3|mfa=true|tls=TLSv1.3|r=arn:aws:s3:::b2|eventtime=2026-11-20 10:01:00.000`
	if errMsg != "" || len(rows) != 1 || rows[0] != want {
		t.Fatalf("structs and maps: %q %s\nwant %q", rows, errMsg, want)
	}
	rows, _ = f.query("SELECT count(*), max(a.eventName) FROM " + allID + " a JOIN " + writesID + " w ON a.eventid = w.eventid")
	if strings.Join(rows, ";") != "_col0=2|_col1=RunInstances" {
		t.Fatalf("join: %q", rows)
	}
	rows, _ = f.query("SELECT eventName, eventname AS EN FROM " + writesID + " UNION ALL SELECT eventname, 'x' FROM " + allID + " WHERE eventname = 'ListBuckets' ORDER BY 1")
	if strings.Join(rows, ";") != "eventName=CreateBucket|EN=CreateBucket;eventName=ListBuckets|EN=x;eventName=RunInstances|EN=RunInstances" {
		t.Fatalf("union, names as written: %q", rows)
	}

	// Stopped ingestion takes nothing; started again, it takes what comes.
	f.ok("StopEventDataStoreIngestion", map[string]any{"EventDataStore": allID})
	f.add(f.record("123456789012", "us-east-1", "s3.amazonaws.com", "WhileStopped", false, "", base.Add(6*time.Minute)))
	f.drain()
	f.ok("StartEventDataStoreIngestion", map[string]any{"EventDataStore": allID})
	f.add(f.record("123456789012", "us-east-1", "s3.amazonaws.com", "AfterStart", false, "", base.Add(7*time.Minute)))
	f.drain()
	rows, _ = f.query("SELECT eventname FROM " + allID + " WHERE eventtime >= timestamp '2026-11-20 10:06:00' ORDER BY eventtime")
	if strings.Join(rows, ";") != "eventname=AfterStart" {
		t.Fatalf("after stop and start: %q", rows)
	}

	// Retention removes events by eventTime.
	f.clock = base.Add(366*24*time.Hour + 150*time.Second)
	f.ing.lastSweep = time.Time{}
	f.drain()
	rows, _ = f.query("SELECT eventname FROM " + allID + " ORDER BY eventtime")
	if strings.Join(rows, ";") != "eventname=RunInstances;eventname=DescribeInstances;eventname=AfterStart" {
		t.Fatalf("after retention: %q", rows)
	}

	// Another account's store, bad SQL: InvalidQueryStatementException.
	for _, q := range []string{
		"SELECT * FROM 00000000-0000-4000-8000-000000000000",
		"DROP TABLE " + TableOf(allID),
		"SELECT eventjson FROM " + TableOf(allID) + "_rows",
		"SELECT count(*) FROM " + allID + " a, " + lakesql.RowsTable(TableOf(allID)),
		"SELECT * FROM read_csv('/etc/passwd')",
		"SELEC eventname FROM " + allID,
	} {
		if _, msg := f.query(q); !strings.Contains(msg, awsapi.CodeInvalidQueryStatement) {
			t.Errorf("%s: %s", q, msg)
		}
	}
}

// TestOrganizationStore checks that an organization store of the
// management account takes its members' events, and other stores only
// their own account's.
func TestOrganizationStore(t *testing.T) {
	f := newLake(t)
	const mgmt, member, outsider = "123456789012", "111111111111", "222222222222"
	f.ing.ManagedBy = func(account string) (string, bool) {
		if account == mgmt || account == member {
			return mgmt, true
		}
		return "", false
	}
	f.a.IsOrgManagement = func(account string) bool { return account == mgmt }
	orgID := f.ok("CreateEventDataStore", map[string]any{"Name": "org", "OrganizationEnabled": true})["EventDataStoreArn"].(string)
	ownID := f.ok("CreateEventDataStore", map[string]any{"Name": "own"})["EventDataStoreArn"].(string)
	orgID, ownID = orgID[strings.LastIndex(orgID, "/")+1:], ownID[strings.LastIndex(ownID, "/")+1:]
	when := time.Now().Add(-time.Minute)
	f.add(f.record(mgmt, "us-east-1", "s3.amazonaws.com", "FromManagement", false, "", when),
		f.record(member, "eu-west-1", "s3.amazonaws.com", "FromMember", false, "", when),
		f.record(outsider, "us-east-1", "s3.amazonaws.com", "FromOutsider", false, "", when))
	f.drain()
	for id, want := range map[string]string{
		orgID: "eventname=FromManagement|recipientaccountid=123456789012;eventname=FromMember|recipientaccountid=111111111111",
		ownID: "eventname=FromManagement|recipientaccountid=123456789012",
	} {
		rows, msg := f.query("SELECT eventname, recipientaccountid FROM " + id + " WHERE eventname LIKE 'From%' ORDER BY 1")
		if got := strings.Join(rows, ";"); got != want {
			t.Errorf("store %s: %q %s, want %q", id, got, msg, want)
		}
	}
}
