// Package auth owns accounts, access keys and the principals they stand
// for. The administrator is the account cairn creates on first start: its
// keys may act on every account; every other account's keys see only that
// account.
package auth

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cairn-audit/cairn/internal/event"
	"github.com/cairn-audit/cairn/internal/store"
)

// Account is a tenant: an AWS-style account that owns events.
type Account struct {
	ID      string    `json:"AccountId"`
	Name    string    `json:"Name,omitempty"`
	Created time.Time `json:"CreatedTime"`
	Admin   bool      `json:"Admin,omitempty"`
}

// Key is an access key and the identity it signs for.
type Key struct {
	AccessKeyID     string    `json:"AccessKeyId"`
	SecretAccessKey string    `json:"SecretAccessKey"`
	AccountID       string    `json:"AccountId"`
	UserName        string    `json:"UserName,omitempty"` // empty: the account's root user
	UserID          string    `json:"UserId,omitempty"`
	Created         time.Time `json:"CreatedTime"`
}

// Principal is who signed a request.
type Principal struct {
	Key   Key
	Admin bool // the key belongs to the administrator account
}

// Type is the userIdentity type CloudTrail records for the principal.
func (p Principal) Type() string {
	if p.Key.UserName == "" {
		return "Root"
	}
	return "IAMUser"
}

// ARN is the principal's ARN.
func (p Principal) ARN() string {
	if p.Key.UserName == "" {
		return "arn:aws:iam::" + p.Key.AccountID + ":root"
	}
	return "arn:aws:iam::" + p.Key.AccountID + ":user/" + p.Key.UserName
}

// PrincipalID is the principal's unique ID as CloudTrail records it.
func (p Principal) PrincipalID() string {
	if p.Key.UserName == "" {
		return p.Key.AccountID
	}
	return p.Key.UserID
}

// Errors of the directory.
var (
	ErrUnknownKey     = errors.New("unknown access key")
	ErrNoSuchAccount  = errors.New("no such account")
	ErrAccountExists  = errors.New("account already exists")
	ErrInvalidAccount = errors.New("account ID must be 12 digits")
	ErrInvalidUser    = errors.New("user name must be 1-64 characters of letters, digits and +=,.@_-")
)

// Directory holds accounts and keys, in memory and in the database.
type Directory struct {
	db       *pebble.DB
	mu       sync.RWMutex
	accounts map[string]Account
	keys     map[string]Key
	now      func() time.Time
}

// Open loads the directory kept in db.
func Open(db *pebble.DB) (*Directory, error) {
	d := &Directory{db: db, accounts: map[string]Account{}, keys: map[string]Key{}, now: time.Now}
	if err := d.load(store.PrefixAccount, func(v []byte) error {
		var a Account
		if err := json.Unmarshal(v, &a); err != nil {
			return err
		}
		d.accounts[a.ID] = a
		return nil
	}); err != nil {
		return nil, err
	}
	if err := d.load(store.PrefixKey, func(v []byte) error {
		var k Key
		if err := json.Unmarshal(v, &k); err != nil {
			return err
		}
		d.keys[k.AccessKeyID] = k
		return nil
	}); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *Directory) load(prefix byte, fn func([]byte) error) error {
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if err := fn(it.Value()); err != nil {
			return fmt.Errorf("load directory: %w", err)
		}
	}
	return it.Error()
}

func (d *Directory) put(prefix byte, id string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return d.db.Set(append([]byte{prefix}, id...), b, pebble.Sync)
}

// Secret returns the secret of an access key, for signature checks.
func (d *Directory) Secret(accessKeyID string) (string, error) {
	p, err := d.Principal(accessKeyID)
	return p.Key.SecretAccessKey, err
}

// Principal returns the identity behind an access key.
func (d *Directory) Principal(accessKeyID string) (Principal, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	k, ok := d.keys[accessKeyID]
	if !ok {
		return Principal{}, ErrUnknownKey
	}
	return Principal{Key: k, Admin: d.accounts[k.AccountID].Admin}, nil
}

// Account returns an account.
func (d *Directory) Account(id string) (Account, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	a, ok := d.accounts[id]
	return a, ok
}

// Accounts lists every account, by ID.
func (d *Directory) Accounts() []Account {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]Account, 0, len(d.accounts))
	for _, a := range d.accounts {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// CreateAccount adds a tenant account.
func (d *Directory) CreateAccount(id, name string) (Account, error) {
	if !event.ValidAccountID(id) {
		return Account{}, ErrInvalidAccount
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.accounts[id]; ok {
		return Account{}, ErrAccountExists
	}
	a := Account{ID: id, Name: name, Created: d.now().UTC().Truncate(time.Second)}
	if err := d.put(store.PrefixAccount, id, a); err != nil {
		return Account{}, fmt.Errorf("store account: %w", err)
	}
	d.accounts[id] = a
	return a, nil
}

// CreateKey makes a new access key for an account's root user (user "")
// or for a named IAM-style user.
func (d *Directory) CreateKey(accountID, user string) (Key, error) {
	if user != "" && !validUser(user) {
		return Key{}, ErrInvalidUser
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.accounts[accountID]; !ok {
		return Key{}, ErrNoSuchAccount
	}
	k := Key{
		AccessKeyID:     "AKIA" + randomString(upperAlnum, 16),
		SecretAccessKey: randomString(secretChars, 40),
		AccountID:       accountID,
		UserName:        user,
		Created:         d.now().UTC().Truncate(time.Second),
	}
	if user != "" {
		k.UserID = d.userID(accountID, user)
	}
	return k, d.storeKey(k)
}

// userID keeps one principal ID per user, as IAM does, across its keys.
func (d *Directory) userID(accountID, user string) string {
	for _, k := range d.keys {
		if k.AccountID == accountID && k.UserName == user {
			return k.UserID
		}
	}
	return "AIDA" + randomString(upperAlnum, 17)
}

func (d *Directory) storeKey(k Key) error {
	if err := d.put(store.PrefixKey, k.AccessKeyID, k); err != nil {
		return fmt.Errorf("store key: %w", err)
	}
	d.keys[k.AccessKeyID] = k
	return nil
}

// Bootstrap makes sure the administrator account and its key exist. Values
// given (from CAIRN_ROOT_*) win over stored ones; missing ones are generated
// on first start and kept afterwards.
func (d *Directory) Bootstrap(accountID, accessKeyID, secret string) (Key, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var admin *Account
	for _, a := range d.accounts {
		if a.Admin {
			a := a
			admin = &a
		}
	}
	if accountID != "" && !event.ValidAccountID(accountID) {
		return Key{}, fmt.Errorf("CAIRN_ROOT_ACCOUNT_ID: %w", ErrInvalidAccount)
	}
	if admin == nil || (accountID != "" && admin.ID != accountID) {
		if admin != nil {
			old := *admin
			old.Admin = false
			if err := d.put(store.PrefixAccount, old.ID, old); err != nil {
				return Key{}, err
			}
			d.accounts[old.ID] = old
		}
		id := accountID
		if id == "" {
			id = randomString("0123456789", 12)
		}
		a, ok := d.accounts[id]
		if !ok {
			a = Account{ID: id, Name: "root", Created: d.now().UTC().Truncate(time.Second)}
		}
		a.Admin = true
		if err := d.put(store.PrefixAccount, id, a); err != nil {
			return Key{}, err
		}
		d.accounts[id] = a
		admin = &a
	}
	var rootKey *Key
	for _, k := range d.keys {
		if k.AccountID == admin.ID && k.UserName == "" && (accessKeyID == "" || k.AccessKeyID == accessKeyID) {
			k := k
			if rootKey == nil || k.Created.Before(rootKey.Created) {
				rootKey = &k
			}
		}
	}
	if rootKey == nil {
		k := Key{AccessKeyID: accessKeyID, SecretAccessKey: secret, AccountID: admin.ID, Created: d.now().UTC().Truncate(time.Second)}
		if k.AccessKeyID == "" {
			k.AccessKeyID = "AKIA" + randomString(upperAlnum, 16)
		}
		if k.SecretAccessKey == "" {
			k.SecretAccessKey = randomString(secretChars, 40)
		}
		rootKey = &k
	} else if secret != "" {
		rootKey.SecretAccessKey = secret
	}
	if err := d.storeKey(*rootKey); err != nil {
		return Key{}, err
	}
	return *rootKey, nil
}

// WriteCredentials writes an AWS shared-credentials file (profile default)
// readable only by its owner.
func WriteCredentials(path string, k Key) error {
	body := fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", k.AccessKeyID, k.SecretAccessKey)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Clean(path))
}

const (
	upperAlnum  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	secretChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
)

func randomString(alphabet string, n int) string {
	var b strings.Builder
	max := big.NewInt(int64(len(alphabet)))
	for range n {
		i, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(err) // crypto/rand does not fail on supported platforms
		}
		b.WriteByte(alphabet[i.Int64()])
	}
	return b.String()
}

func validUser(u string) bool {
	if len(u) == 0 || len(u) > 64 {
		return false
	}
	for _, c := range u {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("+=,.@_-", c)) {
			return false
		}
	}
	return true
}
