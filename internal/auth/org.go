package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cairn-audit/cairn/internal/store"
)

// Organization is a management account and its member accounts, as AWS
// Organizations has them. Organization trails apply to every member.
type Organization struct {
	ID         string    `json:"id"` // o- and 10 lowercase letters or digits
	Management string    `json:"management"`
	Members    []string  `json:"members"` // sorted; the management account included
	Created    time.Time `json:"created"`
}

// Errors of organization changes.
var (
	ErrInOrganization  = errors.New("account already belongs to an organization")
	ErrNoOrganization  = errors.New("no such organization")
	ErrNotMember       = errors.New("account is not a member of the organization")
	ErrManagementLeave = errors.New("the management account cannot leave its organization")
)

// Organizations holds every organization, in memory and in the database.
type Organizations struct {
	dir *Directory
	mu  sync.RWMutex
	by  map[string]*Organization // by ID
	of  map[string]string        // account → organization ID
}

// OpenOrganizations loads the organizations kept in the directory's
// database.
func OpenOrganizations(d *Directory) (*Organizations, error) {
	o := &Organizations{dir: d, by: map[string]*Organization{}, of: map[string]string{}}
	err := d.load(store.PrefixOrg, func(v []byte) error {
		var org Organization
		if err := json.Unmarshal(v, &org); err != nil {
			return err
		}
		o.index(&org)
		return nil
	})
	return o, err
}

func (o *Organizations) index(org *Organization) {
	o.by[org.ID] = org
	for _, m := range org.Members {
		o.of[m] = org.ID
	}
}

// Create makes an organization managed by account.
func (o *Organizations) Create(management string) (Organization, error) {
	if _, ok := o.dir.Account(management); !ok {
		return Organization{}, ErrNoSuchAccount
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.of[management]; ok {
		return Organization{}, ErrInOrganization
	}
	org := &Organization{ID: "o-" + randomString("abcdefghijklmnopqrstuvwxyz0123456789", 10), Management: management, Members: []string{management}, Created: o.dir.now().UTC().Truncate(time.Second)}
	if err := o.dir.put(store.PrefixOrg, org.ID, org); err != nil {
		return Organization{}, fmt.Errorf("store organization: %w", err)
	}
	o.index(org)
	return *org, nil
}

// Add makes account a member of the organization.
func (o *Organizations) Add(orgID, account string) (Organization, error) {
	if _, ok := o.dir.Account(account); !ok {
		return Organization{}, ErrNoSuchAccount
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	org, ok := o.by[orgID]
	if !ok {
		return Organization{}, ErrNoOrganization
	}
	if _, ok := o.of[account]; ok {
		return Organization{}, ErrInOrganization
	}
	next := *org
	next.Members = append(slices.Clone(org.Members), account)
	sort.Strings(next.Members)
	if err := o.dir.put(store.PrefixOrg, org.ID, &next); err != nil {
		return Organization{}, fmt.Errorf("store organization: %w", err)
	}
	o.index(&next)
	return next, nil
}

// Remove takes a member account out of the organization.
func (o *Organizations) Remove(orgID, account string) (Organization, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	org, ok := o.by[orgID]
	if !ok {
		return Organization{}, ErrNoOrganization
	}
	if !slices.Contains(org.Members, account) {
		return Organization{}, ErrNotMember
	}
	if account == org.Management {
		return Organization{}, ErrManagementLeave
	}
	next := *org
	next.Members = slices.DeleteFunc(slices.Clone(org.Members), func(m string) bool { return m == account })
	if err := o.dir.put(store.PrefixOrg, org.ID, &next); err != nil {
		return Organization{}, fmt.Errorf("store organization: %w", err)
	}
	delete(o.of, account)
	o.index(&next)
	return next, nil
}

// Delete removes an organization that has no members but its management
// account.
func (o *Organizations) Delete(orgID string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	org, ok := o.by[orgID]
	if !ok {
		return ErrNoOrganization
	}
	if len(org.Members) > 1 {
		return fmt.Errorf("organization %s still has member accounts: remove them first", orgID)
	}
	if err := o.dir.db.Delete(append([]byte{store.PrefixOrg}, orgID...), pebble.Sync); err != nil {
		return fmt.Errorf("delete organization: %w", err)
	}
	delete(o.by, orgID)
	delete(o.of, org.Management)
	return nil
}

// Of returns the organization an account belongs to.
func (o *Organizations) Of(account string) (Organization, bool) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	id, ok := o.of[account]
	if !ok {
		return Organization{}, false
	}
	org := *o.by[id]
	org.Members = slices.Clone(org.Members)
	return org, true
}

// Get returns an organization by ID.
func (o *Organizations) Get(id string) (Organization, bool) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	org, ok := o.by[id]
	if !ok {
		return Organization{}, false
	}
	c := *org
	c.Members = slices.Clone(org.Members)
	return c, true
}
