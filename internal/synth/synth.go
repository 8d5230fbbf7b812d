// Package synth generates realistic synthetic CloudTrail records for
// benchmarks: ingest throughput, large stores and lookup latency.
//
// What a record says is drawn from a model distilled from real CloudTrail
// logs (model_gen.go, written by scripts/synthmodel): which calls are made
// and how often, who makes them and with which tools, how often they fail and
// with which errors, and anonymised samples of their request and response
// bodies. Who the callers are (accounts, users, roles, keys, addresses) and
// which resources they touch (buckets, instances, keys) are invented per
// Generator from its seed, in bounded pools, so that lookups by user name,
// access key or resource find realistic numbers of matches.
//
// Records are built by appending precomputed fragments, without
// encoding/json, so a single core produces well over half a million per
// second.
package synth

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options shape a generated stream. The zero value is usable.
type Options struct {
	// Seed fixes the stream: the same Options give the same records.
	Seed int64
	// Accounts are 12-digit account IDs, drawn uniformly per record;
	// default one fixed account.
	Accounts []string
	// Regions are drawn with weights falling as 1/(position+1); default
	// us-east-1, us-west-2 and eu-west-1 at 60/25/15. Calls to global
	// services (IAM, Route 53, ...) are always recorded in us-east-1.
	Regions []string
	// Users is the number of distinct IAM users and roles per account
	// (default 50); about one in five is a role.
	Users int
	// Start is the eventTime of the first record; default 24 hours before
	// New was called, truncated to the minute. Set it for a stream that is
	// the same on every run.
	Start time.Time
	// Step is the mean gap between consecutive eventTimes (default 1ms);
	// each gap is drawn uniformly from [Step/2, 3*Step/2).
	Step time.Duration
}

const (
	defaultAccount = "111122223333"
	// dataPerMille is the share of S3 data events. The corpus has almost
	// none, as trails rarely record data events, but a store that serves
	// them must be measured with some.
	dataPerMille = 50
	// Pool sizes per account: small enough that values repeat and lookups
	// by resource return several events, large enough to spread them.
	bucketsPerAccount   = 24
	instancesPerAccount = 200
	kmsKeysPerAccount   = 12
	objectKeys          = 1024
	// sessionSeconds is how long a console or role session keeps its
	// creationDate before a new session starts.
	sessionSeconds = 3600
	timeLayout     = "2006-01-02T15:04:05Z"
)

// versionMix weights the eventVersion stamped on records. Every record has
// the 1.08+ shape (tlsDetails, eventCategory...), so the corpus's mostly
// older versions (see modelVersions) would misdescribe them.
var versionMix = []mCount{{"1.08", 50}, {"1.09", 30}, {"1.10", 15}, {"1.11", 5}}

// globalSources record every call in us-east-1 whatever the caller's region.
var globalSources = map[string]bool{
	"iam.amazonaws.com":           true,
	"route53.amazonaws.com":       true,
	"cloudfront.amazonaws.com":    true,
	"organizations.amazonaws.com": true,
}

// dataMix weights the S3 data events; bodies come from the model's data
// pairs when it has them, else from dataFallback.
var dataMix = []mCount{{"GetObject", 60}, {"PutObject", 30}, {"ListObjects", 10}}

// s3Add is the additionalEventData S3 writes on every request.
const s3Add = `{"SignatureVersion":"SigV4","CipherSuite":"ECDHE-RSA-AES128-GCM-SHA256","bytesTransferredIn":%d,"AuthenticationMethod":"AuthHeader","x-amz-id-2":"%s","bytesTransferredOut":%d}`

// s3ObjectRes names the object and its bucket, as S3 data events do.
const s3ObjectRes = `[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::{{BUCKET}}/{{OBJKEY}}"},{"accountId":"{{ACCOUNT}}","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::{{BUCKET}}"}]`

// dataFallback describes data events the corpus lacks, in the shape S3
// records them.
var dataFallback = []mPair{
	{Source: "s3.amazonaws.com", Name: "GetObject", N: 1, ReadOnly: 1, Ex: []mExample{
		{1, `{"bucketName":"{{BUCKET}}","Host":"{{BUCKET}}.s3.{{REGION}}.amazonaws.com","key":"{{OBJKEY}}"}`, "",
			fmt.Sprintf(s3Add, 0, "Yb2uQ8nWcJ1xk5Zt0eRrM4pLh7sVqA9dGfT3oKjE6iUwN2cXyB8vHm1zPa5Qs0Dl=", 48213), s3ObjectRes},
	}},
	{Source: "s3.amazonaws.com", Name: "PutObject", N: 1, ReadOnly: 0, Ex: []mExample{
		{3, `{"bucketName":"{{BUCKET}}","Host":"{{BUCKET}}.s3.{{REGION}}.amazonaws.com","key":"{{OBJKEY}}"}`,
			`{"x-amz-server-side-encryption":"AES256"}`,
			fmt.Sprintf(s3Add, 18342, "q3Lk9TzW0aXn5VbE2rYc7MhU1sJg8dPf4oRi6tNw3KyQe0BmZx9lCv2Hu5Ga7Sj=", 0), s3ObjectRes},
		{1, `{"bucketName":"{{BUCKET}}","Host":"{{BUCKET}}.s3.{{REGION}}.amazonaws.com","key":"{{OBJKEY}}","x-amz-server-side-encryption":"aws:kms","x-amz-server-side-encryption-aws-kms-key-id":"arn:aws:kms:{{REGION}}:{{ACCOUNT}}:key/{{KMSKEY}}"}`,
			`{"x-amz-server-side-encryption-aws-kms-key-id":"arn:aws:kms:{{REGION}}:{{ACCOUNT}}:key/{{KMSKEY}}","x-amz-server-side-encryption":"aws:kms"}`,
			fmt.Sprintf(s3Add, 1048576, "Fh2Wn7Qa0Kx5Lc9Vt3Ep8Ry1Uo6Mb4Zs2Gd0Ji7Tk5Nl3Xw9Cq1Ae6Pv8Bs4Hm=", 0), s3ObjectRes},
	}},
	{Source: "s3.amazonaws.com", Name: "ListObjects", N: 1, ReadOnly: 1, Ex: []mExample{
		{1, `{"bucketName":"{{BUCKET}}","Host":"{{BUCKET}}.s3.{{REGION}}.amazonaws.com","list-type":"2","prefix":"","encoding-type":"url"}`, "",
			fmt.Sprintf(s3Add, 0, "Pm4Xr8Ka1Vd6Ne0Wz3Ju9Sb2Gl7Hc5Qt1Fy8Ro4Ei0Mx6Tn3Ls9Bv2Dk7Aw5Zq=", 2291),
			`[{"type":"AWS::S3::Object","ARNPrefix":"arn:aws:s3:::{{BUCKET}}/"},{"accountId":"{{ACCOUNT}}","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::{{BUCKET}}"}]`},
	}},
}

// ---- the compiled model, shared by all generators ----

// cumul holds running totals of weights, for weighted draws.
type cumul []uint64

func cumulate[T any](items []T, weight func(T) int64) cumul {
	c := make(cumul, len(items))
	var t uint64
	for i, it := range items {
		if w := weight(it); w > 0 {
			t += uint64(w)
		}
		c[i] = t
	}
	return c
}

// pick draws an index with probability proportional to its weight.
func (c cumul) pick(r *rand.Rand) int {
	if len(c) <= 1 || c[len(c)-1] == 0 {
		return 0
	}
	x := r.Uint64N(c[len(c)-1])
	lo, hi := 0, len(c)-1
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if c[m] > x {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

type cError struct {
	code string // `,"errorCode":"...","errorMessage":` (or without the message)
	msg  tmpl   // quoted message; empty when the record had none
}

type cExample struct {
	req, resp, add, res tmpl // nil stands for null / absent
}

type cPair struct {
	source, name string
	head         string // `","eventSource":...,"awsRegion":"`
	tail         string // `,"eventType":...,"eventCategory":"..."`
	global, s3   bool
	n, ro, errN  uint32
	who          []identity
	whoW         cumul
	errs         []cError
	errW         cumul
	ex           []cExample
	exW          cumul
	host         tmpl
}

type cCaller struct {
	invokedBy string // `,"invokedBy":"..."` or ""
	service   string // the invoking service, quoted, for identities that are one
	ip        string // literal sourceIPAddress, "" for the principal's own
	agent     tmpl   // quoted
}

// identity is a userIdentity type with the ways it calls, bound once so
// that a record costs no map lookup.
type identity struct {
	typ     string
	callers *callerSet
}

type callerSet struct {
	all  []cCaller
	allW cumul
	sdk  []cCaller // callers from an address with no service in between
	sdkW cumul
}

type compiledModel struct {
	pairs   []cPair
	pairW   cumul
	data    []cPair
	dataW   cumul
	who     []identity // identity types that own principals, for data events
	whoW    cumul
	callers map[string]*callerSet
	// otherIdent opens the userIdentity of rare types that get no
	// principal of their own (Unknown, ...).
	otherIdent map[string]string
	tls        []string // `,"tlsDetails":{"tlsVersion":...,"clientProvidedHostHeader":"`
	tlsW       cumul
	versions   []string
	versionW   cumul
}

var (
	modelOnce sync.Once
	model     *compiledModel
)

func compiled() *compiledModel {
	modelOnce.Do(func() { model = compileModel() })
	return model
}

func compileModel() *compiledModel {
	m := &compiledModel{callers: map[string]*callerSet{}, otherIdent: map[string]string{}}
	hosts := map[string]string{}
	for _, h := range modelHosts {
		hosts[h.Source] = h.Host
	}
	for _, p := range modelPairs {
		m.pairs = append(m.pairs, compilePair(p, hosts, false))
	}
	for _, f := range modelFolded {
		m.pairs = append(m.pairs, compilePair(mPair{Source: f.Source, Name: f.Name, N: f.N, ReadOnly: f.ReadOnly}, hosts, false))
	}
	m.pairW = cumulate(m.pairs, func(p cPair) int64 { return int64(p.n) })

	for _, d := range dataMix {
		p, ok := findPair(modelDataPairs, d.V)
		if !ok || len(p.Ex) == 0 {
			p, _ = findPair(dataFallback, d.V)
		}
		p.N = d.N
		m.data = append(m.data, compilePair(p, hosts, true))
	}
	m.dataW = cumulate(m.data, func(p cPair) int64 { return int64(p.n) })

	// Data events need a caller with credentials of its own.
	var owners []mCount
	for _, c := range modelIdentities {
		switch c.V {
		case "IAMUser", "AssumedRole":
			owners = append(owners, c)
			m.who = append(m.who, identity{typ: c.V})
		case "", "AWSService", "Root":
		default:
			m.otherIdent[c.V] = `{"type":` + quote(c.V) + `,"principalId":"","accountId":"`
		}
	}
	m.whoW = cumulate(owners, func(c mCount) int64 { return int64(c.N) })

	for _, c := range modelCallers {
		s := m.callers[c.Who]
		if s == nil {
			s = &callerSet{}
			m.callers[c.Who] = s
		}
		service := c.InvokedBy
		if service == "" {
			service = "AWS Internal"
		}
		cc := cCaller{ip: c.IP, agent: compile(quote(c.Agent)), service: quote(service)}
		if c.InvokedBy != "" {
			cc.invokedBy = `,"invokedBy":` + quote(c.InvokedBy)
		}
		s.all = append(s.all, cc)
		s.allW = append(s.allW, uint64(c.N))
		if c.IP == "" && c.InvokedBy == "" {
			s.sdk = append(s.sdk, cc)
			s.sdkW = append(s.sdkW, uint64(c.N))
		}
	}
	for _, s := range m.callers {
		for i := 1; i < len(s.allW); i++ {
			s.allW[i] += s.allW[i-1]
		}
		for i := 1; i < len(s.sdkW); i++ {
			s.sdkW[i] += s.sdkW[i-1]
		}
		if len(s.sdk) == 0 {
			s.sdk, s.sdkW = s.all, s.allW
		}
	}

	for _, t := range modelTLS {
		m.tls = append(m.tls, `,"tlsDetails":{"tlsVersion":`+quote(t.Version)+`,"cipherSuite":`+quote(t.Cipher)+`,"clientProvidedHostHeader":"`)
	}
	m.tlsW = cumulate(modelTLS, func(t mTLS) int64 { return int64(t.N) })
	for _, v := range versionMix {
		m.versions = append(m.versions, `{"eventVersion":`+quote(v.V)+`,"userIdentity":`)
	}
	m.versionW = cumulate(versionMix, func(c mCount) int64 { return int64(c.N) })

	// A type the callers table lacks calls the way IAM users do, or failing
	// that with the CLI from its own address.
	fallback := m.callers["IAMUser"]
	if fallback == nil {
		cli := cCaller{agent: compile(`"aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0 exe/x86_64.amzn.2"`), service: `"AWS Internal"`}
		fallback = &callerSet{all: []cCaller{cli}, allW: cumul{1}, sdk: []cCaller{cli}, sdkW: cumul{1}}
	}
	bind := func(ids []identity) {
		for i := range ids {
			if ids[i].callers = m.callers[ids[i].typ]; ids[i].callers == nil {
				ids[i].callers = fallback
			}
		}
	}
	bind(m.who)
	for i := range m.pairs {
		bind(m.pairs[i].who)
	}
	return m
}

func findPair(ps []mPair, name string) (mPair, bool) {
	for _, p := range ps {
		if p.Name == name {
			return p, true
		}
	}
	return mPair{}, false
}

func compilePair(p mPair, hosts map[string]string, data bool) cPair {
	c := cPair{
		source: p.Source,
		name:   p.Name,
		head:   `","eventSource":` + quote(p.Source) + `,"eventName":` + quote(p.Name) + `,"awsRegion":"`,
		global: globalSources[p.Source],
		s3:     p.Source == "s3.amazonaws.com",
		n:      uint32(p.N),
		ro:     uint32(p.ReadOnly),
		errN:   uint32(p.ErrN),
	}
	typ := p.Type
	if typ == "" {
		typ = "AwsApiCall"
	}
	if data {
		c.tail = `,"eventType":` + quote(typ) + `,"managementEvent":false,"recipientAccountId":"`
	} else {
		c.tail = `,"eventType":` + quote(typ) + `,"managementEvent":true,"recipientAccountId":"`
	}
	if !data {
		for _, w := range p.Who {
			c.who = append(c.who, identity{typ: w.V})
		}
		c.whoW = cumulate(p.Who, func(w mCount) int64 { return int64(w.N) })
	}
	for _, e := range p.Errs {
		ce := cError{code: `,"errorCode":` + quote(e.Code)}
		if e.Msg != "" {
			ce.code += `,"errorMessage":`
			ce.msg = compile(quote(e.Msg))
		}
		c.errs = append(c.errs, ce)
	}
	c.errW = cumulate(p.Errs, func(e mError) int64 { return int64(e.N) })
	for _, e := range p.Ex {
		c.ex = append(c.ex, compileExample(e))
	}
	c.exW = cumulate(p.Ex, func(e mExample) int64 { return int64(e.N) })
	host, ok := hosts[p.Source]
	if !ok {
		host = strings.TrimSuffix(p.Source, ".amazonaws.com") + ".{{REGION}}.amazonaws.com"
	}
	c.host = compile(host)
	return c
}

func orNil(s string) tmpl {
	if s == "" {
		return nil
	}
	return compile(s)
}

// compileExample adds resources where the corpus predates them: a request
// that names a bucket or an instance gets a resources entry for it, so that
// lookups by resource have the spread they would have today.
func compileExample(e mExample) cExample {
	c := cExample{req: orNil(e.Req), resp: orNil(e.Resp), add: orNil(e.Add), res: orNil(e.Res)}
	if c.res == nil && c.req != nil {
		var res []string
		if c.req.has(phBucket) {
			res = append(res, `{"accountId":"{{ACCOUNT}}","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::{{BUCKET}}"}`)
		}
		if c.req.has(phInstance) {
			res = append(res, `{"accountId":"{{ACCOUNT}}","type":"AWS::EC2::Instance","ARN":"arn:aws:ec2:{{REGION}}:{{ACCOUNT}}:instance/{{INSTANCE}}"}`)
		}
		if res != nil {
			c.res = compile("[" + strings.Join(res, ",") + "]")
		}
	}
	return c
}

// ---- generator state ----

type principalKind uint8

const (
	kindUser principalKind = iota
	kindRole
	kindRoot
)

// principal is one caller: an IAM user, a role session or the root user.
// Its identity JSON is precomputed except for the session's creationDate.
type principal struct {
	kind      principalKind
	name      string // user name or role session name
	id        string // principalId
	longKey   string // AKIA..., used without a session
	shortKey  string // ASIA..., used with one
	ip        string
	ipDash    string
	longIdent string // `{"type":...,"accessKeyId":"AKIA..."...` without "}"
	sessIdent string // the same with the ASIA key, up to `"creationDate":"`
	sessTail  string // `","mfaAuthenticated":"..."}}`
	sessStart int64
	sessDate  []byte
}

type account struct {
	id        string
	users     []*principal
	roles     []*principal
	root      *principal
	buckets   []string
	instances []string
	kmsKeys   []string
}

// Generator produces an endless stream of synthetic CloudTrail records. It
// is not safe for concurrent use: give each goroutine its own, with its own
// Seed.
type Generator struct {
	m        *compiledModel
	r        *rand.Rand
	accounts []*account
	regions  []string
	regionW  cumul
	objKeys  []string

	started bool
	now     int64 // eventTime of the last record, in nanoseconds
	step    int64
	sec     int64 // second that timeStr shows
	timeStr []byte

	// Per-record values, drawn on first use so that every occurrence in
	// one record agrees (the bucket in the request is the one in resources).
	acct     *account
	region   string
	who      *principal
	bucket   int
	objKey   int
	instance int
	kmsKey   int
	hexID    [17]byte
	hexSet   bool
}

// New returns a generator for o. It panics on an account ID that is not
// twelve digits or a region name that is not lower-case letters, digits and
// dashes, since both are spliced into JSON unescaped.
func New(o Options) *Generator {
	g := &Generator{
		m: compiled(),
		r: rand.New(rand.NewPCG(uint64(o.Seed), 0x5eed_c0de_ca1e_b0a7)),
	}
	accounts := o.Accounts
	if len(accounts) == 0 {
		accounts = []string{defaultAccount}
	}
	for _, a := range accounts {
		if len(a) != 12 || strings.Trim(a, "0123456789") != "" {
			panic(fmt.Sprintf("synth: account ID %q is not 12 digits", a))
		}
	}
	if len(o.Regions) == 0 {
		g.regions = []string{"us-east-1", "us-west-2", "eu-west-1"}
		g.regionW = cumul{60, 85, 100}
	} else {
		var t uint64
		for i, r := range o.Regions {
			if r == "" || strings.Trim(r, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
				panic(fmt.Sprintf("synth: region %q is not a region name", r))
			}
			g.regions = append(g.regions, r)
			t += uint64(1000 / (i + 1))
			g.regionW = append(g.regionW, t)
		}
	}
	users := o.Users
	if users <= 0 {
		users = 50
	}
	start := o.Start
	if start.IsZero() {
		start = time.Now().Add(-24 * time.Hour).Truncate(time.Minute)
	}
	g.step = int64(o.Step)
	if g.step <= 0 {
		g.step = int64(time.Millisecond)
	}
	g.now = start.UnixNano()
	g.sec = -1 << 62
	g.timeStr = make([]byte, 0, len(timeLayout))

	for i := range objectKeys {
		g.objKeys = append(g.objKeys, g.newObjectKey(i))
	}
	for _, id := range accounts {
		g.accounts = append(g.accounts, g.newAccount(id, users))
	}
	return g
}

const base32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// awsID returns prefix followed by n characters of AWS's ID alphabet.
func (g *Generator) awsID(prefix string, n int) string {
	b := []byte(prefix)
	for range n {
		b = append(b, base32[g.r.IntN(len(base32))])
	}
	return string(b)
}

func (g *Generator) hex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.r.IntN(16)]
	}
	return string(b)
}

// publicIP draws an address outside the private, loopback and multicast
// ranges, as a caller on the internet would have.
func (g *Generator) publicIP() string {
	for {
		a := 1 + g.r.IntN(223)
		b := g.r.IntN(256)
		if a == 10 || a == 127 || a == 172 && b >= 16 && b < 32 || a == 192 && b == 168 || a == 169 && b == 254 || a == 100 && b >= 64 && b < 128 {
			continue
		}
		return fmt.Sprintf("%d.%d.%d.%d", a, b, g.r.IntN(256), 1+g.r.IntN(254))
	}
}

var (
	givenNames  = []string{"alice", "bruno", "carmen", "dmitri", "elena", "farid", "grace", "hiro", "ines", "jamal", "kai", "lena", "marco", "nadia", "oscar", "priya", "quentin", "rosa", "sven", "tamar", "umar", "vera", "wei", "ximena", "yusuf", "zoe"}
	familyNames = []string{"adams", "berg", "costa", "diallo", "eriksen", "fischer", "garcia", "haddad", "ivanova", "jensen", "kowalski", "lopez", "moreau", "nakamura", "okafor", "park", "quinn", "rossi", "silva", "tanaka", "ueda", "vargas", "wagner", "xu", "yilmaz", "zhang"}
	serviceUser = []string{"ci-deploy", "terraform", "backup-agent", "monitoring", "etl-runner", "billing-export", "log-shipper", "grafana"}
	roleNames   = []string{"OrganizationAccountAccessRole", "AWSReservedSSO_AdministratorAccess_%s", "AWSReservedSSO_ReadOnlyAccess_%s", "ec2-app-instance-role", "lambda-exec-role", "github-actions-deploy", "eks-node-role", "data-pipeline-role", "ecs-task-role", "security-audit"}
	bucketWords = []string{"logs", "assets", "backups", "data-lake", "artifacts", "exports", "uploads", "static-site", "cloudtrail", "reports", "ml-datasets", "config"}
	keyPrefixes = []string{"logs/2024/", "data/raw/", "data/curated/", "uploads/", "backups/db/", "reports/monthly/", "images/", "exports/"}
	keySuffixes = []string{".json.gz", ".parquet", ".csv", ".jpg", ".tar.gz", ".log", ".pdf"}
)

func (g *Generator) newObjectKey(i int) string {
	return fmt.Sprintf("%s%05d-%s%s", keyPrefixes[g.r.IntN(len(keyPrefixes))], i, g.hex(6), keySuffixes[g.r.IntN(len(keySuffixes))])
}

func (g *Generator) newAccount(id string, n int) *account {
	a := &account{id: id}
	roles := max(1, n/5)
	users := max(1, n-roles)
	seen := map[string]bool{}
	for i := range users {
		var name string
		if i%10 == 9 {
			name = fmt.Sprintf("%s-%d", serviceUser[g.r.IntN(len(serviceUser))], i)
		} else {
			name = givenNames[g.r.IntN(len(givenNames))] + "." + familyNames[g.r.IntN(len(familyNames))]
		}
		for seen[name] {
			name += strconv.Itoa(g.r.IntN(10))
		}
		seen[name] = true
		a.users = append(a.users, g.newUser(a, name))
	}
	for i := range roles {
		a.roles = append(a.roles, g.newRole(a, i))
	}
	a.root = g.newRoot(a)
	for i := range bucketsPerAccount {
		a.buckets = append(a.buckets, fmt.Sprintf("%s-%s-%s", bucketWords[i%len(bucketWords)], id[8:], g.hex(4)))
	}
	for range instancesPerAccount {
		a.instances = append(a.instances, "i-0"+g.hex(16))
	}
	for range kmsKeysPerAccount {
		a.kmsKeys = append(a.kmsKeys, string(g.appendUUID(nil)))
	}
	return a
}

func (g *Generator) withAddress(p *principal) *principal {
	p.ip = g.publicIP()
	p.ipDash = strings.ReplaceAll(p.ip, ".", "-")
	p.sessStart = -1 << 62
	p.sessDate = make([]byte, 0, len(timeLayout))
	return p
}

func mfa(on bool) string {
	if on {
		return `","mfaAuthenticated":"true"}}`
	}
	return `","mfaAuthenticated":"false"}}`
}

func (g *Generator) newUser(a *account, name string) *principal {
	p := g.withAddress(&principal{
		kind: kindUser, name: name,
		id:       g.awsID("AIDA", 17),
		longKey:  g.awsID("AKIA", 16),
		shortKey: g.awsID("ASIA", 16),
	})
	common := `{"type":"IAMUser","principalId":"` + p.id + `","arn":"arn:aws:iam::` + a.id + `:user/` + name + `","accountId":"` + a.id + `","accessKeyId":"`
	p.longIdent = common + p.longKey + `","userName":"` + name + `"`
	p.sessIdent = common + p.shortKey + `","userName":"` + name + `","sessionContext":{"sessionIssuer":{},"webIdFederationData":{},"attributes":{"creationDate":"`
	p.sessTail = mfa(g.r.IntN(3) > 0)
	return p
}

func (g *Generator) newRole(a *account, i int) *principal {
	role := roleNames[i%len(roleNames)]
	if strings.Contains(role, "%s") {
		role = fmt.Sprintf(role, g.hex(16))
	}
	if i >= len(roleNames) {
		role += "-" + strconv.Itoa(i/len(roleNames))
	}
	// Session names follow how each kind of role is assumed: SSO by a
	// person, instance profiles by an instance, the rest by SDK defaults.
	var session string
	switch {
	case strings.HasPrefix(role, "AWSReservedSSO"):
		session = givenNames[g.r.IntN(len(givenNames))] + "." + familyNames[g.r.IntN(len(familyNames))] + "@example.com"
	case strings.HasPrefix(role, "ec2-") || strings.HasPrefix(role, "eks-"):
		session = "i-0" + g.hex(16)
	case strings.HasPrefix(role, "github"):
		session = "GitHubActions"
	default:
		session = "botocore-session-" + strconv.FormatInt(1700000000+g.r.Int64N(1e8), 10)
	}
	roleID := g.awsID("AROA", 17)
	p := g.withAddress(&principal{
		kind: kindRole, name: session,
		id:       roleID + ":" + session,
		shortKey: g.awsID("ASIA", 16),
	})
	p.longKey = p.shortKey
	p.sessIdent = `{"type":"AssumedRole","principalId":"` + p.id + `","arn":"arn:aws:sts::` + a.id + `:assumed-role/` + role + `/` + session +
		`","accountId":"` + a.id + `","accessKeyId":"` + p.shortKey +
		`","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"` + roleID + `","arn":"arn:aws:iam::` + a.id + `:role/` + role +
		`","accountId":"` + a.id + `","userName":"` + role + `"},"webIdFederationData":{},"attributes":{"creationDate":"`
	p.sessTail = mfa(false)
	return p
}

func (g *Generator) newRoot(a *account) *principal {
	p := g.withAddress(&principal{
		kind: kindRoot, name: "root",
		id:       a.id,
		longKey:  g.awsID("AKIA", 16),
		shortKey: g.awsID("ASIA", 16),
	})
	common := `{"type":"Root","principalId":"` + a.id + `","arn":"arn:aws:iam::` + a.id + `:root","accountId":"` + a.id + `","accessKeyId":"`
	p.longIdent = common + p.longKey + `"`
	p.sessIdent = common + p.shortKey + `","sessionContext":{"sessionIssuer":{},"webIdFederationData":{},"attributes":{"creationDate":"`
	p.sessTail = mfa(true)
	return p
}

// skewed draws an index below n, favouring small ones (P(i < k) = sqrt(k/n))
// so that a few users, buckets and instances are busy and most are not.
func (g *Generator) skewed(n int) int {
	u := g.r.Float64()
	return int(u * u * float64(n))
}

// ---- records ----

// Next appends the next record, as one line of compact CloudTrail JSON
// without a newline, to dst and returns the extended slice. Reusing dst
// across calls makes generation allocation-free.
func (g *Generator) Next(dst []byte) []byte {
	m := g.m
	r := g.r

	// Time moves on by a jittered Step, except that the first record is
	// stamped Start itself.
	switch {
	case !g.started:
		g.started = true
	case g.step >= 2:
		g.now += g.step/2 + r.Int64N(g.step)
	default:
		g.now++
	}
	if s := g.now / 1e9; s != g.sec {
		g.sec = s
		g.timeStr = time.Unix(s, 0).UTC().AppendFormat(g.timeStr[:0], timeLayout)
	}

	data := r.Uint32N(1000) < dataPerMille
	var p *cPair
	if data {
		p = &m.data[m.dataW.pick(r)]
	} else {
		p = &m.pairs[m.pairW.pick(r)]
	}
	g.acct = g.accounts[r.IntN(len(g.accounts))]
	if p.global {
		g.region = "us-east-1"
	} else {
		g.region = g.regions[g.regionW.pick(r)]
	}
	g.bucket, g.objKey, g.instance, g.kmsKey, g.hexSet = -1, -1, -1, -1, false

	var id *identity
	if len(p.who) > 0 {
		id = &p.who[p.whoW.pick(r)]
	} else {
		id = &m.who[m.whoW.pick(r)]
	}
	who, cs := id.typ, id.callers
	var c *cCaller
	if data {
		c = &cs.sdk[cs.sdkW.pick(r)]
	} else {
		c = &cs.all[cs.allW.pick(r)]
	}

	dst = append(dst, m.versions[m.versionW.pick(r)]...)
	dst = g.appendIdentity(dst, who, c)
	dst = append(dst, `,"eventTime":"`...)
	dst = append(dst, g.timeStr...)
	dst = append(dst, p.head...)
	dst = append(dst, g.region...)
	dst = append(dst, `","sourceIPAddress":"`...)
	if c.ip != "" {
		dst = append(dst, c.ip...)
	} else {
		dst = append(dst, g.person().ip...)
	}
	dst = append(dst, `","userAgent":`...)
	dst = g.appendTmpl(dst, c.agent)

	failed := p.errN > 0 && r.Uint32N(p.n) < p.errN
	if failed && len(p.errs) > 0 {
		e := &p.errs[p.errW.pick(r)]
		dst = append(dst, e.code...)
		if e.msg != nil {
			dst = g.appendTmpl(dst, e.msg)
		}
	}
	var ex *cExample
	if len(p.ex) > 0 {
		ex = &p.ex[p.exW.pick(r)]
	}
	dst = append(dst, `,"requestParameters":`...)
	if ex != nil && ex.req != nil {
		dst = g.appendTmpl(dst, ex.req)
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"responseElements":`...)
	if ex != nil && ex.resp != nil && !failed {
		dst = g.appendTmpl(dst, ex.resp)
	} else {
		dst = append(dst, "null"...)
	}
	if ex != nil && ex.add != nil {
		dst = append(dst, `,"additionalEventData":`...)
		dst = g.appendTmpl(dst, ex.add)
	}
	dst = append(dst, `,"requestID":"`...)
	if p.s3 {
		dst = g.appendS3RequestID(dst)
	} else {
		dst = g.appendUUID(dst)
	}
	dst = append(dst, `","eventID":"`...)
	dst = g.appendUUID(dst)
	if p.n > 0 && r.Uint32N(p.n) < p.ro {
		dst = append(dst, `","readOnly":true`...)
	} else {
		dst = append(dst, `","readOnly":false`...)
	}
	if ex != nil && ex.res != nil {
		dst = append(dst, `,"resources":`...)
		dst = g.appendTmpl(dst, ex.res)
	}
	dst = append(dst, p.tail...)
	dst = append(dst, g.acct.id...)
	if data {
		dst = append(dst, `","eventCategory":"Data"`...)
	} else {
		dst = append(dst, `","eventCategory":"Management"`...)
	}
	// Calls made by AWS on a caller's behalf arrive over AWS's network and
	// report no TLS details.
	if c.ip == "" {
		dst = append(dst, m.tls[m.tlsW.pick(r)]...)
		dst = g.appendTmpl(dst, p.host)
		dst = append(dst, `"}`...)
	}
	return append(dst, '}')
}

// person returns the record's caller, drawing one from the account when the
// identity is a service: placeholders such as {{USER}} still need a value.
func (g *Generator) person() *principal {
	if g.who == nil {
		g.who = g.acct.users[g.skewed(len(g.acct.users))]
	}
	return g.who
}

func (g *Generator) appendIdentity(dst []byte, who string, c *cCaller) []byte {
	var p *principal
	switch who {
	case "IAMUser":
		p = g.acct.users[g.skewed(len(g.acct.users))]
	case "AssumedRole":
		p = g.acct.roles[g.skewed(len(g.acct.roles))]
	case "Root":
		p = g.acct.root
	}
	g.who = p
	if p == nil {
		switch who {
		case "AWSService":
			dst = append(dst, `{"type":"AWSService","invokedBy":`...)
			dst = append(dst, c.service...)
			return append(dst, '}')
		case "":
			// Service events carry the account and the acting service only.
			dst = append(dst, `{"accountId":"`...)
			dst = append(dst, g.acct.id...)
			dst = append(dst, `","invokedBy":`...)
			dst = append(dst, c.service...)
			return append(dst, '}')
		default:
			head, ok := g.m.otherIdent[who]
			if !ok {
				head = `{"type":"Unknown","principalId":"","accountId":"`
			}
			dst = append(dst, head...)
			dst = append(dst, g.acct.id...)
			return append(dst, `"}`...)
		}
	}
	// A console or service-driven call runs on session credentials; a
	// direct SDK call by a user uses the user's long-term key.
	if p.kind == kindRole || c.invokedBy != "" {
		if sec := g.sec; sec-p.sessStart >= sessionSeconds {
			p.sessStart = sec - g.r.Int64N(600)
			p.sessDate = time.Unix(p.sessStart, 0).UTC().AppendFormat(p.sessDate[:0], timeLayout)
		}
		dst = append(dst, p.sessIdent...)
		dst = append(dst, p.sessDate...)
		dst = append(dst, p.sessTail...)
	} else {
		dst = append(dst, p.longIdent...)
	}
	dst = append(dst, c.invokedBy...)
	return append(dst, '}')
}

func (g *Generator) appendTmpl(dst []byte, t tmpl) []byte {
	for i := range t {
		s := &t[i]
		dst = append(dst, s.lit...)
		if s.ph != phNone {
			dst = g.appendValue(dst, s.ph)
		}
	}
	return dst
}

func (g *Generator) appendValue(dst []byte, p ph) []byte {
	a := g.acct
	switch p {
	case phAccount:
		return append(dst, a.id...)
	case phRegion:
		return append(dst, g.region...)
	case phIP:
		return append(dst, g.person().ip...)
	case phIPDash:
		return append(dst, g.person().ipDash...)
	case phAKID:
		return append(dst, g.person().shortKey...)
	case phPrincipal:
		return append(dst, g.person().id...)
	case phUser:
		return append(dst, g.person().name...)
	case phBucket:
		if g.bucket < 0 {
			g.bucket = g.skewed(len(a.buckets))
		}
		return append(dst, a.buckets[g.bucket]...)
	case phObjKey:
		if g.objKey < 0 {
			g.objKey = g.skewed(len(g.objKeys))
		}
		return append(dst, g.objKeys[g.objKey]...)
	case phInstance:
		if g.instance < 0 {
			g.instance = g.skewed(len(a.instances))
		}
		return append(dst, a.instances[g.instance]...)
	case phKMSKey:
		if g.kmsKey < 0 {
			g.kmsKey = g.skewed(len(a.kmsKeys))
		}
		return append(dst, a.kmsKeys[g.kmsKey]...)
	case phUUID:
		return g.appendUUID(dst)
	case phHexID:
		if !g.hexSet {
			g.hexSet = true
			x, y := g.r.Uint64(), g.r.Uint64()
			for i := range g.hexID {
				if i < 16 {
					g.hexID[i] = hexDigits[x>>(4*i)&0xf]
				} else {
					g.hexID[i] = hexDigits[y&0xf]
				}
			}
		}
		return append(dst, g.hexID[:]...)
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// appendUUID appends a random version 4 UUID.
func (g *Generator) appendUUID(dst []byte) []byte {
	hi := g.r.Uint64()&^0xf000 | 0x4000
	lo := g.r.Uint64()&^(0xc<<60) | 0x8<<60
	var b [36]byte
	j := 0
	for i := range 16 {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		var v byte
		if i < 8 {
			v = byte(hi >> (56 - 8*i))
		} else {
			v = byte(lo >> (56 - 8*(i-8)))
		}
		b[j] = hexDigits[v>>4]
		b[j+1] = hexDigits[v&0xf]
		j += 2
	}
	return append(dst, b[:]...)
}

// appendS3RequestID appends S3's 16 upper-case hex digit request ID.
func (g *Generator) appendS3RequestID(dst []byte) []byte {
	const upper = "0123456789ABCDEF"
	x := g.r.Uint64()
	for i := range 16 {
		dst = append(dst, upper[x>>(60-4*i)&0xf])
	}
	return dst
}
