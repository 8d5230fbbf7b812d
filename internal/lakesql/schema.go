// Package lakesql is CloudTrail Lake's SQL on DuckDB: the table schema of
// an event data store, and the checks and rewrites that turn a query as
// Lake users write it (Trino's dialect, `FROM <event data store ID>`)
// into a DuckDB query over the caller's own stores and nothing else.
package lakesql

import (
	"bytes"
	"strconv"
	"strings"
)

// userIdentityType is the Lake schema's useridentity struct.
const userIdentityType = `STRUCT(
	"type" VARCHAR, principalid VARCHAR, arn VARCHAR, accountid VARCHAR, accesskeyid VARCHAR, username VARCHAR,
	sessioncontext STRUCT(
		attributes STRUCT(creationdate TIMESTAMP, mfaauthenticated VARCHAR),
		sessionissuer STRUCT("type" VARCHAR, principalid VARCHAR, arn VARCHAR, accountid VARCHAR, username VARCHAR),
		webidfederationdata STRUCT(federatedprovider VARCHAR, attributes MAP(VARCHAR, VARCHAR)),
		sourceidentity VARCHAR, ec2roledelivery VARCHAR, ec2issuedinvpc VARCHAR),
	invokedby VARCHAR, identityprovider VARCHAR)`

// Columns are an event data store's columns in order, with their DuckDB
// types: CloudTrail Lake's schema for CloudTrail events. JSON objects
// Lake shows as map<string,string> (requestparameters and the like) keep
// their top-level keys; nested values are JSON text.
var Columns = []struct{ Name, Type string }{
	{"eventversion", "VARCHAR"},
	{"useridentity", userIdentityType},
	{"eventtime", "TIMESTAMP"},
	{"eventsource", "VARCHAR"},
	{"eventname", "VARCHAR"},
	{"awsregion", "VARCHAR"},
	{"sourceipaddress", "VARCHAR"},
	{"useragent", "VARCHAR"},
	{"errorcode", "VARCHAR"},
	{"errormessage", "VARCHAR"},
	{"requestparameters", "MAP(VARCHAR, VARCHAR)"},
	{"responseelements", "MAP(VARCHAR, VARCHAR)"},
	{"additionaleventdata", "MAP(VARCHAR, VARCHAR)"},
	{"requestid", "VARCHAR"},
	{"eventid", "VARCHAR"},
	{"readonly", "BOOLEAN"},
	{"resources", "STRUCT(accountid VARCHAR, \"type\" VARCHAR, arn VARCHAR, arnprefix VARCHAR)[]"},
	{"eventtype", "VARCHAR"},
	{"apiversion", "VARCHAR"},
	{"managementevent", "BOOLEAN"},
	{"recipientaccountid", "VARCHAR"},
	{"sharedeventid", "VARCHAR"},
	{"annotation", "VARCHAR"},
	{"vpcendpointid", "VARCHAR"},
	{"serviceeventdetails", "MAP(VARCHAR, VARCHAR)"},
	{"addendum", "MAP(VARCHAR, VARCHAR)"},
	{"edgedevicedetails", "MAP(VARCHAR, VARCHAR)"},
	{"insightdetails", "MAP(VARCHAR, VARCHAR)"},
	{"eventcategory", "VARCHAR"},
	{"tlsdetails", "STRUCT(tlsversion VARCHAR, ciphersuite VARCHAR, clientprovidedhostheader VARCHAR)"},
	{"sessioncredentialfromconsole", "VARCHAR"},
	{"eventjson", "VARCHAR"},
	{"eventjsonchecksum", "VARCHAR"},
}

// RowsTable is the table that holds the rows of the store whose view is
// table.
func RowsTable(table string) string { return table + "_rows" }

// The raw record of each event is kept byte for byte, but without the
// values that are in columns of their own anyway and make up most of
// what a record cannot share with its neighbours: its eventID, requestID
// and eventTime. Each is cut out as `"name":"value"` (every occurrence of
// it) and a marker left in its place; the view puts it back from the
// column. A marker is a control character and a letter, which JSON text
// cannot hold unescaped, so putting the values back gives the record
// exactly. A value written any other way (escaped, spaced, a time in
// another form), or one that differs from its column, is not cut out.
var splices = []struct {
	marker string // as SQL
	key    string
	column string // the value, from the store's columns
	check  string // the value, from the parsed record r, when it may be cut
}{
	{"chr(1) || 'E'", "eventID", "eventid", "r.eventID"},
	{"chr(1) || 'R'", "requestID", "requestid", "r.requestID"},
	{"chr(1) || 'T'", "eventTime", "strftime(eventtime, '%Y-%m-%dT%H:%M:%SZ')",
		"CASE WHEN strftime(TRY_CAST(r.eventTime AS TIMESTAMP), '%Y-%m-%dT%H:%M:%SZ') = r.eventTime THEN r.eventTime END"},
}

// spliceMarkers are the markers as Go sees them, in the order of splices.
var spliceMarkers = [...]string{"\x01E", "\x01R", "\x01T"}

// Splice cuts a record's eventID, requestID and eventTime out of its
// text, as Lake stores it, and returns the rest and the values it cut
// (nil where it cut nothing). The values are checked against the parsed
// record when rows are added; a record whose values differ is stored
// whole.
func Splice(record []byte) (rest []byte, cut [3]any) {
	rest = record
	for i, sp := range splices {
		key := `"` + sp.key + `":"`
		at := bytes.Index(rest, []byte(key))
		if at < 0 {
			continue
		}
		start := at + len(key)
		end := bytes.IndexByte(rest[start:], '"')
		if end < 0 || bytes.IndexByte(rest[start:start+end], '\\') >= 0 {
			continue
		}
		v := rest[start : start+end]
		lit := rest[at : start+end+1]
		var b []byte
		if !bytes.Contains(rest[start+end:], lit) {
			// The usual case: the value is there once.
			b = make([]byte, 0, len(rest)-len(lit)+len(spliceMarkers[i]))
			b = append(append(append(b, rest[:at]...), spliceMarkers[i]...), rest[start+end+1:]...)
		} else {
			b = bytes.ReplaceAll(rest, lit, []byte(spliceMarkers[i]))
		}
		cut[i] = string(v)
		rest = b
	}
	return rest, cut
}

// spliced is the SQL of what a row stores as its raw record: the text
// Splice left when every value it cut is the record's own, else the
// whole record.
func spliced() string {
	var same []string
	for i, sp := range splices {
		c := "c" + strconv.Itoa(i)
		same = append(same, "("+c+" IS NULL OR "+c+" = "+sp.check+")")
	}
	return "CASE WHEN " + strings.Join(same, " AND ") + " THEN rest ELSE j END"
}

// spliceIn puts the cut values back into the stored text rawColumn.
func spliceIn(rawColumn string) string {
	for i := len(splices) - 1; i >= 0; i-- {
		sp := splices[i]
		rawColumn = "replace(" + rawColumn + ", " + sp.marker + ", coalesce('\"" + sp.key + "\":\"' || " + sp.column + " || '\"', " + sp.marker + "))"
	}
	return rawColumn
}

// StagingColumns are the columns of the table rows are staged in: the
// record, and what Splice made of it.
const StagingColumns = "j VARCHAR, rest VARCHAR, c0 VARCHAR, c1 VARCHAR, c2 VARCHAR"

// CreateTable is the DDL of an event data store: the table of its rows,
// with the raw records ZSTD-compressed, and the view queries read, with
// Lake's columns.
func CreateTable(table string) string {
	var view []string
	for _, c := range Columns {
		switch c.Name {
		case "eventjson":
			view = append(view, spliceIn("eventjson")+" AS eventjson")
		case "eventjsonchecksum":
		default:
			view = append(view, c.Name)
		}
	}
	return CreateRows(table) + "CREATE VIEW IF NOT EXISTS " + QuoteIdent(table) + " AS SELECT *, sha256(eventjson) AS eventjsonchecksum FROM (SELECT " +
		strings.Join(view, ", ") + " FROM " + QuoteIdent(RowsTable(table)) + ")"
}

// CreateRows is the DDL of a store's table of rows: Lake's columns for
// CloudTrail events, the raw record ZSTD-compressed.
func CreateRows(table string) string {
	var cols []string
	for _, c := range Columns {
		switch c.Name {
		case "eventjson":
			cols = append(cols, "eventjson VARCHAR USING COMPRESSION zstd")
		case "eventjsonchecksum":
		default:
			cols = append(cols, c.Name+" "+c.Type)
		}
	}
	return "CREATE TABLE IF NOT EXISTS " + QuoteIdent(RowsTable(table)) + " (" + strings.Join(cols, ", ") + "); "
}

// Options are the DuckDB connection options of a Lake database: the
// newest storage format, whose compression (ZSTD for the raw records,
// dictionary and FSST together for other text) keeps a store small, and
// whose serialization of parsed queries Check reads.
const Options = "?storage_compatibility_version=latest"

// QuoteIdent quotes a DuckDB identifier.
func QuoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
