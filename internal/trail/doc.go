// Package trail owns trails: their configuration and AWS's rules for it
// (names, home and shadow Regions, organization trails, event and insight
// selectors, tags), whether each trail is logging and since which ledger
// position, and the CloudTrail operations that manage them.
//
// It does not deliver anything: internal/delivery reads trails from the
// Store and reports its progress back through the Status interface.
package trail
