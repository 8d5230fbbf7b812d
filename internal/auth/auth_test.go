package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-audit/cairn/internal/store"
)

func openDir(t *testing.T, path string) *Directory {
	t.Helper()
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	d, err := Open(db)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestBootstrapKeepsThenHonoursFixedCredentials(t *testing.T) {
	path := t.TempDir()
	d := openDir(t, path)
	k1, err := d.Bootstrap("", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(k1.AccountID) != 12 || !strings.HasPrefix(k1.AccessKeyID, "AKIA") || len(k1.AccessKeyID) != 20 || len(k1.SecretAccessKey) != 40 {
		t.Fatalf("generated root key %+v", k1)
	}
	k2, err := d.Bootstrap("", "", "")
	if err != nil || k2 != k1 {
		t.Fatalf("second start changed the root key: %+v vs %+v (%v)", k2, k1, err)
	}
	p, err := d.Principal(k1.AccessKeyID)
	if err != nil || !p.Admin || p.Type() != "Root" || p.ARN() != "arn:aws:iam::"+k1.AccountID+":root" {
		t.Fatalf("root principal %+v %v", p, err)
	}
	k3, err := d.Bootstrap("123456789012", "AKIAFIXEDFIXEDFIXED1", "fixed-secret")
	if err != nil || k3.AccountID != "123456789012" || k3.AccessKeyID != "AKIAFIXEDFIXEDFIXED1" || k3.SecretAccessKey != "fixed-secret" {
		t.Fatalf("fixed credentials: %+v %v", k3, err)
	}
	if p, _ := d.Principal(k3.AccessKeyID); !p.Admin {
		t.Fatal("fixed root key is not the administrator's")
	}
	if p, _ := d.Principal(k1.AccessKeyID); p.Admin {
		t.Fatal("the old administrator account is still administrator")
	}
	if _, err := d.Bootstrap("12", "", ""); err == nil {
		t.Fatal("bad CAIRN_ROOT_ACCOUNT_ID accepted")
	}
}

func TestAccountsAndKeysPersist(t *testing.T) {
	path := t.TempDir()
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateAccount("222222222222", "tenant"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateAccount("222222222222", "again"); err != ErrAccountExists {
		t.Fatalf("duplicate account: %v", err)
	}
	if _, err := d.CreateAccount("22", ""); err != ErrInvalidAccount {
		t.Fatalf("bad account: %v", err)
	}
	if _, err := d.CreateKey("333333333333", ""); err != ErrNoSuchAccount {
		t.Fatalf("key for missing account: %v", err)
	}
	if _, err := d.CreateKey("222222222222", "bad name!"); err != ErrInvalidUser {
		t.Fatalf("bad user: %v", err)
	}
	a1, _ := d.CreateKey("222222222222", "alice")
	a2, _ := d.CreateKey("222222222222", "alice")
	if a1.UserID == "" || a1.UserID != a2.UserID || a1.AccessKeyID == a2.AccessKeyID {
		t.Fatalf("one user, two keys: %+v %+v", a1, a2)
	}
	p, _ := d.Principal(a1.AccessKeyID)
	if p.Admin || p.Type() != "IAMUser" || p.ARN() != "arn:aws:iam::222222222222:user/alice" || p.PrincipalID() != a1.UserID {
		t.Fatalf("IAM user principal %+v", p)
	}
	// A second process sees the same directory.
	db.Close()
	db2, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	d2, err := Open(db2)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d2.Account("222222222222"); !ok {
		t.Fatal("account lost")
	}
	if p, err := d2.Principal(a2.AccessKeyID); err != nil || p.Key.SecretAccessKey != a2.SecretAccessKey {
		t.Fatalf("key lost: %v", err)
	}
}

func TestWriteCredentials(t *testing.T) {
	path := filepath.Join(t.TempDir(), "credentials")
	if err := WriteCredentials(path, Key{AccessKeyID: "AKIAX", SecretAccessKey: "s"}); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", info.Mode(), err)
	}
	b, _ := os.ReadFile(path)
	if string(b) != "[default]\naws_access_key_id = AKIAX\naws_secret_access_key = s\n" {
		t.Fatalf("content %q", b)
	}
}
