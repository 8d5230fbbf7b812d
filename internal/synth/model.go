package synth

// The tables in model_gen.go are written by scripts/synthmodel from real
// CloudTrail records. The types below are their vocabulary; they are kept
// small and positional so the generated file stays compact.
//
// Strings marked "template" are JSON (or plain text) in which {{NAME}}
// placeholders stand where the real record had an account ID, an address, a
// name or an identifier; the generator substitutes its own values, see
// placeholders in template.go.

// mCount is a value and how many real records had it.
type mCount struct {
	V string
	N int32
}

// mQuantile is the size, in bytes, below which P percent of real records fall.
type mQuantile struct {
	P, Bytes int32
}

// mTLS is one TLS version and cipher suite combination.
type mTLS struct {
	Version, Cipher string
	N               int32
}

// mHost is the host header clients sent to an event source (a template that
// may contain {{REGION}}).
type mHost struct {
	Source, Host string
}

// mCaller is one way an identity type reached AWS: the service that acted for
// it, the source address ("" when it was a real IP address, which the
// generator draws per principal) and the user agent (a template).
type mCaller struct {
	Who, InvokedBy, IP, Agent string
	N                         int32
}

// mError is an error code with an anonymised message (a template).
type mError struct {
	Code, Msg string
	N         int32
}

// mExample is one anonymised requestParameters / responseElements /
// additionalEventData / resources combination (templates; "" means null or
// absent) and how many real records had that structure.
type mExample struct {
	N                   int32
	Req, Resp, Add, Res string
}

// mPair describes one (eventSource, eventName) pair: N records, of which
// ReadOnly were read-only and ErrN failed.
type mPair struct {
	Source, Name string
	Type         string // eventType
	N            int32
	ReadOnly     int32
	ErrN         int32
	Who          []mCount // identity types
	Errs         []mError // commonest errors
	Ex           []mExample
}

// mFolded is a rare pair, kept only with its counts.
type mFolded struct {
	Source, Name string
	N, ReadOnly  int32
}
