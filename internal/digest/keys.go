package digest

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Key lifetimes, as AWS's are seen: a key signs for about 20 days and is
// valid for 30, so that validity windows overlap.
const (
	DefaultRotation = 20 * 24 * time.Hour
	DefaultValidity = 30 * 24 * time.Hour
	keyBits         = 2048
)

// PublicKey is a signing key's public half, as ListPublicKeys shows it.
type PublicKey struct {
	// DER is the key as PKCS#1 RSAPublicKey DER: what ListPublicKeys
	// returns (base64 on the wire) and what the AWS CLI loads.
	DER           []byte
	ValidityStart time.Time
	ValidityEnd   time.Time
}

// Fingerprint is the hex MD5 of the key's DER bytes, as digests name
// their key.
func (k PublicKey) Fingerprint() string { return Fingerprint(k.DER) }

// Fingerprint is the hex MD5 of a PKCS#1 DER public key.
func Fingerprint(der []byte) string {
	sum := md5.Sum(der)
	return hex.EncodeToString(sum[:])
}

// SigningKey is a key pair of one Region.
type SigningKey struct {
	PublicKey
	Region  string
	private *rsa.PrivateKey
}

// Sign signs a digest's signing string (RSASSA-PKCS1-v1_5 over SHA-256)
// and returns the signature in lowercase hex, as the digest's metadata
// carries it.
func (k *SigningKey) Sign(signingString string) (string, error) {
	sum := sha256.Sum256([]byte(signingString))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.private, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(sig), nil
}

// ErrBadSignature is a signature that does not verify.
var ErrBadSignature = errors.New("signature verification failed")

// Verify checks a hex signature of signingString against a PKCS#1 DER
// public key.
func Verify(der []byte, signingString, sigHex string) error {
	pub, err := x509.ParsePKCS1PublicKey(der)
	if err != nil {
		return fmt.Errorf("public key: %w", err)
	}
	sig, err := hex.DecodeString(sigHex)
	if err != nil {
		return fmt.Errorf("%w: signature is not hex", ErrBadSignature)
	}
	sum := sha256.Sum256([]byte(signingString))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return ErrBadSignature
	}
	return nil
}

// Keyring holds every Region's signing keys in a directory, one PEM file
// per key (mode 0600), named REGION/VALIDITY-START-UNIX.pem. Private keys
// never leave it. With a master key the files are sealed: AES-256-GCM
// under the master key, bound to the key's Region and start time.
type Keyring struct {
	dir      string
	rotation time.Duration
	validity time.Duration
	master   cipher.AEAD // nil: keys are stored in the clear

	mu   sync.Mutex
	keys map[string][]*SigningKey // by Region, oldest first
}

// PEM block types of stored private keys.
const (
	pemPlain  = "RSA PRIVATE KEY"
	pemSealed = "CAIRN SEALED RSA PRIVATE KEY"
)

// ErrSealed is a sealed key file read without the master key that sealed it.
var ErrSealed = errors.New("the signing key is sealed with a master key that was not given")

// ParseMasterKey reads a master key as 64 hex digits (32 bytes).
func ParseMasterKey(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != 32 {
		return nil, errors.New("a master key is 64 hex digits (32 bytes), e.g. from `openssl rand -hex 32`")
	}
	return b, nil
}

// OpenKeyring loads the keys under dir, creating it if needed.
func OpenKeyring(dir string, rotation, validity time.Duration) (*Keyring, error) {
	return OpenSealedKeyring(dir, rotation, validity, nil)
}

// OpenSealedKeyring is OpenKeyring whose new key files are sealed with
// master (32 bytes); nil stores them in the clear. Sealed files need the
// same master key to load; files in the clear load either way.
func OpenSealedKeyring(dir string, rotation, validity time.Duration, master []byte) (*Keyring, error) {
	var aead cipher.AEAD
	if master != nil {
		if len(master) != 32 {
			return nil, errors.New("master key must be 32 bytes")
		}
		block, err := aes.NewCipher(master)
		if err != nil {
			return nil, err
		}
		if aead, err = cipher.NewGCM(block); err != nil {
			return nil, err
		}
	}
	if rotation <= 0 {
		rotation = DefaultRotation
	}
	if validity < rotation {
		validity = max(DefaultValidity, rotation)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	r := &Keyring{dir: dir, rotation: rotation, validity: validity, master: aead, keys: map[string][]*SigningKey{}}
	regions, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, reg := range regions {
		if !reg.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, reg.Name()))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if !strings.HasSuffix(f.Name(), ".pem") {
				continue
			}
			k, err := r.loadKey(filepath.Join(dir, reg.Name(), f.Name()), reg.Name(), validity)
			if err != nil {
				return nil, err
			}
			r.keys[reg.Name()] = append(r.keys[reg.Name()], k)
		}
		sort.Slice(r.keys[reg.Name()], func(i, j int) bool {
			ks := r.keys[reg.Name()]
			return ks[i].ValidityStart.Before(ks[j].ValidityStart)
		})
	}
	return r, nil
}

// sealData is what a sealed key is bound to: its Region and start time,
// so that a sealed file moved to another name does not load.
func sealData(region string, start int64) []byte {
	return []byte(region + "/" + strconv.FormatInt(start, 10))
}

func (r *Keyring) loadKey(path, region string, validity time.Duration) (*SigningKey, error) {
	start, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(path), ".pem"), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: not named by its start time", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("signing key %s: not PEM", path)
	}
	der := block.Bytes
	switch block.Type {
	case pemPlain:
	case pemSealed:
		if r.master == nil {
			return nil, fmt.Errorf("signing key %s: %w", path, ErrSealed)
		}
		n := r.master.NonceSize()
		if len(der) < n {
			return nil, fmt.Errorf("signing key %s: sealed data too short", path)
		}
		if der, err = r.master.Open(nil, der[:n], der[n:], sealData(region, start)); err != nil {
			return nil, fmt.Errorf("signing key %s: cannot unseal it with this master key", path)
		}
	default:
		return nil, fmt.Errorf("signing key %s: unknown PEM block %q", path, block.Type)
	}
	priv, err := x509.ParsePKCS1PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	st := time.Unix(start, 0).UTC()
	return &SigningKey{Region: region, private: priv, PublicKey: PublicKey{
		DER: x509.MarshalPKCS1PublicKey(&priv.PublicKey), ValidityStart: st, ValidityEnd: st.Add(validity)}}, nil
}

// Current returns the key that signs in region at now, making a new one
// when the newest is older than the rotation period.
func (r *Keyring) Current(region string, now time.Time) (*SigningKey, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ks := r.keys[region]
	if n := len(ks); n > 0 && now.Before(ks[n-1].ValidityStart.Add(r.rotation)) && !now.Before(ks[n-1].ValidityStart) {
		return ks[n-1], nil
	}
	priv, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return nil, err
	}
	start := now.UTC().Truncate(time.Second)
	dir := filepath.Join(r.dir, region)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, strconv.FormatInt(start.Unix(), 10)+".pem")
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	blk := &pem.Block{Type: pemPlain, Bytes: x509.MarshalPKCS1PrivateKey(priv)}
	if r.master != nil {
		nonce := make([]byte, r.master.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			f.Close()
			return nil, err
		}
		blk = &pem.Block{Type: pemSealed, Bytes: r.master.Seal(nonce, nonce, blk.Bytes, sealData(region, start.Unix()))}
	}
	err = pem.Encode(f, blk)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		// A digest signed with the key may be written next: the key's
		// name must survive a crash as well as its bytes.
		err = syncDir(dir)
	}
	if err == nil {
		err = syncDir(r.dir)
	}
	if err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("store signing key: %w", err)
	}
	k := &SigningKey{Region: region, private: priv, PublicKey: PublicKey{
		DER: x509.MarshalPKCS1PublicKey(&priv.PublicKey), ValidityStart: start, ValidityEnd: start.Add(r.validity)}}
	r.keys[region] = append(ks, k)
	return k, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Public returns the public keys of region whose validity overlaps
// [start, end], newest first, as ListPublicKeys answers.
func (r *Keyring) Public(region string, start, end time.Time) []PublicKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []PublicKey
	ks := r.keys[region]
	for i := len(ks) - 1; i >= 0; i-- {
		k := ks[i]
		if k.ValidityStart.After(end) || k.ValidityEnd.Before(start) {
			continue
		}
		out = append(out, k.PublicKey)
	}
	return out
}
