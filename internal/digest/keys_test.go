package digest

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// awsExampleKey is the public key of AWS's own list-public-keys example,
// with the fingerprint AWS gives for it.
const (
	awsExampleKey         = "MIIBCgKCAQEAlSS3cl92HDycr/MTj0moOhas8habjrraXw+KzlWF0axSI2tcF+3iJ9BKQAVSKxGwxwu3m0wG3J+kUl1xboEcEPHYoIYMbgfSw7KGnuDKwkLzsQWhUJ0cIbOHASox1vv/5fNXkrHhGbDCHeVXm804c83nvHUEFYThr1PfyP/8HwrCtR3FX5OANtQCP61C1nJtSSkC8JSQUOrIP4CuwJjc+4WGDk+BGH5m9iuiAKkipEHWmUl8/P7XpfpWQuk4h8g3pXZOrNXr08lbh4d39svj7UqdhvOXoBISp9t/EXYuePGEtBdrKD9Dz+VHwyUPtBQvYr9BnkF88qBnaPNhS44rzwIDAQAB"
	awsExampleFingerprint = "7f3f401420072e50a65a141430817ab3"
)

func TestFingerprintOfAWSExample(t *testing.T) {
	der, err := base64.StdEncoding.DecodeString(awsExampleKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x509.ParsePKCS1PublicKey(der); err != nil {
		t.Fatalf("AWS's example is not PKCS#1: %v", err)
	}
	if got := Fingerprint(der); got != awsExampleFingerprint {
		t.Fatalf("Fingerprint = %s, want %s", got, awsExampleFingerprint)
	}
}

func TestKeyringRotatesSignsAndReloads(t *testing.T) {
	dir := t.TempDir()
	r, err := OpenKeyring(dir, 20*24*time.Hour, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	k1, err := r.Current("us-east-1", t0)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := r.Current("us-east-1", t0.Add(19*24*time.Hour)); again != k1 {
		t.Fatal("a key was replaced before 20 days")
	}
	k2, _ := r.Current("us-east-1", t0.Add(21*24*time.Hour))
	if k2 == k1 || k2.ValidityEnd.Sub(k2.ValidityStart) != 30*24*time.Hour {
		t.Fatalf("rotation: %+v", k2.PublicKey)
	}
	other, _ := r.Current("eu-west-1", t0)
	if other.Fingerprint() == k1.Fingerprint() {
		t.Fatal("two Regions share a key")
	}
	info, err := os.Stat(filepath.Join(dir, "us-east-1", "1793491200.pem"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("private key file: %v %v", info, err)
	}

	s := "2026-11-01T01:00:00Z\nbucket/key\n" + Hash([]byte("{}")) + "\nnull"
	sig, err := k1.Sign(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(sig) != 512 {
		t.Fatalf("a 2048-bit signature is %d hex characters", len(sig))
	}
	if err := Verify(k1.DER, s, sig); err != nil {
		t.Fatal(err)
	}
	if err := Verify(k1.DER, s+"x", sig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("a changed string verified: %v", err)
	}
	if err := Verify(k2.DER, s, sig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("another key verified: %v", err)
	}

	// Both keys overlap day 25; only the second covers day 45.
	if got := r.Public("us-east-1", t0.Add(25*24*time.Hour), t0.Add(25*24*time.Hour)); len(got) != 2 || got[0].Fingerprint() != k2.Fingerprint() {
		t.Fatalf("keys valid on day 25: %d", len(got))
	}
	if got := r.Public("us-east-1", t0.Add(45*24*time.Hour), t0.Add(46*24*time.Hour)); len(got) != 1 {
		t.Fatalf("keys valid on day 45: %d", len(got))
	}

	reopened, err := OpenKeyring(dir, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := reopened.Public("us-east-1", t0, t0.Add(60*24*time.Hour)); len(got) != 2 || got[1].Fingerprint() != k1.Fingerprint() {
		t.Fatalf("after reopening: %d keys", len(got))
	}
	k, _ := reopened.Current("us-east-1", t0.Add(22*24*time.Hour))
	if k.Fingerprint() != k2.Fingerprint() {
		t.Fatal("reopening lost the current key")
	}
}

// TestSealedKeyring: with a master key the private key file holds only
// sealed bytes, loads back with that master key, and not without it or
// with another, nor under another name.
func TestSealedKeyring(t *testing.T) {
	dir := t.TempDir()
	master, err := ParseMasterKey(strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseMasterKey("abcd"); err == nil {
		t.Error("a short master key was accepted")
	}
	r, err := OpenSealedKeyring(dir, 0, 0, master)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	k, err := r.Current("eu-west-1", now)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "eu-west-1", "*.pem"))
	if len(files) != 1 {
		t.Fatalf("key files: %v", files)
	}
	raw, _ := os.ReadFile(files[0])
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != pemSealed || bytes.Contains(block.Bytes, x509.MarshalPKCS1PrivateKey(k.private)[:64]) {
		t.Fatalf("the key file is not sealed: %q", raw[:40])
	}
	st, _ := os.Stat(files[0])
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}

	again, err := OpenSealedKeyring(dir, 0, 0, master)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := again.Current("eu-west-1", now.Add(time.Hour))
	if err != nil || k2.Fingerprint() != k.Fingerprint() {
		t.Fatalf("reopened with the master key: %v, %v", k2, err)
	}
	sig, _ := k2.Sign("x")
	if err := Verify(k.DER, "x", sig); err != nil {
		t.Fatalf("the unsealed key does not sign as the original: %v", err)
	}
	if _, err := OpenKeyring(dir, 0, 0); !errors.Is(err, ErrSealed) {
		t.Errorf("opened without the master key: %v", err)
	}
	if _, err := OpenSealedKeyring(dir, 0, 0, bytes.Repeat([]byte{1}, 32)); err == nil {
		t.Error("opened with another master key")
	}
	moved := filepath.Join(dir, "eu-west-1", "1700000000.pem")
	if err := os.Rename(files[0], moved); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenSealedKeyring(dir, 0, 0, master); err == nil {
		t.Error("a sealed key loaded under another name")
	}
}
