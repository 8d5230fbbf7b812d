package event

import (
	"bytes"

	"encoding/json"
	"fmt"
	"github.com/valyala/fastjson"
)

// Record is a CloudTrail record with every top-level field up to eventVersion
// 1.11. Free-form members (requestParameters and the like) stay raw JSON: cairn
// never rewrites what a producer sent, it only reads from it.
type Record struct {
	EventVersion                 string           `json:"eventVersion,omitempty"`
	UserIdentity                 *UserIdentity    `json:"userIdentity,omitempty"`
	EventTime                    string           `json:"eventTime,omitempty"`
	EventSource                  string           `json:"eventSource,omitempty"`
	EventName                    string           `json:"eventName,omitempty"`
	AWSRegion                    string           `json:"awsRegion,omitempty"`
	SourceIPAddress              string           `json:"sourceIPAddress,omitempty"`
	UserAgent                    string           `json:"userAgent,omitempty"`
	ErrorCode                    string           `json:"errorCode,omitempty"`
	ErrorMessage                 string           `json:"errorMessage,omitempty"`
	RequestParameters            json.RawMessage  `json:"requestParameters,omitempty"`
	ResponseElements             json.RawMessage  `json:"responseElements,omitempty"`
	AdditionalEventData          json.RawMessage  `json:"additionalEventData,omitempty"`
	RequestID                    string           `json:"requestID,omitempty"`
	EventID                      string           `json:"eventID,omitempty"`
	ReadOnly                     *FlexBool        `json:"readOnly,omitempty"`
	Resources                    []RecordResource `json:"resources,omitempty"`
	EventType                    string           `json:"eventType,omitempty"`
	APIVersion                   string           `json:"apiVersion,omitempty"`
	ManagementEvent              *FlexBool        `json:"managementEvent,omitempty"`
	RecipientAccountID           string           `json:"recipientAccountId,omitempty"`
	ServiceEventDetails          json.RawMessage  `json:"serviceEventDetails,omitempty"`
	SharedEventID                string           `json:"sharedEventID,omitempty"`
	VPCEndpointID                string           `json:"vpcEndpointId,omitempty"`
	VPCEndpointAccountID         string           `json:"vpcEndpointAccountId,omitempty"`
	EventCategory                string           `json:"eventCategory,omitempty"`
	Addendum                     *Addendum        `json:"addendum,omitempty"`
	SessionCredentialFromConsole string           `json:"sessionCredentialFromConsole,omitempty"`
	EdgeDeviceDetails            json.RawMessage  `json:"edgeDeviceDetails,omitempty"`
	TLSDetails                   *TLSDetails      `json:"tlsDetails,omitempty"`
	InsightDetails               json.RawMessage  `json:"insightDetails,omitempty"`
	EventContext                 json.RawMessage  `json:"eventContext,omitempty"`
	Annotation                   string           `json:"annotation,omitempty"`

	// Timestamp is Logstash's "@timestamp", read only as a stand-in for a
	// missing eventTime in records that passed through a log shipper.
	Timestamp string `json:"@timestamp,omitempty"`

	// present says which single members the record has, null or empty
	// ones included.
	present members
	// requestValue and responseValue are requestParameters and
	// responseElements as Parse found them, already parsed; when set,
	// LookupResources reads them instead of the raw members.
	requestValue, responseValue *fastjson.Value
}

// UserIdentity is the record's userIdentity element.
type UserIdentity struct {
	Type              string          `json:"type,omitempty"`
	PrincipalID       string          `json:"principalId,omitempty"`
	ARN               string          `json:"arn,omitempty"`
	AccountID         string          `json:"accountId,omitempty"`
	AccessKeyID       string          `json:"accessKeyId,omitempty"`
	UserName          string          `json:"userName,omitempty"`
	SessionContext    *SessionContext `json:"sessionContext,omitempty"`
	InvokedBy         string          `json:"invokedBy,omitempty"`
	IdentityProvider  string          `json:"identityProvider,omitempty"`
	CredentialID      string          `json:"credentialId,omitempty"`
	InvokedByDelegate json.RawMessage `json:"invokedByDelegate,omitempty"`
	OnBehalfOf        json.RawMessage `json:"onBehalfOf,omitempty"`
	InScopeOf         json.RawMessage `json:"inScopeOf,omitempty"`

	// dupAccount marks an accountId given twice, which Parse refuses.
	dupAccount bool
}

// SessionContext is userIdentity.sessionContext.
type SessionContext struct {
	SessionIssuer       *SessionIssuer  `json:"sessionIssuer,omitempty"`
	WebIDFederationData json.RawMessage `json:"webIdFederationData,omitempty"`
	Attributes          *SessionAttrs   `json:"attributes,omitempty"`
	SourceIdentity      string          `json:"sourceIdentity,omitempty"`
	EC2RoleDelivery     string          `json:"ec2RoleDelivery,omitempty"`
	AssumedRoot         string          `json:"assumedRoot,omitempty"`
}

// SessionIssuer is userIdentity.sessionContext.sessionIssuer.
type SessionIssuer struct {
	Type        string `json:"type,omitempty"`
	PrincipalID string `json:"principalId,omitempty"`
	ARN         string `json:"arn,omitempty"`
	AccountID   string `json:"accountId,omitempty"`
	UserName    string `json:"userName,omitempty"`
}

// SessionAttrs is userIdentity.sessionContext.attributes.
type SessionAttrs struct {
	CreationDate     string `json:"creationDate,omitempty"`
	MFAAuthenticated string `json:"mfaAuthenticated,omitempty"`
}

// RecordResource is one element of the record's resources list.
type RecordResource struct {
	ARN       string `json:"ARN,omitempty"`
	ARNPrefix string `json:"ARNPrefix,omitempty"`
	AccountID string `json:"accountId,omitempty"`
	Type      string `json:"type,omitempty"`
}

// Addendum is the record's addendum element (eventVersion 1.08).
type Addendum struct {
	Reason            string          `json:"reason,omitempty"`
	UpdatedFields     json.RawMessage `json:"updatedFields,omitempty"`
	OriginalRequestID string          `json:"originalRequestID,omitempty"`
	OriginalEventID   string          `json:"originalEventID,omitempty"`
}

// TLSDetails is the record's tlsDetails element (eventVersion 1.08).
type TLSDetails struct {
	TLSVersion               string `json:"tlsVersion,omitempty"`
	CipherSuite              string `json:"cipherSuite,omitempty"`
	ClientProvidedHostHeader string `json:"clientProvidedHostHeader,omitempty"`
	KeyExchange              string `json:"keyExchange,omitempty"`
}

// FlexBool is a boolean that also accepts the strings "true" and "false",
// which log shippers sometimes leave behind.
type FlexBool bool

// UnmarshalJSON implements json.Unmarshaler.
func (b *FlexBool) UnmarshalJSON(p []byte) error {
	switch string(bytes.Trim(p, `"`)) {
	case "true", "True", "TRUE":
		*b = true
	case "false", "False", "FALSE":
		*b = false
	default:
		return fmt.Errorf("not a boolean: %s", p)
	}
	return nil
}
