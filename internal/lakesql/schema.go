// Package lakesql is CloudTrail Lake's SQL on DuckDB: the table schema of
// an event data store, and the checks and rewrites that turn a query as
// Lake users write it (Trino's dialect, `FROM <event data store ID>`)
// into a DuckDB query over the caller's own stores and nothing else.
package lakesql

import "strings"

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
	{"eventjson", "VARCHAR USING COMPRESSION zstd"},
	{"eventjsonchecksum", "VARCHAR GENERATED ALWAYS AS (sha256(eventjson)) VIRTUAL"},
}

// CreateTable is the DDL of an event data store's table.
func CreateTable(table string) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE IF NOT EXISTS " + QuoteIdent(table) + " (")
	for i, c := range Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.Name + " " + c.Type)
	}
	b.WriteString(")")
	return b.String()
}

// Options are the DuckDB connection options of a Lake database: the
// newest storage format, whose compression (ZSTD for the raw records,
// dictionary and FSST together for other text) keeps a store smaller than
// the gzipped log files its events came from, and whose serialization of
// parsed queries Check reads.
const Options = "?storage_compatibility_version=latest"

// QuoteIdent quotes a DuckDB identifier.
func QuoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
