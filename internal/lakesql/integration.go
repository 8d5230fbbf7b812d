package lakesql

import "strings"

// IntegrationColumns are the columns of a store of events from outside
// AWS (eventCategory ActivityAuditLog, put through a channel), as Lake
// shows them: CloudTrail's envelope, and the application's event in
// eventdata.
var IntegrationColumns = []string{
	"eventversion", "eventcategory", "eventtype", "eventid", "eventtime", "awsregion", "recipientaccountid",
	"addendum", "metadata", "eventdata", "eventjson", "eventjsonchecksum",
}

// textMap turns expr, a MAP(VARCHAR, JSON), into Lake's map<string,string>:
// string values as they are, anything else as JSON text.
func textMap(expr string) string {
	return "map_from_entries(list_transform(map_entries(" + expr + `), e -> {'key': e.key, 'value': CASE WHEN json_type(e.value) = 'VARCHAR' THEN json_extract_string(e.value, '$') ELSE e.value::VARCHAR END}))`
}

const eventDataShape = `{"version":"VARCHAR","userIdentity":{"type":"VARCHAR","principalId":"VARCHAR","details":"MAP(VARCHAR, JSON)"},` +
	`"userAgent":"VARCHAR","eventSource":"VARCHAR","eventName":"VARCHAR","eventTime":"VARCHAR","UID":"VARCHAR",` +
	`"requestParameters":"MAP(VARCHAR, JSON)","responseElements":"MAP(VARCHAR, JSON)","errorCode":"VARCHAR","errorMessage":"VARCHAR",` +
	`"sourceIPAddress":"VARCHAR","recipientAccountId":"VARCHAR","additionalEventData":"MAP(VARCHAR, JSON)"}`

// CreateIntegrationTable is the DDL of a store of events from outside
// AWS: the same table of rows as any store (the envelope's members fill
// their columns, the raw record holds the rest), and a view with Lake's
// integration schema, read from the raw record.
func CreateIntegrationTable(table string) string {
	ed := "json_transform(j->'eventData', '" + eventDataShape + "')"
	eventData := "CASE WHEN ed IS NOT NULL THEN struct_pack(version := ed.version, " +
		"useridentity := struct_pack(type := ed.userIdentity.type, principalid := ed.userIdentity.principalId, details := " + textMap("ed.userIdentity.details") + "), " +
		"useragent := ed.userAgent, eventsource := ed.eventSource, eventname := ed.eventName, eventtime := ed.eventTime, uid := ed.UID, " +
		"requestparameters := " + textMap("ed.requestParameters") + ", responseelements := " + textMap("ed.responseElements") + ", " +
		"errorcode := ed.errorCode, errormessage := ed.errorMessage, sourceipaddress := ed.sourceIPAddress, " +
		"recipientaccountid := ed.recipientAccountId, additionaleventdata := " + textMap("ed.additionalEventData") + ") END"
	cols := []string{
		"eventversion", "eventcategory", "eventtype", "eventid", "eventtime", "awsregion", "recipientaccountid",
		`json_transform(j->'addendum', '{"reason":"VARCHAR","updatedFields":"VARCHAR","originalUID":"VARCHAR","originalEventID":"VARCHAR"}') AS addendum`,
		`json_transform(j->'metadata', '{"ingestionTime":"VARCHAR","channelARN":"VARCHAR"}') AS metadata`,
		eventData + " AS eventdata",
		"j AS eventjson", "sha256(j) AS eventjsonchecksum",
	}
	return CreateRows(table) + "CREATE VIEW IF NOT EXISTS " + QuoteIdent(table) + " AS SELECT " + strings.Join(cols, ", ") +
		" FROM (SELECT *, " + ed + " AS ed FROM (SELECT *, " + spliceIn("eventjson") + " AS j FROM " + QuoteIdent(RowsTable(table)) + "))"
}
