package synth

import (
	"bytes"
	"encoding/json"
	"strings"
)

// ph names a value the generator substitutes into a template. The model
// stores {{NAME}} where a real record had something identifying; the
// generator's values keep within [0-9A-Za-z.-_/], so no JSON escaping is
// ever needed when one is spliced into a string.
type ph uint8

const (
	phNone      ph = iota
	phAccount      // the record's account ID
	phRegion       // the record's awsRegion
	phIP           // the caller's IPv4 address
	phIPDash       // the same with dashes, as in ip-10-0-0-1 host names
	phAKID         // the caller's access key ID
	phPrincipal    // the caller's principal ID
	phUser         // the caller's user or session name
	phBucket       // an S3 bucket of the account
	phObjKey       // an S3 object key
	phInstance     // an EC2 instance of the account
	phKMSKey       // a KMS key ID of the account
	phUUID         // a fresh random UUID at every occurrence
	phHexID        // a 17-digit hex resource suffix (vol-, snap-, sg-...)
)

var phNames = map[string]ph{
	"ACCOUNT":   phAccount,
	"REGION":    phRegion,
	"IP":        phIP,
	"IPDASH":    phIPDash,
	"AKID":      phAKID,
	"PRINCIPAL": phPrincipal,
	"USER":      phUser,
	"BUCKET":    phBucket,
	"OBJKEY":    phObjKey,
	"INSTANCE":  phInstance,
	"KMSKEY":    phKMSKey,
	"UUID":      phUUID,
	"HEXID":     phHexID,
}

// seg is literal text followed by one placeholder (phNone for the last).
type seg struct {
	lit string
	ph  ph
}

// tmpl is a template split once, up front, so that filling it is a run of
// appends with no searching.
type tmpl []seg

// compile splits s at its placeholders. Braces that do not spell a known
// placeholder stay literal text.
func compile(s string) tmpl {
	var t tmpl
	lit := 0 // start of the pending literal
	for i := 0; ; {
		j := strings.Index(s[i:], "{{")
		if j < 0 {
			break
		}
		j += i
		k := strings.Index(s[j+2:], "}}")
		if k < 0 {
			break
		}
		p, ok := phNames[s[j+2:j+2+k]]
		if !ok {
			i = j + 2
			continue
		}
		t = append(t, seg{lit: s[lit:j], ph: p})
		i = j + 2 + k + 2
		lit = i
	}
	if lit < len(s) || len(t) == 0 {
		t = append(t, seg{lit: s[lit:]})
	}
	return t
}

// has reports whether t uses placeholder p.
func (t tmpl) has(p ph) bool {
	for _, s := range t {
		if s.ph == p {
			return true
		}
	}
	return false
}

// quote returns s as a JSON string literal. It only runs while the model is
// compiled, never per record.
func quote(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		panic(err) // a Go string always encodes
	}
	return strings.TrimSuffix(b.String(), "\n")
}
