package lakesql

import "strings"

// userIdentityJSON is the structure json_transform reads a record's
// userIdentity with: CloudTrail's own (camel-case) keys. DuckDB casts the
// result into the table's lower-case struct by name.
const userIdentityJSON = `{"type":"VARCHAR","principalId":"VARCHAR","arn":"VARCHAR","accountId":"VARCHAR","accessKeyId":"VARCHAR","userName":"VARCHAR",` +
	`"sessionContext":{"attributes":{"creationDate":"TIMESTAMP","mfaAuthenticated":"VARCHAR"},` +
	`"sessionIssuer":{"type":"VARCHAR","principalId":"VARCHAR","arn":"VARCHAR","accountId":"VARCHAR","userName":"VARCHAR"},` +
	`"webIdFederationData":{"federatedProvider":"VARCHAR","attributes":"MAP(VARCHAR, VARCHAR)"},` +
	`"sourceIdentity":"VARCHAR","ec2RoleDelivery":"VARCHAR","ec2IssuedInVPC":"VARCHAR"},` +
	`"invokedBy":"VARCHAR","identityProvider":"VARCHAR"}`

// jsonMap is the SQL that turns a JSON object member of record j into
// Lake's map<string,string>: string values as they are, anything else
// (numbers, booleans, objects, arrays) as JSON text; null and non-objects
// give NULL.
func jsonMap(member string) string {
	v := "j->'" + member + "'"
	return "CASE WHEN json_type(" + v + ") = 'OBJECT' THEN map_from_entries(list_transform(map_entries(json_transform(" + v +
		`, '"MAP(VARCHAR, JSON)"')), e -> {'key': e.key, 'value': CASE WHEN json_type(e.value) = 'VARCHAR' THEN json_extract_string(e.value, '$') ELSE e.value::VARCHAR END})) END`
}

// columnSQL gives each column's value from the record j (JSON).
var columnSQL = map[string]string{
	"eventversion":                 "j->>'eventVersion'",
	"useridentity":                 "json_transform(j->'userIdentity', '" + userIdentityJSON + "')",
	"eventtime":                    "TRY_CAST(j->>'eventTime' AS TIMESTAMP)",
	"eventsource":                  "j->>'eventSource'",
	"eventname":                    "j->>'eventName'",
	"awsregion":                    "j->>'awsRegion'",
	"sourceipaddress":              "j->>'sourceIPAddress'",
	"useragent":                    "j->>'userAgent'",
	"errorcode":                    "j->>'errorCode'",
	"errormessage":                 "j->>'errorMessage'",
	"requestparameters":            jsonMap("requestParameters"),
	"responseelements":             jsonMap("responseElements"),
	"additionaleventdata":          jsonMap("additionalEventData"),
	"requestid":                    "j->>'requestID'",
	"eventid":                      "j->>'eventID'",
	"readonly":                     "TRY_CAST(j->>'readOnly' AS BOOLEAN)",
	"resources":                    `json_transform(j->'resources', '[{"accountId":"VARCHAR","type":"VARCHAR","ARN":"VARCHAR","ARNPrefix":"VARCHAR"}]')`,
	"eventtype":                    "j->>'eventType'",
	"apiversion":                   "j->>'apiVersion'",
	"managementevent":              "TRY_CAST(j->>'managementEvent' AS BOOLEAN)",
	"recipientaccountid":           "j->>'recipientAccountId'",
	"sharedeventid":                "j->>'sharedEventID'",
	"annotation":                   "j->>'annotation'",
	"vpcendpointid":                "j->>'vpcEndpointId'",
	"serviceeventdetails":          jsonMap("serviceEventDetails"),
	"addendum":                     jsonMap("addendum"),
	"edgedevicedetails":            jsonMap("edgeDeviceDetails"),
	"insightdetails":               jsonMap("insightDetails"),
	"eventcategory":                "coalesce(j->>'eventCategory', 'Management')",
	"tlsdetails":                   `json_transform(j->'tlsDetails', '{"tlsVersion":"VARCHAR","cipherSuite":"VARCHAR","clientProvidedHostHeader":"VARCHAR"}')`,
	"sessioncredentialfromconsole": "j->>'sessionCredentialFromConsole'",
	"eventjson":                    "CAST(j AS VARCHAR)",
	"eventjsonchecksum":            "sha256(CAST(j AS VARCHAR))",
}

// InsertFromJSON is the statement that adds to table the records held,
// one JSON text per row, in column j of table staging.
func InsertFromJSON(table, staging string) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + QuoteIdent(table) + " SELECT ")
	for i, c := range Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(columnSQL[c.Name])
	}
	b.WriteString(" FROM (SELECT CAST(j AS JSON) AS j FROM " + QuoteIdent(staging) + ")")
	return b.String()
}
