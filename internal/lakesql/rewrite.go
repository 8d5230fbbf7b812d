package lakesql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// ErrInvalidQuery marks a query the user must change.
var ErrInvalidQuery = errors.New("invalid query statement")

// QueryError is a query refused, with what to tell the user.
type QueryError struct{ Msg string }

func (e *QueryError) Error() string        { return e.Msg }
func (e *QueryError) Is(target error) bool { return target == ErrInvalidQuery }

func invalidf(format string, args ...any) error {
	return &QueryError{Msg: fmt.Sprintf(format, args...)}
}

type tokenKind int

const (
	tkSpace  tokenKind = iota // white space and comments
	tkWord                    // keyword or identifier
	tkQuoted                  // "identifier" (backquotes are turned into this)
	tkString                  // 'literal'
	tkNumber
	tkStore // an event data store ID or ARN
	tkPunct
)

type token struct {
	kind tokenKind
	text string // as written; for tkQuoted and tkStore the bare name
}

var (
	internalTable = regexp.MustCompile(`^eds_[0-9a-f]{32}(_rows)?$`)
	storeRef      = regexp.MustCompile(`^(?:arn:aws[a-z-]*:cloudtrail:[a-z0-9-]+:\d{12}:eventdatastore/)?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})`)
	arnRef        = regexp.MustCompile(`^arn:aws[a-z-]*:cloudtrail:[a-z0-9-]+:\d{12}:eventdatastore/([0-9a-zA-Z-]*)`)
)

// isWordByte says whether c continues a word. Bytes of non-ASCII
// characters do, as in DuckDB's lexer, so that a word holding one is seen
// whole and refused.
func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// FoldName is a name as DuckDB compares names: ASCII letters folded to
// lower case, every other byte as it is. Unicode folding (strings.ToLower)
// would take KELVIN SIGN for k and let a name that DuckDB reads as one
// table pass for another.
func FoldName(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// plainName says whether s is a name a query may give a table or a CTE:
// ASCII letters, digits and underscores, not starting with a digit.
// Anything else (non-ASCII letters, which DuckDB does not fold, and path
// or glob characters, which make a name a file) is refused.
func plainName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// operatorName says whether s is an operator, which DuckDB's tree
// names as a function (+, ~~, ->>).
func operatorName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte("+-*/<>=~!@#%^&|", s[i]) < 0 {
			return false
		}
	}
	return true
}

// quotedNameOK says whether a quoted identifier (an alias, a column) may
// be used: printable ASCII without the characters of paths, globs and
// URLs.
func quotedNameOK(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || strings.IndexByte(`/\:.*?[]{}~`, c) >= 0 {
			return false
		}
	}
	return true
}

// asciiOnly says whether s holds no byte outside ASCII.
func asciiOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// tokenize splits a query into tokens. Store IDs and ARNs, bare or
// quoted, become tkStore tokens.
func tokenize(q string) ([]token, error) {
	var out []token
	for i := 0; i < len(q); {
		c := q[i]
		rest := q[i:]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			j := i + 1
			for j < len(q) && strings.IndexByte(" \t\n\r\f", q[j]) >= 0 {
				j++
			}
			out = append(out, token{tkSpace, " "})
			i = j
		case strings.HasPrefix(rest, "--"):
			// As in DuckDB's lexer, a carriage return ends the comment
			// too.
			j := strings.IndexAny(rest, "\n\r")
			if j < 0 {
				j = len(rest)
			}
			out = append(out, token{tkSpace, " "})
			i += j
		case strings.HasPrefix(rest, "/*"):
			j := strings.Index(rest[2:], "*/")
			if j < 0 {
				return nil, invalidf("The query has an unterminated comment.")
			}
			// DuckDB nests block comments; this tokenizer does not, so
			// the two would disagree on where one ends.
			if strings.Contains(rest[2:2+j], "/*") {
				return nil, invalidf("Nested comments are not supported.")
			}
			out = append(out, token{tkSpace, " "})
			i += j + 4
		case c == '\'':
			j := i + 1
			for {
				k := strings.IndexByte(q[j:], '\'')
				if k < 0 {
					return nil, invalidf("The query has an unterminated string literal.")
				}
				j += k + 1
				if j < len(q) && q[j] == '\'' {
					j++
					continue
				}
				break
			}
			out = append(out, token{tkString, q[i:j]})
			i = j
		case c == '"' || c == '`':
			j := i + 1
			var name strings.Builder
			for {
				k := strings.IndexByte(q[j:], c)
				if k < 0 {
					return nil, invalidf("The query has an unterminated quoted identifier.")
				}
				name.WriteString(q[j : j+k])
				j += k + 1
				if j < len(q) && q[j] == c {
					name.WriteByte(c)
					j++
					continue
				}
				break
			}
			if m := storeRef.FindStringSubmatch(name.String()); m != nil && len(m[0]) == name.Len() {
				out = append(out, token{tkStore, FoldName(m[1])})
			} else if m := arnRef.FindStringSubmatch(name.String()); m != nil && len(m[0]) == name.Len() {
				out = append(out, token{tkStore, FoldName(m[1])})
			} else if !quotedNameOK(name.String()) {
				return nil, invalidf("The quoted identifier %q is not supported: identifiers are ASCII, without path characters.", name.String())
			} else {
				out = append(out, token{tkQuoted, name.String()})
			}
			i = j
		default:
			if m := storeRef.FindStringSubmatch(rest); m != nil && (i+len(m[0]) == len(q) || !isWordByte(q[i+len(m[0])]) && q[i+len(m[0])] != '-') && (i == 0 || !isWordByte(q[i-1])) {
				out = append(out, token{tkStore, FoldName(m[1])})
				i += len(m[0])
				continue
			}
			if m := arnRef.FindStringSubmatch(rest); m != nil && (i == 0 || !isWordByte(q[i-1])) {
				out = append(out, token{tkStore, FoldName(m[1])})
				i += len(m[0])
				continue
			}
			if isWordByte(c) {
				j := i + 1
				for j < len(q) && isWordByte(q[j]) {
					j++
				}
				// DuckDB reads E'\'' as one string where Trino, and
				// this tokenizer, read an open one: refuse it.
				if j-i == 1 && (c == 'e' || c == 'E') && j < len(q) && q[j] == '\'' {
					return nil, invalidf("Escape string literals (E'...') are not supported.")
				}
				// U&'...' and U&"..." spell characters as escapes.
				if j-i == 1 && (c == 'u' || c == 'U') && strings.HasPrefix(q[j:], "&") {
					return nil, invalidf("Unicode escapes (U&) are not supported.")
				}
				if !asciiOnly(q[i:j]) {
					return nil, invalidf("The identifier %q is not supported: identifiers are ASCII.", q[i:j])
				}
				kind := tkWord
				if c >= '0' && c <= '9' {
					kind = tkNumber
					// 1.5, 1e3
					for j < len(q) && (q[j] == '.' || isWordByte(q[j])) {
						j++
					}
				}
				out = append(out, token{kind, q[i:j]})
				i = j
				continue
			}
			// $ starts DuckDB's dollar-quoted strings and parameters,
			// neither of which Lake has.
			if c == '$' {
				return nil, invalidf("The character $ is not supported outside string literals.")
			}
			if c < 0x20 || c == 0x7f {
				return nil, invalidf("The query has a control character outside string literals.")
			}
			// Two-character operators stay together.
			for _, op := range []string{"<>", "!=", "<=", ">=", "||", "::", "->>", "->"} {
				if strings.HasPrefix(rest, op) {
					out = append(out, token{tkPunct, op})
					i += len(op)
					goto next
				}
			}
			out = append(out, token{tkPunct, string(c)})
			i++
		next:
		}
	}
	return out, nil
}

// deniedWords are statement keywords that have no place in a query.
var deniedWords = map[string]bool{
	"copy": true, "attach": true, "detach": true, "pragma": true, "install": true, "load": true,
	"export": true, "import": true, "set": true, "reset": true, "call": true, "create": true,
	"drop": true, "alter": true, "insert": true, "update": true, "delete": true, "truncate": true,
	"vacuum": true, "checkpoint": true, "use": true, "begin": true, "commit": true, "rollback": true,
	"grant": true, "revoke": true, "execute": true, "prepare": true, "deallocate": true, "summarize": true,
	"describe": true, "show": true, "explain": true, "merge": true,
}

// deniedFunction reports functions that reach outside the query's own
// stores: files, the network, the catalog, settings, other databases.
func deniedFunction(name string) bool {
	name = FoldName(name)
	for _, p := range []string{"read_", "parquet_", "duckdb_", "pragma_", "sqlite_", "postgres_", "mysql_", "iceberg_", "delta_", "glob", "sniff_", "json_execute", "json_serialize", "json_deserialize", "query", "getenv", "current_setting", "txid_", "pg_", "has_", "icu_", "which_secret", "enable_", "disable_", "checkpoint", "force_checkpoint", "test_", "repeat_row", "range", "generate_series", "unnest_", "arrow_", "httpfs", "s3_", "load_", "install_", "import_", "export_", "copy_", "stats", "current_database", "current_schema", "current_catalog", "current_user", "session_user", "user", "version", "platform", "extension"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	switch name {
	case "seq_scan", "index_scan", "arrow_scan", "summary", "csv_scanner", "parquet_metadata", "parquet_schema":
		return true
	}
	return false
}

// renames map Trino's function names to the DuckDB functions or the
// macros (see Setup) that do what they do.
var renames = map[string]string{
	"date_add":               "trino_date_add",
	"now":                    "trino_now",
	"from_iso8601_timestamp": "trino_from_iso8601_timestamp",
	"from_iso8601_date":      "trino_from_iso8601_date",
	"to_iso8601":             "trino_to_iso8601",
	"json_extract_scalar":    "trino_json_extract_scalar",
	"json_parse":             "trino_json_parse",
	"json_format":            "trino_json_format",
	"json_array_contains":    "trino_json_array_contains",
	"json_array_get":         "trino_json_array_get",
	"is_json_scalar":         "trino_is_json_scalar",
	"slice":                  "trino_slice",
	"cardinality":            "trino_cardinality",
	"regexp_like":            "regexp_matches",
	"approx_distinct":        "approx_count_distinct",
	"approx_percentile":      "approx_quantile",
	"day_of_week":            "isodow",
	"dow":                    "isodow",
	"day_of_year":            "dayofyear",
	"doy":                    "dayofyear",
	"day_of_month":           "dayofmonth",
	"year_of_week":           "isoyear",
	"yow":                    "isoyear",
	"week_of_year":           "week",
	"from_unixtime":          "to_timestamp",
	"to_unixtime":            "epoch",
	"contains":               "list_contains",
	"array_distinct":         "trino_array_distinct",
	"array_max":              "list_max",
	"array_min":              "list_min",
	"array_join":             "array_to_string",
	"split":                  "string_split",
	"arbitrary":              "any_value",
	"transform":              "list_transform",
	"filter":                 "list_filter",
	"reduce":                 "list_reduce",
}

// macros are the Trino functions DuckDB has no same-shaped function for.
var macros = []string{
	`CREATE OR REPLACE MACRO trino_date_add(unit, n, ts) AS CASE lower(unit)
		WHEN 'millisecond' THEN ts + to_milliseconds(CAST(n AS BIGINT)) WHEN 'second' THEN ts + to_seconds(CAST(n AS BIGINT))
		WHEN 'minute' THEN ts + to_minutes(CAST(n AS BIGINT)) WHEN 'hour' THEN ts + to_hours(CAST(n AS BIGINT))
		WHEN 'day' THEN ts + to_days(CAST(n AS INTEGER)) WHEN 'week' THEN ts + to_weeks(CAST(n AS INTEGER))
		WHEN 'month' THEN ts + to_months(CAST(n AS INTEGER)) WHEN 'quarter' THEN ts + to_months(CAST(3 * n AS INTEGER))
		WHEN 'year' THEN ts + to_years(CAST(n AS INTEGER)) END`,
	// Lake's timestamps are UTC without a zone, as eventtime is: so are
	// now() and from_iso8601_timestamp's, which lets DuckDB compare them
	// with eventtime as they are and skip row groups by it.
	`CREATE OR REPLACE MACRO trino_now() AS CAST(now() AS TIMESTAMP)`,
	`CREATE OR REPLACE MACRO trino_from_iso8601_timestamp(s) AS CAST(CAST(s AS TIMESTAMPTZ) AS TIMESTAMP)`,
	`CREATE OR REPLACE MACRO trino_from_iso8601_date(s) AS CAST(s AS DATE)`,
	`CREATE OR REPLACE MACRO trino_to_iso8601(ts) AS strftime(CAST(ts AS TIMESTAMP), '%Y-%m-%dT%H:%M:%S.%gZ')`,
	`CREATE OR REPLACE MACRO trino_json_extract_scalar(j, p) AS CASE WHEN json_type(json_extract(CAST(j AS JSON), p)) IN ('OBJECT', 'ARRAY') THEN NULL ELSE json_extract_string(CAST(j AS JSON), p) END`,
	// json() also minifies, as Trino's canonical JSON text is.
	`CREATE OR REPLACE MACRO trino_json_parse(s) AS json(s)`,
	`CREATE OR REPLACE MACRO trino_json_format(j) AS CAST(j AS VARCHAR)`,
	`CREATE OR REPLACE MACRO trino_json_array_contains(j, v) AS list_contains(list_transform(CAST(json_extract(CAST(j AS JSON), '$[*]') AS VARCHAR[]), x -> x), CAST(to_json(v) AS VARCHAR))`,
	`CREATE OR REPLACE MACRO trino_json_array_get(j, i) AS json_extract(CAST(j AS JSON), '$[' || CAST(i AS VARCHAR) || ']')`,
	`CREATE OR REPLACE MACRO trino_is_json_scalar(j) AS json_type(CAST(j AS JSON)) NOT IN ('OBJECT', 'ARRAY')`,
	`CREATE OR REPLACE MACRO trino_slice(a, s, n) AS list_slice(a, s, s + n - 1)`,
	// list_distinct does not keep the first occurrences' order; Trino does.
	`CREATE OR REPLACE MACRO trino_array_distinct(a) AS
		list_filter(a, lambda x, i: NOT coalesce(list_contains(list_slice(a, 1, i - 1), x), false))`,
	// DuckDB's cardinality takes maps only, len lists only; JSON counts both.
	`CREATE OR REPLACE MACRO trino_cardinality(x) AS CASE WHEN json_type(to_json(x)) = 'ARRAY'
		THEN json_array_length(to_json(x)) ELSE len(json_keys(to_json(x))) END`,
}

// Setup makes the macros the rewritten queries call. It is run once per
// database, before its configuration is locked.
func Setup(ctx context.Context, db *sql.DB) error {
	for _, m := range macros {
		if _, err := db.ExecContext(ctx, m); err != nil {
			return fmt.Errorf("lake macros: %w", err)
		}
	}
	return nil
}

// Rewrite turns a Lake query into DuckDB SQL: store IDs and ARNs become
// their tables (stores maps ID to table; any other ID is refused),
// Trino's functions DuckDB's, backquotes double quotes. Statements that
// are not a single query, and functions that reach outside the stores,
// are refused.
func Rewrite(query string, stores map[string]string) (string, error) {
	toks, err := tokenize(query)
	if err != nil {
		return "", err
	}
	// Drop trailing semicolons; any other one separates statements.
	sig := significant(toks)
	for len(sig) > 0 && toks[sig[len(sig)-1]].text == ";" {
		toks = toks[:sig[len(sig)-1]]
		sig = sig[:len(sig)-1]
	}
	if len(sig) == 0 {
		return "", invalidf("The query statement is empty.")
	}
	first := FoldName(toks[sig[0]].text)
	if toks[sig[0]].kind != tkWord && toks[sig[0]].text != "(" || toks[sig[0]].kind == tkWord && first != "select" && first != "with" {
		return "", invalidf("Only SELECT statements are supported: the query begins with %q.", toks[sig[0]].text)
	}
	internal := map[string]bool{}
	for _, table := range stores {
		internal[FoldName(table)] = true
	}
	for k, i := range sig {
		t := toks[i]
		if (t.kind == tkWord || t.kind == tkQuoted) && (internal[FoldName(t.text)] || internalTable.MatchString(FoldName(t.text))) {
			// Stores are named by their IDs, not by how cairn keeps them.
			return "", invalidf("%s is not an event data store ID.", t.text)
		}
		switch t.kind {
		case tkQuoted:
			if k+1 < len(sig) && toks[sig[k+1]].text == "(" && deniedFunction(t.text) {
				return "", invalidf("The function %s is not supported.", t.text)
			}
		case tkPunct:
			if t.text == ";" {
				return "", invalidf("The query statement must be a single SELECT statement.")
			}
		case tkWord:
			w := FoldName(t.text)
			if deniedWords[w] {
				return "", invalidf("%s is not allowed: only SELECT statements are supported.", strings.ToUpper(w))
			}
			if k+1 < len(sig) && toks[sig[k+1]].text == "(" && deniedFunction(w) {
				return "", invalidf("The function %s is not supported.", w)
			}
		case tkStore:
			if _, ok := stores[t.text]; !ok {
				return "", invalidf("Event data store %s does not exist or does not belong to this account and Region.", t.text)
			}
		}
	}
	toks, err = rewriteCalls(toks)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, t := range toks {
		switch t.kind {
		case tkQuoted:
			b.WriteString(QuoteIdent(t.text))
		case tkStore:
			b.WriteString(QuoteIdent(stores[t.text]))
		default:
			b.WriteString(t.text)
		}
	}
	return b.String(), nil
}

// significant returns the indexes of the tokens that are not space.
func significant(toks []token) []int {
	var out []int
	for i, t := range toks {
		if t.kind != tkSpace {
			out = append(out, i)
		}
	}
	return out
}

// rewriteCalls renames Trino functions in call position and turns
// element_at(a, b) into (a)[b], which DuckDB reads as a map's value or a
// list's element.
func rewriteCalls(toks []token) ([]token, error) {
	var out []token
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if t.kind != tkWord {
			out = append(out, t)
			continue
		}
		j := i + 1
		for j < len(toks) && toks[j].kind == tkSpace {
			j++
		}
		if j >= len(toks) || toks[j].text != "(" || (len(out) > 0 && lastSig(out).text == ".") {
			out = append(out, t)
			continue
		}
		name := FoldName(t.text)
		if name == "element_at" {
			end, args, err := callArgs(toks, j)
			if err != nil {
				return nil, err
			}
			if len(args) != 2 {
				return nil, invalidf("element_at takes two arguments.")
			}
			a, err := rewriteCalls(args[0])
			if err != nil {
				return nil, err
			}
			k, err := rewriteCalls(args[1])
			if err != nil {
				return nil, err
			}
			out = append(out, token{tkPunct, "("})
			out = append(out, a...)
			out = append(out, token{tkPunct, ")"}, token{tkPunct, "["})
			out = append(out, k...)
			out = append(out, token{tkPunct, "]"})
			i = end
			continue
		}
		if name == "from_iso8601_timestamp" {
			// Athena's tables hold eventTime as text, so its tutorials
			// write from_iso8601_timestamp(eventtime); Lake's column is a
			// timestamp already, and kept bare DuckDB can skip row groups
			// by it.
			end, args, err := callArgs(toks, j)
			if err != nil {
				return nil, err
			}
			if len(args) == 1 && isEventTime(args[0]) {
				out = append(out, token{tkPunct, "("})
				out = append(out, args[0]...)
				out = append(out, token{tkPunct, ")"})
				i = end
				continue
			}
		}
		if name == "date_format" || name == "format_datetime" {
			end, args, err := callArgs(toks, j)
			if err != nil {
				return nil, err
			}
			sig := significant(args[len(args)-1])
			if len(args) != 2 || len(sig) != 1 || args[1][sig[0]].kind != tkString {
				return nil, invalidf("%s takes a timestamp and a format string literal.", name)
			}
			a, err := rewriteCalls(args[0])
			if err != nil {
				return nil, err
			}
			f := args[1][sig[0]].text
			if name == "date_format" {
				f = mysqlFormat(f)
			} else {
				f = jodaFormat(f)
			}
			out = append(out, token{tkWord, "strftime"}, token{tkPunct, "("}, token{tkWord, "CAST"}, token{tkPunct, "("})
			out = append(out, a...)
			out = append(out, token{tkSpace, " "}, token{tkWord, "AS"}, token{tkSpace, " "}, token{tkWord, "TIMESTAMP"}, token{tkPunct, ")"},
				token{tkPunct, ","}, token{tkString, f}, token{tkPunct, ")"})
			i = end
			continue
		}
		if r, ok := renames[name]; ok {
			t = token{tkWord, r}
		}
		out = append(out, t)
	}
	return out, nil
}

// isEventTime says whether arg is the eventtime column, bare or
// qualified by a table's name or alias.
func isEventTime(arg []token) bool {
	sig := significant(arg)
	if len(sig) != 1 && len(sig) != 3 {
		return false
	}
	last := arg[sig[len(sig)-1]]
	if last.kind != tkWord && last.kind != tkQuoted || FoldName(last.text) != "eventtime" {
		return false
	}
	return len(sig) == 1 || arg[sig[1]].kind == tkPunct && arg[sig[1]].text == "." && (arg[sig[0]].kind == tkWord || arg[sig[0]].kind == tkQuoted)
}

// mysqlFormat turns the MySQL specifiers of Trino's date_format (a quoted
// literal) into strftime's.
func mysqlFormat(lit string) string {
	r := strings.NewReplacer("%M", "%B", "%i", "%M", "%s", "%S", "%h", "%I", "%W", "%A", "%e", "%-d", "%c", "%-m", "%T", "%H:%M:%S", "%r", "%I:%M:%S %p", "%v", "%V", "%x", "%G", "%k", "%-H", "%l", "%-I")
	return r.Replace(lit)
}

// jodaFormat turns the common Joda patterns of Trino's format_datetime
// into strftime's.
func jodaFormat(lit string) string {
	r := strings.NewReplacer("yyyy", "%Y", "yy", "%y", "MMMM", "%B", "MMM", "%b", "MM", "%m", "dd", "%d", "HH", "%H", "hh", "%I", "mm", "%M", "ss", "%S", "SSS", "%g", "EEEE", "%A", "EEE", "%a", "a", "%p")
	return r.Replace(lit)
}

func lastSig(toks []token) token {
	for i := len(toks) - 1; i >= 0; i-- {
		if toks[i].kind != tkSpace {
			return toks[i]
		}
	}
	return token{}
}

// callArgs splits the arguments of the call whose "(" is at open, and
// returns the index of its ")".
func callArgs(toks []token, open int) (int, [][]token, error) {
	depth := 0
	var args [][]token
	var cur []token
	for i := open; i < len(toks); i++ {
		t := toks[i]
		if t.kind == tkPunct {
			switch t.text {
			case "(", "[":
				depth++
				if depth == 1 {
					continue
				}
			case ")", "]":
				depth--
				if depth == 0 {
					args = append(args, cur)
					return i, args, nil
				}
			case ",":
				if depth == 1 {
					args = append(args, cur)
					cur = nil
					continue
				}
			}
		}
		cur = append(cur, t)
	}
	return 0, nil, invalidf("The query has an unbalanced parenthesis.")
}
