package objstore

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/cairn-audit/cairn/internal/awsapi"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

func openDB(t *testing.T, fs vfs.FS) *pebble.DB {
	t.Helper()
	db, err := pebble.Open("db", &pebble.Options{FS: fs, Logger: quietLogger{t}})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// quietLogger keeps Pebble's start-up chatter out of test output.
type quietLogger struct{ t *testing.T }

func (quietLogger) Infof(string, ...any)             {}
func (l quietLogger) Errorf(format string, a ...any) { l.t.Logf(format, a...) }
func (l quietLogger) Fatalf(format string, a ...any) { l.t.Fatalf(format, a...) }

func newRegistry(t *testing.T) (*Registry, *Mem) {
	t.Helper()
	db := openDB(t, vfs.NewMem())
	t.Cleanup(func() { db.Close() })
	mem := NewMem()
	r, err := OpenRegistry(db, map[string]Store{"mem": mem}, "mem")
	if err != nil {
		t.Fatal(err)
	}
	return r, mem
}

func TestValidBucketName(t *testing.T) {
	for name, want := range map[string]bool{
		"trail-logs": true, "abc": true, "my.bucket.name": true, "a1-2.b3": true, "123": true,
		"ab": false, "": false, "Trail-Logs": false, "under_score": false, "-start": false, "end-": false,
		".start": false, "end.": false, "a..b": false, "192.168.5.4": false, "999.1.1.1": false,
		"xn--bucket": false, "bucket-s3alias": false, "bucket--ol-s3": false, "sthree-x": false,
		"a/b": false, "a b": false, "..": false, "é-bucket": false,
		"a23456789012345678901234567890123456789012345678901234567890123":  true,
		"a234567890123456789012345678901234567890123456789012345678901234": false,
	} {
		if got := ValidBucketName(name); got != want {
			t.Errorf("ValidBucketName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestRegistryCreate(t *testing.T) {
	ctx := t.Context()
	r, mem := newRegistry(t)
	if _, err := r.Create(ctx, "111111111111", "Bad_Name", CreateOptions{}); !errors.Is(err, ErrInvalidBucketName) {
		t.Errorf("invalid name: %v", err)
	}
	if _, err := r.Create(ctx, "not-an-account", "good-name", CreateOptions{}); !errors.Is(err, ErrInvalidAccount) {
		t.Errorf("invalid owner: %v", err)
	}
	b, err := r.Create(ctx, "111111111111", "trail-logs", CreateOptions{ObjectLock: true})
	if err != nil {
		t.Fatal(err)
	}
	if b.Owner != "111111111111" || b.Backend != "mem" || !b.ObjectLock || b.Created.IsZero() {
		t.Errorf("created %+v", b)
	}
	if ok, _ := mem.BucketExists(ctx, "trail-logs"); !ok {
		t.Error("bucket not made on the backend")
	}
	if _, err := r.Create(ctx, "222222222222", "trail-logs", CreateOptions{}); !errors.Is(err, ErrBucketExists) {
		t.Errorf("second create: %v", err)
	}
	// A bucket the backend has but cairn does not know is the
	// administrator's to adopt (TestOnlyTheAdministratorAdopts).
	mem.CreateBucket(ctx, "made-by-hand", false)
	if _, err := r.Create(ctx, "111111111111", "made-by-hand", CreateOptions{Adopt: true}); err != nil {
		t.Errorf("adopt: %v", err)
	}
	// A backend failure registers nothing and frees the name.
	mem.SetFailure(errors.New("down"))
	if _, err := r.Create(ctx, "111111111111", "during-outage", CreateOptions{}); err == nil {
		t.Error("create during an outage succeeded")
	}
	mem.SetFailure(nil)
	if _, ok := r.Get("during-outage"); ok {
		t.Error("failed create registered the bucket")
	}
	if _, err := r.Create(ctx, "111111111111", "during-outage", CreateOptions{}); err != nil {
		t.Errorf("create after the outage: %v", err)
	}
	if s, err := r.Store("trail-logs"); err != nil || s != Store(mem) {
		t.Errorf("Store = %v, %v", s, err)
	}
	if _, err := r.Store("unknown"); !errors.Is(err, ErrNoSuchBucket) {
		t.Errorf("Store(unknown): %v", err)
	}
}

func TestRegistryPersists(t *testing.T) {
	ctx := t.Context()
	fs := vfs.NewMem()
	db := openDB(t, fs)
	backends := map[string]Store{"mem": NewMem()}
	r, err := OpenRegistry(db, backends, "mem")
	if err != nil {
		t.Fatal(err)
	}
	r.Create(ctx, "222222222222", "zeta-logs", CreateOptions{})
	r.Create(ctx, "111111111111", "alpha-logs", CreateOptions{})
	r.Create(ctx, "111111111111", "beta-logs", CreateOptions{})
	if err := r.Allow("alpha-logs", "333333333333"); err != nil {
		t.Fatal(err)
	}
	pol := `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::alpha-logs/*"}]}`
	if err := r.SetPolicy("alpha-logs", pol); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db = openDB(t, fs)
	defer db.Close()
	r, err = OpenRegistry(db, backends, "mem")
	if err != nil {
		t.Fatal(err)
	}
	b, ok := r.Get("alpha-logs")
	if !ok || b.Owner != "111111111111" || !slices.Equal(b.Allowed, []string{"333333333333"}) || b.Policy != pol {
		t.Errorf("after reopen: %+v", b)
	}
	if !r.CanDeliver("alpha-logs", "444444444444", "", "k") {
		t.Error("the reloaded policy is not in force")
	}
	var names []string
	for _, b := range r.List("111111111111") {
		names = append(names, b.Name)
	}
	if !slices.Equal(names, []string{"alpha-logs", "beta-logs"}) {
		t.Errorf("List(owner) = %q", names)
	}
	if all := r.List(""); len(all) != 3 || all[2].Name != "zeta-logs" {
		t.Errorf("List(\"\") = %+v", all)
	}
	if _, err := OpenRegistry(db, backends, "s3"); err == nil {
		t.Error("an unknown default backend was accepted")
	}
}

func TestRegistryAllowAndPolicy(t *testing.T) {
	ctx := t.Context()
	r, _ := newRegistry(t)
	r.Create(ctx, "111111111111", "trail-logs", CreateOptions{})
	if err := r.Allow("trail-logs", "12"); !errors.Is(err, ErrInvalidAccount) {
		t.Errorf("Allow(bad account): %v", err)
	}
	if err := r.Allow("nope-bucket", "222222222222"); !errors.Is(err, ErrNoSuchBucket) {
		t.Errorf("Allow(unknown bucket): %v", err)
	}
	r.Allow("trail-logs", "333333333333")
	r.Allow("trail-logs", "222222222222")
	r.Allow("trail-logs", "222222222222")
	if b, _ := r.Get("trail-logs"); !slices.Equal(b.Allowed, []string{"222222222222", "333333333333"}) {
		t.Errorf("Allowed = %q", b.Allowed)
	}
	// Get hands out a copy.
	b, _ := r.Get("trail-logs")
	b.Allowed[0] = "999999999999"
	if r.CanDeliver("trail-logs", "999999999999", "", "k") {
		t.Error("a caller's copy changed the registry")
	}
	if err := r.SetPolicy("nope-bucket", ""); !errors.Is(err, ErrNoSuchBucket) {
		t.Errorf("SetPolicy(unknown bucket): %v", err)
	}
	if err := r.SetPolicy("trail-logs", `{"Statement":[]}`); !errors.Is(err, ErrInvalidPolicy) {
		t.Errorf("SetPolicy(empty statements): %v", err)
	}
	pol := `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::trail-logs/*"}]}`
	r.SetPolicy("trail-logs", pol)
	if !r.CanDeliver("trail-logs", "444444444444", "", "k") {
		t.Error("policy not applied")
	}
	r.SetPolicy("trail-logs", "")
	if r.CanDeliver("trail-logs", "444444444444", "", "k") {
		t.Error("removed policy still applied")
	}
	if r.CanDeliver("nope-bucket", "111111111111", "", "k") {
		t.Error("delivery into an unknown bucket allowed")
	}
}

// TestCanDeliver runs the cases of testdata/candeliver.json against bucket
// trail-logs of account 111111111111.
func TestCanDeliver(t *testing.T) {
	b, err := os.ReadFile("testdata/candeliver.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Name    string
		Policy  json.RawMessage
		Allowed []string
		Account string
		Trail   string
		Key     string
		Want    bool
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			r, _ := newRegistry(t)
			if _, err := r.Create(t.Context(), "111111111111", "trail-logs", CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			for _, a := range c.Allowed {
				if err := r.Allow("trail-logs", a); err != nil {
					t.Fatal(err)
				}
			}
			if len(c.Policy) > 0 {
				if err := r.SetPolicy("trail-logs", string(c.Policy)); err != nil {
					t.Fatal(err)
				}
			}
			if got := r.CanDeliver("trail-logs", c.Account, c.Trail, c.Key); got != c.Want {
				t.Errorf("CanDeliver(%s, %s, %s) = %v, want %v", c.Account, c.Trail, c.Key, got, c.Want)
			}
		})
	}
}

func TestParsePolicyRefuses(t *testing.T) {
	for why, doc := range map[string]string{
		"not JSON":            `{`,
		"not an object":       `[]`,
		"null":                `null`,
		"unknown top field":   `{"Statement":[],"Extra":1}`,
		"bad version":         `{"Version":"2020-01-01","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::b-1/*"}}`,
		"no statement":        `{"Version":"2012-10-17"}`,
		"empty statements":    `{"Statement":[]}`,
		"bad effect":          `{"Statement":{"Effect":"Maybe","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::b-1/*"}}`,
		"no principal":        `{"Statement":{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::b-1/*"}}`,
		"principal string":    `{"Statement":{"Effect":"Allow","Principal":"someone","Action":"s3:PutObject","Resource":"arn:aws:s3:::b-1/*"}}`,
		"principal kind":      `{"Statement":{"Effect":"Allow","Principal":{"Robot":"x"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::b-1/*"}}`,
		"NotPrincipal":        `{"Statement":{"Effect":"Deny","NotPrincipal":{"AWS":"1"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::b-1/*"}}`,
		"NotAction":           `{"Statement":{"Effect":"Allow","Principal":"*","NotAction":"s3:GetObject","Resource":"arn:aws:s3:::b-1/*"}}`,
		"no action":           `{"Statement":{"Effect":"Allow","Principal":"*","Resource":"arn:aws:s3:::b-1/*"}}`,
		"empty action list":   `{"Statement":{"Effect":"Allow","Principal":"*","Action":[],"Resource":"arn:aws:s3:::b-1/*"}}`,
		"non-S3 action":       `{"Statement":{"Effect":"Allow","Principal":"*","Action":"iam:PassRole","Resource":"arn:aws:s3:::b-1/*"}}`,
		"action number":       `{"Statement":{"Effect":"Allow","Principal":"*","Action":5,"Resource":"arn:aws:s3:::b-1/*"}}`,
		"no resource":         `{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:PutObject"}}`,
		"other bucket":        `{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::b-2/*"}}`,
		"bucket name prefix":  `{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::b-1x/*"}}`,
		"condition shape":     `{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::b-1/*","Condition":{"StringEquals":"x"}}}`,
		"condition no values": `{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::b-1/*","Condition":{"StringEquals":{"aws:SourceAccount":[]}}}}`,
		"statement field":     `{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::b-1/*","effect":"Deny"}}`,
	} {
		if _, err := parsePolicy("b-1", doc); !errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("%s: %v", why, err)
		}
	}
	if _, err := parsePolicy("b-1", `{"Version":"2012-10-17","Id":"x","Statement":{"Sid":"s","Effect":"Allow","Principal":{"AWS":["1"],"Service":"cloudtrail.amazonaws.com"},"Action":"s3:PutObject","Resource":["arn:aws:s3:::b-1","arn:aws:s3:::b-1/*"],"Condition":{"SomeFutureOperator":{"k":"v"}}}}`); err != nil {
		t.Errorf("a valid policy was refused: %v", err)
	}
}

func TestGlob(t *testing.T) {
	for _, c := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true}, {"*", "anything/at:all", true}, {"a*c", "abc", true}, {"a*c", "abcd", false},
		{"a?c", "abc", true}, {"a?c", "ac", false}, {"*/AWSLogs/*", "x/AWSLogs/1/y", true},
		{"a*b*c", "aXbYbZc", true}, {"", "", true}, {"", "a", false}, {"é?", "éü", true},
	} {
		if got := glob(c.pattern, c.s); got != c.want {
			t.Errorf("glob(%q, %q) = %v", c.pattern, c.s, got)
		}
	}
}

// FuzzPolicy feeds arbitrary policies to the parser and, when one is
// accepted, to the evaluator: neither may panic, and a bucket policy is
// untrusted input from any account owner.
func FuzzPolicy(f *testing.F) {
	f.Add(`{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b-1/*","Condition":{"ArnLike":{"aws:SourceArn":"arn:*:?:*"}}}}`, "k")
	f.Add(`{"Statement":[{"Effect":"Deny","Principal":{"AWS":["*"]},"Action":["*"],"Resource":"arn:aws:s3:::b-1/**??","Condition":{"NullIfExists":{"x":"true"}}}]}`, "a/b")
	f.Fuzz(func(t *testing.T, doc, key string) {
		p, err := parsePolicy("b-1", doc)
		if err != nil {
			return
		}
		p.decide(delivery{account: "222222222222", trailARN: "arn:aws:cloudtrail:us-east-1:222222222222:trail/t", resource: "arn:aws:s3:::b-1/" + key})
	})
}

func TestCreateOnANamedBackend(t *testing.T) {
	db := openDB(t, vfs.NewMem())
	defer db.Close()
	fs, mem := NewFS(t.TempDir()), NewMem()
	r, err := OpenRegistry(db, map[string]Store{"fs": fs, "s3": mem}, "s3")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if b, err := r.Create(ctx, "111111111111", "local-logs", CreateOptions{Backend: "fs"}); err != nil || b.Backend != "fs" {
		t.Fatalf("Create on fs: %+v %v", b, err)
	}
	if ok, _ := fs.BucketExists(ctx, "local-logs"); !ok {
		t.Fatal("the fs bucket was not made on fs")
	}
	if b, err := r.Create(ctx, "111111111111", "remote-logs", CreateOptions{}); err != nil || b.Backend != "s3" {
		t.Fatalf("Create on the default: %+v %v", b, err)
	}
	if _, err := r.Create(ctx, "111111111111", "other-logs", CreateOptions{Backend: "gcs"}); !errors.Is(err, ErrNoSuchBackend) {
		t.Fatalf("an unknown backend: %v", err)
	}
	if got := r.Backends(); len(got) != 2 || got[0] != "fs" || got[1] != "s3" {
		t.Fatalf("Backends() = %v", got)
	}
}

func TestRegistryRetention(t *testing.T) {
	ctx := t.Context()
	fs := vfs.NewMem()
	db := openDB(t, fs)
	backends := map[string]Store{"mem": NewMem()}
	r, err := OpenRegistry(db, backends, "mem")
	if err != nil {
		t.Fatal(err)
	}
	r.Create(ctx, "111111111111", "plain", CreateOptions{})
	r.Create(ctx, "111111111111", "locked", CreateOptions{ObjectLock: true})
	day := 24 * time.Hour

	// Without a server default, only a bucket's own period retains.
	for _, name := range []string{"plain", "locked"} {
		if keep, err := r.Retention(name); keep != 0 || err != nil {
			t.Errorf("Retention(%s) = %v, %v; want none", name, keep, err)
		}
	}
	if err := r.SetRetention("plain", 7); !errors.Is(err, ErrNoObjectLock) {
		t.Errorf("SetRetention on a bucket without Object Lock: %v", err)
	}
	for _, days := range []int{-1, MaxRetentionDays + 1} {
		if err := r.SetRetention("locked", days); !errors.Is(err, ErrInvalidRetention) {
			t.Errorf("SetRetention(%d): %v", days, err)
		}
		if err := r.SetDefaultRetention(days); !errors.Is(err, ErrInvalidRetention) {
			t.Errorf("SetDefaultRetention(%d): %v", days, err)
		}
	}
	if err := r.SetRetention("missing", 7); !errors.Is(err, ErrNoSuchBucket) {
		t.Errorf("SetRetention on a missing bucket: %v", err)
	}
	if err := r.SetRetention("locked", 7); err != nil {
		t.Fatal(err)
	}
	if keep, err := r.Retention("locked"); keep != 7*day || err != nil {
		t.Errorf("Retention(locked) = %v, %v; want 7 days", keep, err)
	}

	// A server default applies where a bucket has none, refuses to leave
	// files unprotected in a bucket without Object Lock, and gives new
	// buckets Object Lock.
	if err := r.SetDefaultRetention(30); err != nil {
		t.Fatal(err)
	}
	if keep, _ := r.Retention("locked"); keep != 7*day {
		t.Errorf("the bucket's own period lost to the default: %v", keep)
	}
	if _, err := r.Retention("plain"); !errors.Is(err, ErrNoObjectLock) {
		t.Errorf("Retention(plain) under a default: %v, want ErrNoObjectLock", err)
	}
	b, err := r.Create(ctx, "111111111111", "new-logs", CreateOptions{})
	if err != nil || !b.ObjectLock {
		t.Fatalf("a bucket made under a default: %+v, %v; want Object Lock", b, err)
	}
	if keep, err := r.Retention("new-logs"); keep != 30*day || err != nil {
		t.Errorf("Retention(new-logs) = %v, %v; want 30 days", keep, err)
	}
	if err := r.SetRetention("locked", 0); err != nil {
		t.Fatal(err)
	}
	if keep, _ := r.Retention("locked"); keep != 30*day {
		t.Errorf("after returning to the default: %v", keep)
	}
	r.SetRetention("new-logs", 400)
	db.Close()

	db = openDB(t, fs)
	defer db.Close()
	if r, err = OpenRegistry(db, backends, "mem"); err != nil {
		t.Fatal(err)
	}
	if b, _ := r.Get("new-logs"); b.RetentionDays != 400 || !b.ObjectLock {
		t.Errorf("after reopen: %+v", b)
	}
}

// TestOnlyTheAdministratorAdopts: a bucket already on the backend (an
// unrelated bucket, a directory prepared with another account's archive)
// is BucketAlreadyExists to a tenant, who gets nothing and changes
// nothing; the administrator may register it for the account it acts on.
func TestOnlyTheAdministratorAdopts(t *testing.T) {
	for _, backend := range []struct {
		name string
		new  func(t *testing.T) Store
	}{
		{"mem", func(t *testing.T) Store { return NewMem() }},
		{"fs", func(t *testing.T) Store { return NewFS(filepath.Join(t.TempDir(), "buckets")) }},
	} {
		t.Run(backend.name, func(t *testing.T) {
			ctx := t.Context()
			db := openDB(t, vfs.NewMem())
			t.Cleanup(func() { db.Close() })
			st := backend.new(t)
			r, err := OpenRegistry(db, map[string]Store{backend.name: st}, backend.name)
			if err != nil {
				t.Fatal(err)
			}
			// What the operator prepared: another account's archive.
			if err := st.CreateBucket(ctx, "prepared", false); err != nil {
				t.Fatal(err)
			}
			const secret = "AWSLogs/333333333333/CloudTrail/us-east-1/2026/01/01/f.json.gz"
			if err := st.Put(ctx, "prepared", secret, []byte("theirs"), PutOptions{}); err != nil {
				t.Fatal(err)
			}
			ops := Ops(r)
			_, aerr := call(t, ops, "CreateBucket", stranger, false, `{"Bucket":"prepared"}`)
			wantCode(t, "a tenant's CreateBucket of a bucket on the backend", aerr, awsapi.CodeBucketAlreadyExists)
			if aerr != nil && aerr.Message != "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again." {
				t.Errorf("message %q", aerr.Message)
			}
			if _, ok := r.Get("prepared"); ok {
				t.Fatal("the refused create registered the bucket")
			}
			_, aerr = call(t, ops, "GetObject", stranger, false, `{"Bucket":"prepared","Key":"`+secret+`"}`)
			wantCode(t, "the tenant's GetObject", aerr, awsapi.CodeNoSuchBucket)
			if obj, err := st.Get(ctx, "prepared", secret); err != nil || string(obj.Body) != "theirs" {
				t.Fatalf("the prepared object after the refusal: %v, %v", obj, err)
			}
			if _, err := r.Create(ctx, stranger, "prepared", CreateOptions{}); !errors.Is(err, ErrBucketExists) {
				t.Errorf("Create without Adopt: %v, want ErrBucketExists", err)
			}
			// The administrator, acting on the rightful owner, adopts it.
			out, aerr := call(t, ops, "CreateBucket", "333333333333", true, `{"Bucket":"prepared"}`)
			if aerr != nil || out["Owner"] != "333333333333" {
				t.Fatalf("the administrator's CreateBucket: %v, %v", out, aerr)
			}
			if _, aerr := call(t, ops, "GetObject", "333333333333", false, `{"Bucket":"prepared","Key":"`+secret+`"}`); aerr != nil {
				t.Errorf("the owner's GetObject: %v", aerr)
			}
			// Once registered the name is taken for the administrator too.
			_, aerr = call(t, ops, "CreateBucket", stranger, true, `{"Bucket":"prepared"}`)
			wantCode(t, "the administrator's CreateBucket of a registered bucket", aerr, awsapi.CodeBucketAlreadyExists)
			if b, _ := r.Get("prepared"); b.Owner != "333333333333" {
				t.Errorf("owner %s after a second create", b.Owner)
			}
		})
	}
}
