// Command synthmodel distils a folder of real CloudTrail records into the
// weighted tables that package internal/synth draws synthetic records from.
//
// The real records are only needed when the model is rebuilt: the output is a
// Go source file committed with the package, so benchmarks run anywhere. Every
// string copied out of a real record is anonymised first: account IDs, IP
// addresses, access keys, principal IDs, user and bucket names, instance IDs,
// KMS keys and UUIDs become {{PLACEHOLDERS}} that the generator fills with its
// own values, and credentials are hidden the way CloudTrail hides them.
//
// Usage:
//
//	go run ./scripts/synthmodel -data DIR -out internal/synth/model_gen.go
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"io"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

func main() {
	data := flag.String("data", "", "folder of real CloudTrail records (searched recursively)")
	out := flag.String("out", "internal/synth/model_gen.go", "Go file to write")
	top := flag.Int("top", 300, "event (source, name) pairs described in full; the rest are folded")
	maxEx := flag.Int("max-example", 600, "largest anonymised JSON example kept, in bytes")
	flag.Parse()
	if *data == "" {
		log.Fatal("synthmodel: -data is required")
	}
	recs, err := load(*data)
	if err != nil {
		log.Fatal("synthmodel: ", err)
	}
	if len(recs) == 0 {
		log.Fatalf("synthmodel: no CloudTrail records under %s", *data)
	}
	m := build(recs, *top, *maxEx)
	src, err := m.render()
	if err != nil {
		log.Fatal("synthmodel: ", err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal("synthmodel: ", err)
	}
	log.Printf("synthmodel: %d records, %d pairs (%d folded), %d examples, wrote %s (%d bytes)",
		len(recs), len(m.pairs), len(m.folded), m.examples(), *out, len(src))
}

// record holds what the model needs from one real record. The free-form
// members stay raw so that examples keep the producer's key order.
type record struct {
	EventVersion string `json:"eventVersion"`
	UserIdentity struct {
		Type           string `json:"type"`
		ARN            string `json:"arn"`
		UserName       string `json:"userName"`
		InvokedBy      string `json:"invokedBy"`
		SessionContext *struct {
			SessionIssuer struct {
				UserName string `json:"userName"`
			} `json:"sessionIssuer"`
		} `json:"sessionContext"`
	} `json:"userIdentity"`
	EventSource         string          `json:"eventSource"`
	EventName           string          `json:"eventName"`
	SourceIPAddress     string          `json:"sourceIPAddress"`
	UserAgent           string          `json:"userAgent"`
	ErrorCode           string          `json:"errorCode"`
	ErrorMessage        string          `json:"errorMessage"`
	RequestParameters   json.RawMessage `json:"requestParameters"`
	ResponseElements    json.RawMessage `json:"responseElements"`
	AdditionalEventData json.RawMessage `json:"additionalEventData"`
	Resources           json.RawMessage `json:"resources"`
	ReadOnly            json.RawMessage `json:"readOnly"`
	ManagementEvent     json.RawMessage `json:"managementEvent"`
	EventType           string          `json:"eventType"`
	EventCategory       string          `json:"eventCategory"`
	TLSDetails          *struct {
		TLSVersion               string `json:"tlsVersion"`
		CipherSuite              string `json:"cipherSuite"`
		ClientProvidedHostHeader string `json:"clientProvidedHostHeader"`
	} `json:"tlsDetails"`

	size int // bytes of the record as compact JSON
}

// load reads every record under dir: S3 deliveries ({"Records":[...]},
// optionally gzipped) and newline-delimited records left by log shippers.
// Anything else (digests, LookupEvents output) carries no raw records and is
// skipped. WalkDir's lexical order keeps the result reproducible.
func load(dir string) ([]record, error) {
	var recs []record
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !(strings.HasSuffix(path, ".json") || strings.HasSuffix(path, ".json.gz")) {
			return nil
		}
		body, err := readFile(path)
		if err != nil {
			return err
		}
		got, err := parse(body)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		recs = append(recs, got...)
		return nil
	})
	return recs, err
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	return io.ReadAll(r)
}

func parse(body []byte) ([]record, error) {
	var raws []json.RawMessage
	var env struct {
		Records []json.RawMessage `json:"Records"`
	}
	if err := json.Unmarshal(body, &env); err == nil && env.Records != nil {
		raws = env.Records
	} else {
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 || line[0] != '{' {
				continue
			}
			raws = append(raws, append(json.RawMessage(nil), line...))
		}
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	var out []record
	for _, raw := range raws {
		var r record
		if err := json.Unmarshal(raw, &r); err != nil {
			// A line of some other shape in a shipper's file is not a record.
			continue
		}
		if r.EventSource == "" || r.EventName == "" {
			continue
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return nil, err
		}
		r.size = buf.Len()
		out = append(out, r)
	}
	return out, nil
}

// compact returns raw as compact JSON, with "" standing for absent or null.
func compact(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return ""
	}
	if buf.String() == "null" {
		return ""
	}
	return buf.String()
}

// flagValue reads a JSON boolean that log shippers may have turned into a
// string.
func flagValue(raw json.RawMessage) (value, present bool) {
	switch strings.Trim(string(raw), `"`) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// isData tells data events apart: the generator mixes them in at its own
// rate, since the corpus has almost none.
func (r *record) isData() bool {
	if r.EventCategory == "Data" {
		return true
	}
	v, ok := flagValue(r.ManagementEvent)
	return ok && !v
}

// readOnly falls back to CloudTrail's naming convention for records written
// before the field existed.
func (r *record) readOnly() bool {
	if v, ok := flagValue(r.ReadOnly); ok {
		return v
	}
	for _, p := range []string{"Get", "List", "Describe", "Lookup", "Head", "Search"} {
		if strings.HasPrefix(r.EventName, p) {
			return true
		}
	}
	return false
}

// ---- anonymisation ----

var (
	reSecret    = regexp.MustCompile(`"(sessionToken|secretAccessKey|password|newPassword|oldPassword|SecretString|SecretBinary|privateKey|keyMaterial|plaintext|userData)":"(?:[^"\\]|\\.)*"`)
	reEmail     = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`)
	reAccessKey = regexp.MustCompile(`\b(?:AKIA|ASIA)[A-Z0-9]{16}\b`)
	rePrincipal = regexp.MustCompile(`\b(?:AIDA|AROA|AIPA|ANPA|AGPA|APKA|ANVA|ASCA|AKPA)[A-Z0-9]{12,28}\b`)
	reInstance  = regexp.MustCompile(`\bi-(?:[0-9a-f]{17}|[0-9a-f]{8})\b`)
	reKMSKey    = regexp.MustCompile(`key/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	reUUID      = regexp.MustCompile(`\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b`)
	reDashedIP  = regexp.MustCompile(`\b(ip|ec2)-\d{1,3}-\d{1,3}-\d{1,3}-\d{1,3}\b`)
	reIPv4      = regexp.MustCompile(`\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}`)
	reTwelve    = regexp.MustCompile(`\d{12}`)
	reURL       = regexp.MustCompile(`(?i)https?://([a-z0-9.-]+)`)
	reAuthor    = regexp.MustCompile(`(?i)\b(created|written|developed|maintained|authored|owned)\s+by\b`)
	reNumbered  = regexp.MustCompile(`^([a-z]+)(\d+)$`)
	reRegion    = regexp.MustCompile(`\b(?:us|eu|ap|sa|ca|me|af|il|mx)-(?:east|west|north|south|central|northeast|southeast|northwest|southwest)-[1-9]`)
	reUserARN   = regexp.MustCompile(`:user/[A-Za-z0-9+=,.@_-]+`)
	reHexID     = regexp.MustCompile(`\b(vol|snap|ami|sg|rtb|eipalloc|eipassoc|vpc|subnet|eni|igw|acl|lt|vpce|nat|tgw|r|pcx|dopt|eigw|fl|sir|aki|ari|import-ami|export-i)-(?:[0-9a-f]{17}|[0-9a-f]{8})\b`)
	rePlace     = regexp.MustCompile(`\{\{[A-Z]+\}\}`)
)

// placeholderSample is what validation substitutes for each placeholder; the
// generator's values have the same character classes, so JSON that is valid
// here is valid there.
var placeholderSample = map[string]string{
	"ACCOUNT":   "111122223333",
	"REGION":    "us-east-1",
	"IP":        "203.0.113.7",
	"IPDASH":    "203-0-113-7",
	"AKID":      "AKIAIOSFODNN7EXAMPLE",
	"PRINCIPAL": "AIDAJQABLZS4A3QDU576Q",
	"USER":      "jane.doe",
	"BUCKET":    "example-bucket",
	"OBJKEY":    "data/part-00001.json",
	"INSTANCE":  "i-0123456789abcdef0",
	"KMSKEY":    "0b2f5c1e-8d3a-4e6f-9a7b-1c2d3e4f5a6b",
	"UUID":      "f47ac10b-58cc-4372-a567-0e02b2c3d479",
	"HEXID":     "0a1b2c3d4e5f60718",
}

type anonymizer struct {
	isUser  map[string]bool
	users   []string // IAM user, root alias and personal session names
	buckets []string
	objKeys []string
}

// newAnonymizer learns which names in the corpus are personal, so that they
// are recognised wherever they reappear (ARNs, messages, resource names).
func newAnonymizer(recs []record) *anonymizer {
	users := map[string]bool{}
	sessions := map[string]bool{}
	buckets := map[string]bool{}
	keys := map[string]bool{}
	services := map[string]bool{}
	aliases := map[string]bool{}
	for i := range recs {
		r := &recs[i]
		services[strings.ToLower(r.EventSource)] = true
		services[strings.ToLower(r.UserIdentity.InvokedBy)] = true
		services[strings.ToLower(r.UserAgent)] = true
		if r.UserIdentity.UserName != "" && r.UserIdentity.Type != "AssumedRole" {
			users[r.UserIdentity.UserName] = true
			if r.UserIdentity.Type == "Root" {
				aliases[r.UserIdentity.UserName] = true
			}
		}
		arn := r.UserIdentity.ARN
		if strings.Contains(arn, ":user/") {
			users[arn[strings.LastIndex(arn, "/")+1:]] = true
		}
		if strings.Contains(arn, ":assumed-role/") {
			sessions[arn[strings.LastIndex(arn, "/")+1:]] = true
		}
		var req map[string]any
		if json.Unmarshal(r.RequestParameters, &req) == nil {
			if s, ok := req["userName"].(string); ok {
				users[s] = true
			}
			if s, ok := req["roleSessionName"].(string); ok {
				sessions[s] = true
			}
			if s, ok := req["bucketName"].(string); ok {
				buckets[s] = true
			}
			if s, ok := req["key"].(string); ok && r.EventSource == "s3.amazonaws.com" {
				keys[s] = true
			}
		}
	}
	allServices := strings.Join(sortedKeys(services), "\n")
	variants := map[string]bool{}
	// A session name is often a tool's ("elasticbeanstalk", "OpsWorks",
	// "lambda-worker"); only lower-case words, possibly dotted, that no
	// service name or agent contains look like people.
	for s := range sessions {
		if isPersonLike(s) && !strings.Contains(allServices, s) {
			users[s] = true
		}
	}
	// Numbered accounts ("student12") reappear as "student-12" in resource
	// names, and the parts of an account alias ("acme-prod") on their own.
	for u := range users {
		if m := reNumbered.FindStringSubmatch(u); m != nil {
			variants[m[1]+"-"+m[2]] = true
			variants[m[1]+"_"+m[2]] = true
		}
	}
	for alias := range aliases {
		for _, part := range strings.Split(alias, "-") {
			if len(part) >= 5 && part != alias && !strings.Contains(allServices, strings.ToLower(part)) {
				variants[part] = true
			}
		}
	}
	for v := range variants {
		users[v] = true
	}
	// CloudTrail's own mask is not a name.
	delete(users, "HIDDEN_DUE_TO_SECURITY_REASONS")
	a := &anonymizer{isUser: users}
	for _, set := range []struct {
		from map[string]bool
		to   *[]string
	}{{users, &a.users}, {buckets, &a.buckets}, {keys, &a.objKeys}} {
		for s := range set.from {
			if len(s) >= 3 && placeholderSample[s] == "" {
				*set.to = append(*set.to, s)
			}
		}
		// Longest first, so a name that contains another is replaced whole.
		sort.Slice(*set.to, func(i, j int) bool {
			x, y := (*set.to)[i], (*set.to)[j]
			if len(x) != len(y) {
				return len(x) > len(y)
			}
			return x < y
		})
	}
	return a
}

func isPersonLike(s string) bool {
	if len(s) < 3 || len(s) > 20 {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && c != '.' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// replaceBounded replaces name wherever it is not part of a longer
// alphanumeric run, so "bob" becomes a placeholder in "user/bob" and
// "bob-keypair" but not in "bobcat".
func replaceBounded(s, name, with string, extra func(byte) bool) string {
	if !strings.Contains(s, name) {
		return s
	}
	inWord := func(c byte) bool { return isAlnum(c) || extra != nil && extra(c) }
	var b strings.Builder
	for {
		i := strings.Index(s, name)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := i + len(name)
		if (i == 0 || !inWord(s[i-1])) && (j == len(s) || !inWord(s[j])) {
			b.WriteString(s[:i])
			b.WriteString(with)
		} else {
			b.WriteString(s[:j])
		}
		s = s[j:]
	}
}

// privateIPv4 reports RFC 1918 addresses: VPC ranges say nothing about
// anyone, and a CIDR such as 10.0.0.0/16 reads wrong when made public.
func privateIPv4(s string) bool {
	var a, b int
	fmt.Sscanf(s, "%d.%d.", &a, &b)
	return a == 10 || a == 172 && b >= 16 && b < 32 || a == 192 && b == 168
}

func validIPv4(s string) bool {
	for _, p := range strings.Split(s, ".") {
		n, err := strconv.Atoi(p)
		if err != nil || n > 255 {
			return false
		}
	}
	return s != "0.0.0.0" && !strings.HasPrefix(s, "255.")
}

// clean anonymises s. It refuses text with "{{" in it, which the generator
// could take for the start of one of its placeholders.
func (a *anonymizer) clean(s string) (string, bool) {
	if strings.Contains(s, "{{") {
		return "", false
	}
	s = reSecret.ReplaceAllString(s, `"$1":"HIDDEN_DUE_TO_SECURITY_REASONS"`)
	s = reEmail.ReplaceAllString(s, "{{USER}}@example.com")
	// A name after ":user/" is a user even when a bucket has the same name.
	s = reUserARN.ReplaceAllStringFunc(s, func(m string) string {
		if a.isUser[m[len(":user/"):]] {
			return ":user/{{USER}}"
		}
		return m
	})
	bucketChar := func(c byte) bool { return c == '-' || c == '_' }
	for _, b := range a.buckets {
		s = replaceBounded(s, b, "{{BUCKET}}", bucketChar)
	}
	for _, k := range a.objKeys {
		s = strings.ReplaceAll(s, `"`+k+`"`, `"{{OBJKEY}}"`)
		s = strings.ReplaceAll(s, `{{BUCKET}}/`+k+`"`, `{{BUCKET}}/{{OBJKEY}}"`)
	}
	s = reAccessKey.ReplaceAllString(s, "{{AKID}}")
	s = rePrincipal.ReplaceAllString(s, "{{PRINCIPAL}}")
	s = reInstance.ReplaceAllString(s, "{{INSTANCE}}")
	s = reKMSKey.ReplaceAllString(s, "key/{{KMSKEY}}")
	s = reUUID.ReplaceAllString(s, "{{UUID}}")
	s = reHexID.ReplaceAllString(s, "$1-{{HEXID}}")
	s = reDashedIP.ReplaceAllString(s, "$1-{{IPDASH}}")
	s = reRegion.ReplaceAllString(s, "{{REGION}}")
	s = replaceMatches(s, reIPv4, "{{IP}}", func(s string, i, j int) bool {
		// Version numbers such as "Chrome/37.0.2062.124" are not addresses.
		if i > 0 && (isAlnum(s[i-1]) || strings.IndexByte("./_-", s[i-1]) >= 0) {
			return false
		}
		if j < len(s) && (isAlnum(s[j]) || s[j] == '.' && j+1 < len(s) && isAlnum(s[j+1])) {
			return false
		}
		return validIPv4(s[i:j]) && !privateIPv4(s[i:j])
	})
	s = replaceMatches(s, reTwelve, "{{ACCOUNT}}", func(s string, i, j int) bool {
		return (i == 0 || !isAlnum(s[i-1])) && (j == len(s) || !isAlnum(s[j]))
	})
	for _, u := range a.users {
		s = replaceBounded(s, u, "{{USER}}", nil)
	}
	return s, true
}

func replaceMatches(s string, re *regexp.Regexp, with string, ok func(s string, i, j int) bool) string {
	locs := re.FindAllStringIndex(s, -1)
	if locs == nil {
		return s
	}
	var b strings.Builder
	last := 0
	for _, l := range locs {
		if !ok(s, l[0], l[1]) {
			continue
		}
		b.WriteString(s[last:l[0]])
		b.WriteString(with)
		last = l[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

// fill substitutes sample values, to check that a template is valid JSON.
func fill(s string) string {
	return rePlace.ReplaceAllStringFunc(s, func(p string) string {
		return placeholderSample[p[2:len(p)-2]]
	})
}

func knownPlaceholders(s string) bool {
	for _, p := range rePlace.FindAllString(s, -1) {
		if _, ok := placeholderSample[p[2:len(p)-2]]; !ok {
			return false
		}
	}
	return true
}

// cleanJSON anonymises a compact JSON fragment and checks that it stays
// valid once filled in.
func (a *anonymizer) cleanJSON(s string) (string, bool) {
	if s == "" {
		return "", true
	}
	c, ok := a.cleanText(s)
	if !ok || !json.Valid([]byte(fill(c))) {
		return "", false
	}
	return c, true
}

// cleanText anonymises free text copied into the model (examples, error
// messages) and refuses what may still name people or organisations: links
// to sites other than AWS's, and authorship notes. A rejected example only
// costs a shape; package synth's TestModelIsAnonymised checks the output for
// what these rules are meant to catch.
func (a *anonymizer) cleanText(s string) (string, bool) {
	if reAuthor.MatchString(s) {
		return "", false
	}
	for _, m := range reURL.FindAllStringSubmatch(s, -1) {
		host := strings.ToLower(m[1])
		if host != "amazonaws.com" && !strings.HasSuffix(host, ".amazonaws.com") && !strings.HasSuffix(host, ".amazon.com") && !strings.HasSuffix(host, ".aws") {
			return "", false
		}
	}
	c, ok := a.clean(s)
	if !ok || !knownPlaceholders(c) {
		return "", false
	}
	return c, true
}

// ---- the model ----

type count struct {
	v string
	n int
}

type errorKind struct {
	code, msg string
	n         int
}

type example struct {
	n                   int
	req, resp, add, res string
}

type pairKey struct{ source, name string }

type pair struct {
	source, name string
	typ          string
	n, ro, errN  int
	who          []count
	errs         []errorKind
	ex           []example
}

type caller struct {
	who, invokedBy, ip, agent string
	n                         int
}

type tlsKind struct {
	version, cipher string
	n               int
}

type model struct {
	records   int
	pairs     []pair // management events, most frequent first
	folded    []pair
	data      []pair // data events
	who       []count
	callers   []caller
	versions  []count
	tls       []tlsKind
	hosts     [][2]string
	sizeMean  int
	quantiles [][2]int
}

func (m *model) examples() int {
	n := 0
	for _, p := range m.pairs {
		n += len(p.ex)
	}
	for _, p := range m.data {
		n += len(p.ex)
	}
	return n
}

// counted returns the values of c, most frequent first, ties by value.
func counted(c map[string]int) []count {
	out := make([]count, 0, len(c))
	for v, n := range c {
		out = append(out, count{v, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].n != out[j].n {
			return out[i].n > out[j].n
		}
		return out[i].v < out[j].v
	})
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func build(recs []record, top, maxEx int) *model {
	a := newAnonymizer(recs)
	m := &model{records: len(recs)}

	groups := map[pairKey][]*record{}
	dataGroups := map[pairKey][]*record{}
	who := map[string]int{}
	versions := map[string]int{}
	tls := map[[2]string]int{}
	hosts := map[string]map[string]int{}
	callers := map[[4]string]int{}
	var sizes []int
	for i := range recs {
		r := &recs[i]
		k := pairKey{r.EventSource, r.EventName}
		if r.isData() {
			dataGroups[k] = append(dataGroups[k], r)
		} else {
			groups[k] = append(groups[k], r)
		}
		who[r.UserIdentity.Type]++
		if r.EventVersion != "" {
			versions[r.EventVersion]++
		}
		sizes = append(sizes, r.size)
		if t := r.TLSDetails; t != nil && t.TLSVersion != "" {
			tls[[2]string{t.TLSVersion, t.CipherSuite}]++
			if h, ok := a.clean(t.ClientProvidedHostHeader); ok && h != "" {
				if hosts[r.EventSource] == nil {
					hosts[r.EventSource] = map[string]int{}
				}
				hosts[r.EventSource][h]++
			}
		}
		if c, ok := a.callerOf(r); ok {
			callers[c]++
		}
	}

	var pairs []pair
	for k, rs := range groups {
		pairs = append(pairs, pair{source: k.source, name: k.name, n: len(rs)})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].n != pairs[j].n {
			return pairs[i].n > pairs[j].n
		}
		if pairs[i].source != pairs[j].source {
			return pairs[i].source < pairs[j].source
		}
		return pairs[i].name < pairs[j].name
	})
	for i := range pairs {
		p := &pairs[i]
		rs := groups[pairKey{p.source, p.name}]
		switch {
		case i < top:
			// A few shapes are enough for the tail; the head gets more
			// because its variety is what a reader of the store sees most.
			keep := 1
			if i < 100 {
				keep = 3
			} else if i < 200 {
				keep = 2
			}
			a.describe(p, rs, keep, maxEx)
			m.pairs = append(m.pairs, *p)
		default:
			for _, r := range rs {
				if r.readOnly() {
					p.ro++
				}
			}
			m.folded = append(m.folded, *p)
		}
	}
	for _, k := range sortedPairKeys(dataGroups) {
		rs := dataGroups[k]
		p := pair{source: k.source, name: k.name, n: len(rs)}
		a.describe(&p, rs, 3, maxEx)
		m.data = append(m.data, p)
	}

	m.who = counted(who)
	m.versions = counted(versions)
	for v, n := range tls {
		m.tls = append(m.tls, tlsKind{v[0], v[1], n})
	}
	sort.Slice(m.tls, func(i, j int) bool {
		if m.tls[i].n != m.tls[j].n {
			return m.tls[i].n > m.tls[j].n
		}
		return m.tls[i].version+m.tls[i].cipher < m.tls[j].version+m.tls[j].cipher
	})
	for _, src := range sortedKeys(hosts) {
		m.hosts = append(m.hosts, [2]string{src, counted(hosts[src])[0].v})
	}
	m.callers = topCallers(callers, 16)

	sort.Ints(sizes)
	total := 0
	for _, s := range sizes {
		total += s
	}
	m.sizeMean = total / len(sizes)
	for _, q := range []int{1, 5, 10, 25, 50, 75, 90, 95, 99, 100} {
		i := (len(sizes) - 1) * q / 100
		m.quantiles = append(m.quantiles, [2]int{q, sizes[i]})
	}
	return m
}

func sortedPairKeys(g map[pairKey][]*record) []pairKey {
	out := make([]pairKey, 0, len(g))
	for k := range g {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].source != out[j].source {
			return out[i].source < out[j].source
		}
		return out[i].name < out[j].name
	})
	return out
}

// callerOf is who called and from where: the identity type, the service
// acting for it, the source address (empty when it is a real IP, which the
// generator draws per principal) and the user agent.
func (a *anonymizer) callerOf(r *record) ([4]string, bool) {
	ip := r.SourceIPAddress
	if reIPv4.MatchString(ip) || strings.Contains(ip, ":") || ip == "" {
		ip = ""
	}
	agent, ok := a.clean(r.UserAgent)
	if !ok || !knownPlaceholders(agent) {
		return [4]string{}, false
	}
	return [4]string{r.UserIdentity.Type, r.UserIdentity.InvokedBy, ip, agent}, true
}

// topCallers keeps the most frequent callers of each identity type, so every
// type the pairs name has at least one way to be called.
func topCallers(c map[[4]string]int, perType int) []caller {
	byType := map[string][]caller{}
	for k, n := range c {
		byType[k[0]] = append(byType[k[0]], caller{k[0], k[1], k[2], k[3], n})
	}
	var out []caller
	for _, t := range sortedKeys(byType) {
		cs := byType[t]
		sort.Slice(cs, func(i, j int) bool {
			if cs[i].n != cs[j].n {
				return cs[i].n > cs[j].n
			}
			return cs[i].invokedBy+"\x00"+cs[i].ip+"\x00"+cs[i].agent < cs[j].invokedBy+"\x00"+cs[j].ip+"\x00"+cs[j].agent
		})
		if len(cs) > perType {
			cs = cs[:perType]
		}
		out = append(out, cs...)
	}
	return out
}

// describe fills in everything the generator needs for one pair.
func (a *anonymizer) describe(p *pair, rs []*record, keep, maxEx int) {
	who := map[string]int{}
	types := map[string]int{}
	errs := map[[2]string]int{}
	for _, r := range rs {
		who[r.UserIdentity.Type]++
		if r.EventType != "" {
			types[r.EventType]++
		}
		if r.readOnly() {
			p.ro++
		}
		if r.ErrorCode != "" {
			p.errN++
			msg, ok := a.cleanText(r.ErrorMessage)
			if !ok {
				msg = ""
			}
			if len(msg) > 300 {
				msg = msg[:strings.LastIndexByte(msg[:300], ' ')+1] + "..."
			}
			errs[[2]string{r.ErrorCode, msg}]++
		}
	}
	p.who = counted(who)
	if t := counted(types); len(t) > 0 {
		p.typ = t[0].v
	} else if p.name == "ConsoleLogin" {
		// eventType arrived with 1.02; older sign-ins were still sign-ins.
		p.typ = "AwsConsoleSignIn"
	} else {
		p.typ = "AwsApiCall"
	}
	for k, n := range errs {
		p.errs = append(p.errs, errorKind{k[0], k[1], n})
	}
	sort.Slice(p.errs, func(i, j int) bool {
		if p.errs[i].n != p.errs[j].n {
			return p.errs[i].n > p.errs[j].n
		}
		return p.errs[i].code+"\x00"+p.errs[i].msg < p.errs[j].code+"\x00"+p.errs[j].msg
	})
	if len(p.errs) > 3 {
		p.errs = p.errs[:3]
	}
	p.ex = a.examples(rs, keep, maxEx)
}

// examples groups a pair's records by the structure of what they carry and
// keeps, for the largest groups, the commonest anonymised instance that fits
// in maxEx bytes per member. Grouping by structure rather than by value stops
// a pair whose every request differs (timestamps, tokens) from yielding
// arbitrary one-offs.
func (a *anonymizer) examples(rs []*record, keep, maxEx int) []example {
	type group struct {
		n     int
		exact map[example]int
	}
	groups := map[string]*group{}
	for _, r := range rs {
		var e example
		var ok [4]bool
		e.req, ok[0] = a.cleanJSON(compact(r.RequestParameters))
		e.resp, ok[1] = a.cleanJSON(compact(r.ResponseElements))
		e.add, ok[2] = a.cleanJSON(compact(r.AdditionalEventData))
		e.res, ok[3] = a.cleanJSON(compact(r.Resources))
		if r.ErrorCode != "" {
			// An error's response is null; its request is still a sample.
			e.resp, ok[1] = "", true
		}
		sig := shape(e.req) + "|" + shape(e.resp)
		g := groups[sig]
		if g == nil {
			g = &group{exact: map[example]int{}}
			groups[sig] = g
		}
		g.n++
		if ok == [4]bool{true, true, true, true} && len(e.req) <= maxEx && len(e.resp) <= maxEx && len(e.add) <= maxEx && len(e.res) <= maxEx {
			g.exact[e]++
		}
	}
	var out []example
	for _, sig := range sortedKeys(groups) {
		g := groups[sig]
		var best example
		bestN := 0
		for e, n := range g.exact {
			if n > bestN || n == bestN && less(e, best) {
				best, bestN = e, n
			}
		}
		if bestN == 0 {
			continue
		}
		best.n = g.n
		out = append(out, best)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].n > out[j].n })
	if len(out) > keep {
		out = out[:keep]
	}
	return out
}

func less(x, y example) bool {
	lx := len(x.req) + len(x.resp) + len(x.add) + len(x.res)
	ly := len(y.req) + len(y.resp) + len(y.add) + len(y.res)
	if lx != ly {
		return lx < ly
	}
	return x.req+x.resp+x.add+x.res < y.req+y.resp+y.add+y.res
}

// shape renders the structure of a JSON text: keys and value types, with
// arrays described by their first element.
func shape(s string) string {
	if s == "" {
		return "null"
	}
	var v any
	if json.Unmarshal([]byte(fill(s)), &v) != nil {
		return "?"
	}
	var b strings.Builder
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			b.WriteByte('{')
			for _, k := range sortedKeys(x) {
				b.WriteString(k)
				b.WriteByte(':')
				walk(x[k])
				b.WriteByte(',')
			}
			b.WriteByte('}')
		case []any:
			b.WriteByte('[')
			if len(x) > 0 {
				walk(x[0])
			}
			b.WriteByte(']')
		case string:
			b.WriteByte('s')
		case float64:
			b.WriteByte('n')
		case bool:
			b.WriteByte('b')
		default:
			b.WriteByte('z')
		}
	}
	walk(v)
	return b.String()
}

// ---- output ----

// lit writes s as a Go string literal, raw when that reads better.
func lit(s string) string {
	if s != "" && !strings.ContainsAny(s, "`\r") && strings.IndexFunc(s, func(r rune) bool {
		return r < ' ' || r == 0x7f || r == '\uFFFD'
	}) < 0 {
		return "`" + s + "`"
	}
	return strconv.Quote(s)
}

func (m *model) render() ([]byte, error) {
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("// Code generated by scripts/synthmodel; DO NOT EDIT.\n\n")
	w("package synth\n\n")
	w("// modelRecords is how many real records the tables were distilled from.\n")
	w("const modelRecords = %d\n\n", m.records)
	w("// modelSizeMean is the mean size of a real record as compact JSON, in bytes.\n")
	w("const modelSizeMean = %d\n\n", m.sizeMean)
	w("// modelSizeQuantiles are percentiles of the real records' compact size.\n")
	w("var modelSizeQuantiles = []mQuantile{")
	for _, q := range m.quantiles {
		w("{%d, %d}, ", q[0], q[1])
	}
	w("}\n\n")
	writeCounts := func(name, doc string, cs []count) {
		w("// %s %s\n", name, doc)
		w("var %s = []mCount{\n", name)
		for _, c := range cs {
			w("{%s, %d},\n", strconv.Quote(c.v), c.n)
		}
		w("}\n\n")
	}
	writeCounts("modelIdentities", "counts userIdentity types (\"\" for service events without one).", m.who)
	writeCounts("modelVersions", "counts eventVersion values.", m.versions)
	w("// modelTLS counts TLS versions and cipher suites of calls that reported them.\n")
	w("var modelTLS = []mTLS{\n")
	for _, t := range m.tls {
		w("{%s, %s, %d},\n", strconv.Quote(t.version), strconv.Quote(t.cipher), t.n)
	}
	w("}\n\n")
	w("// modelHosts is the usual clientProvidedHostHeader of each event source.\n")
	w("var modelHosts = []mHost{\n")
	for _, h := range m.hosts {
		w("{%s, %s},\n", strconv.Quote(h[0]), lit(h[1]))
	}
	w("}\n\n")
	w("// modelCallers counts who called and how, per identity type.\n")
	w("var modelCallers = []mCaller{\n")
	for _, c := range m.callers {
		w("{%s, %s, %s, %s, %d},\n", strconv.Quote(c.who), strconv.Quote(c.invokedBy), strconv.Quote(c.ip), lit(c.agent), c.n)
	}
	w("}\n\n")
	writePairs := func(name, doc string, ps []pair) {
		w("// %s %s\n", name, doc)
		w("var %s = []mPair{\n", name)
		for _, p := range ps {
			w("{Source: %s, Name: %s, Type: %s, N: %d, ReadOnly: %d, ErrN: %d,\n",
				strconv.Quote(p.source), strconv.Quote(p.name), strconv.Quote(p.typ), p.n, p.ro, p.errN)
			w("Who: []mCount{")
			for _, c := range p.who {
				w("{%s, %d}, ", strconv.Quote(c.v), c.n)
			}
			w("},\n")
			if len(p.errs) > 0 {
				w("Errs: []mError{\n")
				for _, e := range p.errs {
					w("{%s, %s, %d},\n", strconv.Quote(e.code), lit(e.msg), e.n)
				}
				w("},\n")
			}
			if len(p.ex) > 0 {
				w("Ex: []mExample{\n")
				for _, e := range p.ex {
					w("{%d, %s, %s, %s, %s},\n", e.n, lit(e.req), lit(e.resp), lit(e.add), lit(e.res))
				}
				w("},\n")
			}
			w("},\n")
		}
		w("}\n\n")
	}
	writePairs("modelPairs", "are the most frequent management-event (source, name) pairs, most frequent first.", m.pairs)
	w("// modelFolded are the remaining management-event pairs, counted but not described.\n")
	w("var modelFolded = []mFolded{\n")
	for _, p := range m.folded {
		w("{%s, %s, %d, %d},\n", strconv.Quote(p.source), strconv.Quote(p.name), p.n, p.ro)
	}
	w("}\n\n")
	writePairs("modelDataPairs", "are the data events of the corpus.", m.data)
	src, err := format.Source(b.Bytes())
	if err != nil {
		return nil, errors.Join(errors.New("formatting the generated file"), err)
	}
	return src, nil
}
