package lakesql

import "strings"

// recordShape is the structure json_transform reads a CloudTrail record
// with, in one pass: CloudTrail's own (camel-case) keys. Members that
// are objects Lake shows as map<string,string> are read as maps of JSON
// values; scalars whose JSON type varies between records (readOnly is a
// boolean or a string) are read as text and cast afterwards.
const recordShape = `{"eventVersion":"VARCHAR",` +
	`"userIdentity":{"type":"VARCHAR","principalId":"VARCHAR","arn":"VARCHAR","accountId":"VARCHAR","accessKeyId":"VARCHAR","userName":"VARCHAR",` +
	`"sessionContext":{"attributes":{"creationDate":"TIMESTAMP","mfaAuthenticated":"VARCHAR"},` +
	`"sessionIssuer":{"type":"VARCHAR","principalId":"VARCHAR","arn":"VARCHAR","accountId":"VARCHAR","userName":"VARCHAR"},` +
	`"webIdFederationData":{"federatedProvider":"VARCHAR","attributes":"MAP(VARCHAR, VARCHAR)"},` +
	`"sourceIdentity":"VARCHAR","ec2RoleDelivery":"VARCHAR","ec2IssuedInVPC":"VARCHAR"},` +
	`"invokedBy":"VARCHAR","identityProvider":"VARCHAR"},` +
	`"eventTime":"VARCHAR","eventSource":"VARCHAR","eventName":"VARCHAR","awsRegion":"VARCHAR","sourceIPAddress":"VARCHAR",` +
	`"userAgent":"VARCHAR","errorCode":"VARCHAR","errorMessage":"VARCHAR",` +
	`"requestParameters":"MAP(VARCHAR, JSON)","responseElements":"MAP(VARCHAR, JSON)","additionalEventData":"MAP(VARCHAR, JSON)",` +
	`"requestID":"VARCHAR","eventID":"VARCHAR","readOnly":"VARCHAR",` +
	`"resources":[{"accountId":"VARCHAR","type":"VARCHAR","ARN":"VARCHAR","ARNPrefix":"VARCHAR"}],` +
	`"eventType":"VARCHAR","apiVersion":"VARCHAR","managementEvent":"VARCHAR","recipientAccountId":"VARCHAR",` +
	`"sharedEventID":"VARCHAR","annotation":"VARCHAR","vpcEndpointId":"VARCHAR",` +
	`"serviceEventDetails":"MAP(VARCHAR, JSON)","addendum":"MAP(VARCHAR, JSON)","edgeDeviceDetails":"MAP(VARCHAR, JSON)","insightDetails":"MAP(VARCHAR, JSON)",` +
	`"eventCategory":"VARCHAR",` +
	`"tlsDetails":{"tlsVersion":"VARCHAR","cipherSuite":"VARCHAR","clientProvidedHostHeader":"VARCHAR"},` +
	`"sessionCredentialFromConsole":"VARCHAR"}`

// jsonMap is the SQL that turns member of the transformed record r (a
// JSON value) into Lake's map<string,string>: string values as they are,
// anything else (numbers, booleans, objects, arrays) as JSON text; null
// and non-objects give NULL.
func jsonMap(member string) string {
	return "map_from_entries(list_transform(map_entries(r." + member + `), e -> {'key': e.key, 'value': CASE WHEN json_type(e.value) = 'VARCHAR' THEN json_extract_string(e.value, '$') ELSE e.value::VARCHAR END}))`
}

// columnSQL gives each column's value from the transformed record r and
// the record's text j.
var columnSQL = map[string]string{
	"eventversion":                 "r.eventVersion",
	"useridentity":                 "r.userIdentity",
	"eventtime":                    "TRY_CAST(r.eventTime AS TIMESTAMP)",
	"eventsource":                  "r.eventSource",
	"eventname":                    "r.eventName",
	"awsregion":                    "r.awsRegion",
	"sourceipaddress":              "r.sourceIPAddress",
	"useragent":                    "r.userAgent",
	"errorcode":                    "r.errorCode",
	"errormessage":                 "r.errorMessage",
	"requestparameters":            jsonMap("requestParameters"),
	"responseelements":             jsonMap("responseElements"),
	"additionaleventdata":          jsonMap("additionalEventData"),
	"requestid":                    "r.requestID",
	"eventid":                      "r.eventID",
	"readonly":                     "TRY_CAST(r.readOnly AS BOOLEAN)",
	"resources":                    "r.resources",
	"eventtype":                    "r.eventType",
	"apiversion":                   "r.apiVersion",
	"managementevent":              "TRY_CAST(r.managementEvent AS BOOLEAN)",
	"recipientaccountid":           "r.recipientAccountId",
	"sharedeventid":                "r.sharedEventID",
	"annotation":                   "r.annotation",
	"vpcendpointid":                "r.vpcEndpointId",
	"serviceeventdetails":          jsonMap("serviceEventDetails"),
	"addendum":                     jsonMap("addendum"),
	"edgedevicedetails":            jsonMap("edgeDeviceDetails"),
	"insightdetails":               jsonMap("insightDetails"),
	"eventcategory":                "coalesce(r.eventCategory, 'Management')",
	"tlsdetails":                   "r.tlsDetails",
	"sessioncredentialfromconsole": "r.sessionCredentialFromConsole",
	"eventjson":                    spliced(),
}

// InsertFromJSON is the statement that adds to table the records held,
// one JSON text per row, in column j of table staging (StagingColumns). Each record is
// parsed once, into a struct of every member the columns need. The rows
// are sorted by source, name and time, which puts like records together
// for compression; time ranges stay those of the batch.
func InsertFromJSON(table, staging string) string {
	var cols, vals []string
	for _, c := range Columns {
		if v := columnSQL[c.Name]; v != "" {
			cols = append(cols, c.Name)
			vals = append(vals, v)
		}
	}
	return "INSERT INTO " + QuoteIdent(RowsTable(table)) + " (" + strings.Join(cols, ", ") + ") SELECT " + strings.Join(vals, ", ") +
		" FROM (SELECT *, json_transform(j, '" + recordShape + "') AS r FROM " + QuoteIdent(staging) + ") ORDER BY r.eventSource, r.eventName, r.eventTime"
}

// ExportFromJSON is the query an export writes: a store's columns (all
// but eventjsonchecksum), in order, and the day of eventtime as "date",
// made from CloudTrail records held one JSON text a row in column j of
// source (a table, or a table function's call) as InsertFromJSON makes
// them, eventjson being the record itself.
func ExportFromJSON(source string) string {
	var vals []string
	for _, c := range Columns {
		switch c.Name {
		case "eventjsonchecksum":
		case "eventjson":
			vals = append(vals, "j AS eventjson")
		default:
			vals = append(vals, columnSQL[c.Name]+" AS "+c.Name)
		}
	}
	return "SELECT " + strings.Join(vals, ", ") + ", strftime(" + columnSQL["eventtime"] + `, '%Y-%m-%d') AS "date"` +
		" FROM (SELECT j, json_transform(j, '" + recordShape + "') AS r FROM " + source + ")"
}
