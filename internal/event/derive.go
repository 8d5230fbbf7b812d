package event

import (
	"encoding/json"
	"github.com/valyala/fastjson"
	"slices"
	"strings"
)

// This file derives, from a record alone, the values that CloudTrail's
// LookupEvents shows beside it but that the record does not always carry:
// ReadOnly for records older than the field, the event category, Username
// and Resources. AWS publishes no algorithm for any of these; the rules below
// are fitted to real AWS output (see derive_test.go) and, where the data is
// silent, to AWS's documentation.

// readPrefixes are verbs that name read-only calls across AWS APIs. A prefix
// counts only as a whole word (followed by an upper-case letter or the end of
// the name), so that "Getaway" or "Listen" stay writes.
//
// Deliberately absent, because AWS uses them for writes too: Check (signin's
// CheckMfa is readOnly false), Verify (SES VerifyEmailIdentity sends mail),
// Test (API Gateway TestInvokeMethod runs the integration), Generate (IAM
// GenerateCredentialReport), Preview, Retrieve. Calls of these kinds known
// to be reads are listed in readOnlyExceptions instead.
var readPrefixes = []string{
	"Get", "List", "Describe", "Lookup", "Head", "BatchGet", "Search",
	"Query", "Scan", "Select", "Filter", "Estimate", "Simulate",
	"Validate", "Download",
}

// readOnlyExceptions overrides readPrefixes for one eventSource and
// eventName, keyed by source + " " + name. Entries marked "seen" are AWS's own
// readOnly values in real records; the rest follow them for sibling calls.
var readOnlyExceptions = map[string]bool{
	// STS hands out credentials without changing any resource, and AWS logs
	// it so: AssumeRole is readOnly true (seen).
	"sts.amazonaws.com AssumeRole":                 true,
	"sts.amazonaws.com AssumeRoleWithSAML":         true,
	"sts.amazonaws.com AssumeRoleWithWebIdentity":  true,
	"sts.amazonaws.com AssumeRoot":                 true,
	"sts.amazonaws.com DecodeAuthorizationMessage": true,

	// KMS cryptographic operations use a key without changing it: Decrypt,
	// Encrypt and GenerateDataKey are readOnly true (seen); CreateGrant is
	// false (seen) and needs no entry.
	"kms.amazonaws.com Decrypt":                             true,
	"kms.amazonaws.com Encrypt":                             true,
	"kms.amazonaws.com ReEncrypt":                           true,
	"kms.amazonaws.com GenerateDataKey":                     true,
	"kms.amazonaws.com GenerateDataKeyWithoutPlaintext":     true,
	"kms.amazonaws.com GenerateDataKeyPair":                 true,
	"kms.amazonaws.com GenerateDataKeyPairWithoutPlaintext": true,
	"kms.amazonaws.com GenerateRandom":                      true,
	"kms.amazonaws.com GenerateMac":                         true,
	"kms.amazonaws.com VerifyMac":                           true,
	"kms.amazonaws.com Sign":                                true,
	"kms.amazonaws.com Verify":                              true,
	"kms.amazonaws.com DeriveSharedSecret":                  true,

	// The read half of DynamoDB transactions; TransactWriteItems is a write.
	"dynamodb.amazonaws.com TransactGetItems": true,

	// Sign-in events are writes (seen). No prefix matches them today; the
	// entries pin them should readPrefixes ever grow.
	"signin.amazonaws.com ConsoleLogin": false,
	"signin.amazonaws.com CheckMfa":     false,
}

// InferReadOnly reports whether a call only reads, judged by its name as
// CloudTrail classifies calls, for records written before readOnly existed.
func InferReadOnly(eventSource, eventName string) bool {
	if v, ok := readOnlyExceptions[eventSource+" "+eventName]; ok {
		return v
	}
	for _, p := range readPrefixes {
		if hasWordPrefix(eventName, p) {
			return true
		}
	}
	return false
}

// hasWordPrefix reports whether name starts with the word p.
func hasWordPrefix(name, p string) bool {
	if !strings.HasPrefix(name, p) {
		return false
	}
	if len(name) == len(p) {
		return true
	}
	c := name[len(p)]
	return 'A' <= c && c <= 'Z'
}

// dataEventNames lists, per eventSource, the calls that CloudTrail logs as
// data events. It decides only for records older than managementEvent
// (eventVersion 1.06) and eventCategory (1.07).
var dataEventNames = map[string][]string{
	// Object-level S3 calls, including the listing of a bucket's objects:
	// AWS logs ListObjects as a data event (seen, eventCategory Data).
	"s3.amazonaws.com": {
		"AbortMultipartUpload", "CompleteMultipartUpload", "CopyObject",
		"CreateMultipartUpload", "DeleteObject", "DeleteObjects",
		"DeleteObjectTagging", "GetObject", "GetObjectAcl",
		"GetObjectAttributes", "GetObjectLegalHold", "GetObjectRetention",
		"GetObjectTagging", "GetObjectTorrent", "HeadObject",
		"InitiateMultipartUpload", "ListMultipartUploads", "ListObjects",
		"ListObjectsV2", "ListObjectVersions", "ListParts", "PostObject",
		"PutObject", "PutObjectAcl", "PutObjectLegalHold",
		"PutObjectRetention", "PutObjectTagging", "RestoreObject",
		"SelectObjectContent", "UploadPart", "UploadPartCopy",
	},
	// Only function execution; every other Lambda call is management.
	"lambda.amazonaws.com": {"Invoke"},
	// Item-level DynamoDB calls, PartiQL included.
	"dynamodb.amazonaws.com": {
		"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan",
		"BatchGetItem", "BatchWriteItem", "TransactGetItems",
		"TransactWriteItems", "ExecuteStatement", "BatchExecuteStatement",
		"ExecuteTransaction",
	},
}

// Classify returns the record's event category.
//
// The record's own word wins: eventCategory, then an Insights eventType (or
// insightDetails, which only Insights events have), then the VPC endpoint
// eventType of network activity events, then managementEvent. Records older
// than all of these are data events when they act on S3 objects (by name,
// or because AWS listed an AWS::S3::Object resource, which it does only for
// events matched by a data event selector), invoke a Lambda function, or
// touch DynamoDB items; everything else is management.
func Classify(r *Record) Category {
	switch r.EventCategory {
	case "Data":
		return Data
	case "Insight":
		return Insight
	case "NetworkActivity":
		return NetworkActivity
	case "Management":
		return Management
	}
	if r.EventType == "AwsCloudTrailInsight" || len(r.InsightDetails) > 0 {
		return Insight
	}
	if r.EventType == "AwsVpceEvent" {
		return NetworkActivity
	}
	if r.ManagementEvent != nil {
		if *r.ManagementEvent {
			return Management
		}
		return Data
	}
	if slices.Contains(dataEventNames[r.EventSource], r.EventName) {
		return Data
	}
	for _, x := range r.Resources {
		if x.Type == "AWS::S3::Object" {
			return Data
		}
	}
	return Management
}

// LookupUsername returns the Username that LookupEvents shows for a record.
//
// By userIdentity.type:
//   - Root: "root", even when the record carries the account alias in
//     userName; LookupEvents filters root activity by Username "root".
//   - AssumedRole: the role session name, the last "/" part of
//     arn:aws:sts::<acct>:assumed-role/<role>/<session> (AWS documents
//     Username = session name). Without an ARN, the part of principalId
//     after ":" (<role id>:<session>). sessionIssuer.userName is the role's
//     name, not the caller's, so it is never used.
//   - FederatedUser: the name chosen in GetFederationToken, the last "/" part
//     of arn:aws:sts::<acct>:federated-user/<name>, else the part of
//     principalId after ":".
//   - Role: userName, else the last "/" part of the role ARN.
//   - AWSService: none. Services act on their own behalf and LookupEvents
//     shows no Username for them (seen for a service event).
//   - IdentityCenterUser: userName, else onBehalfOf.userId, the only name
//     such records carry.
//   - anything else (IAMUser, SAMLUser, WebIdentityUser, Directory,
//     AWSAccount, Unknown, no type at all): userName, which may be empty or
//     AWS's "HIDDEN_DUE_TO_SECURITY_REASONS" for failed sign-ins; AWS shows
//     it as it is.
func LookupUsername(r *Record) string {
	u := r.UserIdentity
	if u == nil {
		return ""
	}
	switch u.Type {
	case "Root":
		return "root"
	case "AssumedRole", "FederatedUser":
		if i := strings.LastIndexByte(u.ARN, '/'); i >= 0 {
			return u.ARN[i+1:]
		}
		if i := strings.IndexByte(u.PrincipalID, ':'); i >= 0 {
			return u.PrincipalID[i+1:]
		}
		return ""
	case "Role":
		if u.UserName != "" {
			return u.UserName
		}
		if i := strings.LastIndexByte(u.ARN, '/'); i >= 0 {
			return u.ARN[i+1:]
		}
		return ""
	case "AWSService":
		return ""
	case "IdentityCenterUser":
		if u.UserName != "" {
			return u.UserName
		}
		var b struct {
			UserID string `json:"userId"`
		}
		if json.Unmarshal(u.OnBehalfOf, &b) == nil {
			return b.UserID
		}
		return ""
	}
	return u.UserName
}

// globalServices are the event sources of CloudTrail's "global service
// events": those a trail receives only when IncludeGlobalServiceEvents is
// set, and that LookupEvents shows in us-east-1 only (since 2021-11-22).
// IAM, STS and CloudFront are what the CloudTrail user guide names; AWS's
// 2021 notice of the LookupEvents change named sign-in as the fourth; the
// trail settings documentation also names Route 53, whose API is served
// from us-east-1 only. Other services with a single control-plane Region
// (Organizations, WAF Classic, ...) are ordinary regional events there and
// are not global service events.
var globalServices = []string{
	"iam.amazonaws.com",
	"sts.amazonaws.com",
	"cloudfront.amazonaws.com",
	"signin.amazonaws.com",
	"route53.amazonaws.com",
}

// IsGlobalServiceEvent reports whether events from eventSource are global
// service events. STS counts as global even though calls to its regional
// endpoints are recorded in their own Region: the eventSource is the same
// for both, so callers that care must look at awsRegion.
func IsGlobalServiceEvent(eventSource string) bool {
	return slices.Contains(globalServices, eventSource)
}

// maxLookupResources bounds the Resources derived for one record, so that a
// hostile record with a huge array cannot make one event's resource list
// unbounded.
const maxLookupResources = 128

// LookupResources returns the Resources that LookupEvents shows for a record.
//
// First come the record's own resources list, named by ARN as AWS does (by
// ARNPrefix when an entry has no ARN), with the type AWS gave, which may be
// empty. Then the resources named in requestParameters and responseElements
// by the per-service rules of resourceRules, in the order they appear,
// request first. Pairs are de-duplicated, empty names skipped, and the list
// is cut at maxLookupResources. serviceEventDetails and additionalEventData
// are not read: AWS lists nothing from them (seen for an EC2 service event
// naming a snapshot).
func LookupResources(r *Record) []Resource {
	var c collector
	for _, x := range r.Resources {
		name := x.ARN
		if name == "" {
			name = x.ARNPrefix
		}
		c.add(x.Type, name)
	}
	idx, ok := resourceIndex[r.EventSource]
	if ok && !idx.quiet(r.EventName) {
		w := walker{idx: idx, event: r.EventName, c: &c}
		if r.requestValue != nil || r.responseValue != nil {
			w.walkValue(r.requestValue, inRequest)
			w.walkValue(r.responseValue, inResponse)
		} else {
			w.walk(r.RequestParameters, inRequest)
			w.walk(r.ResponseElements, inResponse)
		}
	}
	return c.list
}

// collector accumulates distinct resources in order. The list is short and
// bounded, so a linear search beats a map.
type collector struct {
	list []Resource
}

// add records one resource and reports whether there is room for more.
func (c *collector) add(typ, name string) bool {
	if len(c.list) >= maxLookupResources {
		return false
	}
	if strings.TrimSpace(name) == "" {
		return true
	}
	x := Resource{Type: typ, Name: name}
	if !slices.Contains(c.list, x) {
		c.list = append(c.list, x)
	}
	return len(c.list) < maxLookupResources
}

// section says which part of a record a rule reads.
type section uint8

const (
	inRequest  section = 1 << iota // requestParameters
	inResponse                     // responseElements
)

// fieldRule maps members of requestParameters or responseElements to a
// resource type.
type fieldRule struct {
	// Key is the member name with its first letter in lower case, because
	// newer EC2 records spell members in PascalCase ("SubnetId"). A key
	// "parent.name" matches only members of an object reached through a
	// member "parent" (arrays in between are transparent) and is tried before
	// the plain name. Strings in an array match the array's member name.
	Key string
	// Type is the resource type. A rule with neither Type nor Infer matches
	// and drops the value: it masks a plain rule in one context.
	Type string
	// Infer, when set, derives the type from the value; "" drops the value.
	Infer func(value string) string
	// Trim is removed from the front of the value.
	Trim string
	// Events, when set, limits the rule to these event names, for member
	// names as generic as "name".
	Events []string
	// In limits the rule to the request or the response; zero means both.
	In section
	// Top limits the rule to members of the outermost object.
	Top bool
}

// serviceRules are the resource rules of one eventSource.
type serviceRules struct {
	// Quiet lists event-name prefixes (whole words) for which AWS lists no
	// resources from the parameters at all.
	Quiet []string
	Rules []fieldRule
}

// Resource type names as LookupEvents spells them.
const (
	ec2Instance = "AWS::EC2::Instance"
	ec2SG       = "AWS::EC2::SecurityGroup"
	ec2EIP      = "AWS::EC2::EIP"
	iamPolicy   = "AWS::IAM::Policy"
	iamRole     = "AWS::IAM::Role"
	trail       = "AWS::CloudTrail::Trail"
	eventStore  = "AWS::CloudTrail::EventDataStore"
	hostedZone  = "AWS::Route53::HostedZone"
	ssmParam    = "AWS::SSM::Parameter"
	ssmDocument = "AWS::SSM::Document"
	rdsSnapshot = "AWS::RDS::DBSnapshot"
	emrCluster  = "AWS::EMR::Cluster"
	cwAlarm     = "AWS::CloudWatch::Alarm"
	ebEnv       = "AWS::ElasticBeanstalk::Environment"
	secret      = "AWS::SecretsManager::Secret"
	sqsQueue    = "AWS::SQS::Queue"
	kmsKey      = "AWS::KMS::Key"
	kmsAlias    = "AWS::KMS::Alias"
)

// skipMembers name objects whose member names are chosen by users or mean
// something else than in the service's own parameters: tags, filters,
// encryption contexts, environment variables, EC2 placement (whose groupName
// is a placement group, not a security group). Nothing inside them is read.
var skipMembers = map[string]bool{
	"tags":                true,
	"tagSet":              true,
	"tagSpecificationSet": true,
	"tagSpecification":    true,
	"tagging":             true,
	"filterSet":           true,
	"filters":             true,
	"encryptionContext":   true,
	"constraints":         true,
	"environment":         true,
	"placement":           true,
}

// Event names whose generic "name" or "id" members name a resource.
var (
	trailEvents = []string{
		"CreateTrail", "UpdateTrail", "DeleteTrail", "GetTrail",
		"GetTrailStatus", "StartLogging", "StopLogging",
	}
	hostedZoneEvents = []string{
		"GetHostedZone", "DeleteHostedZone", "UpdateHostedZoneComment",
	}
	parameterEvents = []string{
		"GetParameter", "PutParameter", "DeleteParameter",
		"GetParameterHistory", "LabelParameterVersion",
		"UnlabelParameterVersion",
	}
	documentEvents = []string{
		"CreateDocument", "UpdateDocument", "DeleteDocument", "GetDocument",
		"DescribeDocument", "UpdateDocumentDefaultVersion",
	}
)

// resourceRules are the per-service rules of LookupResources, keyed by
// eventSource. The EC2 rules reproduce AWS's output exactly on the samples
// in derive_test.go: RunInstances lists VPC, AMI, network interface,
// instance, key pair, security groups by name and by ID, and subnet, from
// both the request and the response; Describe calls list nothing even when
// the request names instances.
var resourceRules = map[string]serviceRules{
	"ec2.amazonaws.com": {
		Quiet: []string{"Describe"},
		Rules: []fieldRule{
			{Key: "instanceId", Type: ec2Instance},
			{Key: "imageId", Type: "AWS::EC2::Ami"},
			{Key: "sourceImageId", Type: "AWS::EC2::Ami"},
			{Key: "vpcId", Type: "AWS::EC2::VPC"},
			{Key: "subnetId", Type: "AWS::EC2::Subnet"},
			{Key: "groupId", Type: ec2SG},
			{Key: "groupName", Type: ec2SG},
			{Key: "keyName", Type: "AWS::EC2::KeyPair"},
			{Key: "networkInterfaceId", Type: "AWS::EC2::NetworkInterface"},
			{Key: "volumeId", Type: "AWS::EC2::Volume"},
			{Key: "snapshotId", Type: "AWS::EC2::Snapshot"},
			{Key: "sourceSnapshotId", Type: "AWS::EC2::Snapshot"},
			{Key: "internetGatewayId", Type: "AWS::EC2::InternetGateway"},
			{Key: "egressOnlyInternetGatewayId", Type: "AWS::EC2::EgressOnlyInternetGateway"},
			{Key: "routeTableId", Type: "AWS::EC2::RouteTable"},
			{Key: "networkAclId", Type: "AWS::EC2::NetworkAcl"},
			{Key: "natGatewayId", Type: "AWS::EC2::NatGateway"},
			{Key: "allocationId", Type: ec2EIP},
			{Key: "publicIp", Type: ec2EIP},
			{Key: "dhcpOptionsId", Type: "AWS::EC2::DHCPOptions"},
			{Key: "customerGatewayId", Type: "AWS::EC2::CustomerGateway"},
			{Key: "vpnGatewayId", Type: "AWS::EC2::VPNGateway"},
			{Key: "vpnConnectionId", Type: "AWS::EC2::VPNConnection"},
			{Key: "vpcPeeringConnectionId", Type: "AWS::EC2::VPCPeeringConnection"},
			{Key: "vpcEndpointId", Type: "AWS::EC2::VPCEndpoint"},
			{Key: "transitGatewayId", Type: "AWS::EC2::TransitGateway"},
			{Key: "hostId", Type: "AWS::EC2::Host"},
			{Key: "launchTemplateId", Type: "AWS::EC2::LaunchTemplate"},
			{Key: "launchTemplateName", Type: "AWS::EC2::LaunchTemplate"},
			{Key: "flowLogId", Type: "AWS::EC2::FlowLog"},
			// Members that take an ID of any kind: CreateTags' resourceId,
			// CreateFlowLogs' ResourceId, CreateRoute's gatewayId ("local"
			// and unknown kinds are dropped).
			{Key: "resourceId", Infer: ec2TypeFromID},
			{Key: "gatewayId", Infer: ec2TypeFromID},
		},
	},
	"s3.amazonaws.com": {Rules: []fieldRule{
		{Key: "bucketName", Type: "AWS::S3::Bucket"},
	}},
	"iam.amazonaws.com": {Rules: []fieldRule{
		{Key: "userName", Type: "AWS::IAM::User"},
		{Key: "roleName", Type: iamRole},
		{Key: "groupName", Type: "AWS::IAM::Group"},
		{Key: "policyArn", Type: iamPolicy},
		{Key: "policy.arn", Type: iamPolicy},
		{Key: "policyName", Type: iamPolicy},
		{Key: "accessKeyId", Type: "AWS::IAM::AccessKey"},
		{Key: "instanceProfileName", Type: "AWS::IAM::InstanceProfile"},
		{Key: "serverCertificateName", Type: "AWS::IAM::ServerCertificate"},
		{Key: "serialNumber", Type: "AWS::IAM::MFADevice"},
		{Key: "sAMLProviderArn", Type: "AWS::IAM::SAMLProvider"},
		{Key: "openIDConnectProviderArn", Type: "AWS::IAM::OIDCProvider"},
	}},
	"sts.amazonaws.com": {Rules: []fieldRule{
		// The role being assumed; newer records also list it in resources
		// under the same ARN, which de-duplicates.
		{Key: "roleArn", Type: iamRole, In: inRequest},
	}},
	"lambda.amazonaws.com": {Rules: []fieldRule{
		{Key: "functionName", Type: "AWS::Lambda::Function"},
	}},
	"cloudtrail.amazonaws.com": {Rules: []fieldRule{
		{Key: "name", Type: trail, Top: true, Events: trailEvents},
		{Key: "name", Type: eventStore, Top: true, Events: []string{"CreateEventDataStore"}},
		{Key: "trailName", Type: trail},
		{Key: "eventDataStore", Type: eventStore},
		{Key: "eventDataStoreArn", Type: eventStore, In: inResponse},
		{Key: "resourceId", Infer: cloudTrailTypeFromARN},
		{Key: "resourceIdList", Infer: cloudTrailTypeFromARN},
	}},
	"dynamodb.amazonaws.com": {Rules: []fieldRule{
		{Key: "tableName", Type: "AWS::DynamoDB::Table"},
	}},
	"kms.amazonaws.com": {Rules: []fieldRule{
		{Key: "keyId", Infer: kmsTypeFromID},
		{Key: "targetKeyId", Type: kmsKey},
		{Key: "aliasName", Type: kmsAlias},
	}},
	"sns.amazonaws.com": {Rules: []fieldRule{
		{Key: "topicArn", Type: "AWS::SNS::Topic"},
	}},
	"sqs.amazonaws.com": {Rules: []fieldRule{
		{Key: "queueUrl", Type: sqsQueue},
		{Key: "queueName", Type: sqsQueue, In: inRequest},
	}},
	"cloudformation.amazonaws.com": {Rules: []fieldRule{
		{Key: "stackName", Type: "AWS::CloudFormation::Stack"},
		{Key: "stackSetName", Type: "AWS::CloudFormation::StackSet"},
	}},
	// RDS names are chosen by the caller, so the request has them all; the
	// responses echo them beside defaults (default parameter and option
	// groups) that the call did not touch.
	"rds.amazonaws.com": {Rules: []fieldRule{
		{Key: "dBInstanceIdentifier", Type: "AWS::RDS::DBInstance", In: inRequest},
		{Key: "sourceDBInstanceIdentifier", Type: "AWS::RDS::DBInstance", In: inRequest},
		{Key: "dBClusterIdentifier", Type: "AWS::RDS::DBCluster", In: inRequest},
		{Key: "dBSnapshotIdentifier", Type: rdsSnapshot, In: inRequest},
		{Key: "sourceDBSnapshotIdentifier", Type: rdsSnapshot, In: inRequest},
		{Key: "targetDBSnapshotIdentifier", Type: rdsSnapshot, In: inRequest},
		{Key: "dBClusterSnapshotIdentifier", Type: "AWS::RDS::DBClusterSnapshot", In: inRequest},
		{Key: "dBSecurityGroupName", Type: "AWS::RDS::DBSecurityGroup", In: inRequest},
		{Key: "dBSecurityGroups", Type: "AWS::RDS::DBSecurityGroup", In: inRequest},
		{Key: "dBSubnetGroupName", Type: "AWS::RDS::DBSubnetGroup", In: inRequest},
		{Key: "dBParameterGroupName", Type: "AWS::RDS::DBParameterGroup", In: inRequest},
		{Key: "optionGroupName", Type: "AWS::RDS::OptionGroup", In: inRequest},
		{Key: "subscriptionName", Type: "AWS::RDS::EventSubscription", In: inRequest},
	}},
	"autoscaling.amazonaws.com": {Rules: []fieldRule{
		{Key: "autoScalingGroupName", Type: "AWS::AutoScaling::AutoScalingGroup"},
		{Key: "launchConfigurationName", Type: "AWS::AutoScaling::LaunchConfiguration"},
		{Key: "policyName", Type: "AWS::AutoScaling::ScalingPolicy"},
		{Key: "loadBalancerNames", Type: "AWS::ElasticLoadBalancing::LoadBalancer"},
		{Key: "instanceId", Type: ec2Instance},
		{Key: "instanceIds", Type: ec2Instance},
	}},
	"elasticloadbalancing.amazonaws.com": {Rules: []fieldRule{
		{Key: "loadBalancerName", Type: "AWS::ElasticLoadBalancing::LoadBalancer"},
		{Key: "loadBalancerArn", Type: "AWS::ElasticLoadBalancingV2::LoadBalancer"},
		{Key: "targetGroupArn", Type: "AWS::ElasticLoadBalancingV2::TargetGroup"},
		{Key: "listenerArn", Type: "AWS::ElasticLoadBalancingV2::Listener"},
		{Key: "instanceId", Type: ec2Instance},
	}},
	"route53.amazonaws.com": {Rules: []fieldRule{
		{Key: "hostedZoneId", Type: hostedZone, Trim: "/hostedzone/"},
		{Key: "hostedZone.id", Type: hostedZone, Trim: "/hostedzone/"},
		{Key: "id", Type: hostedZone, Trim: "/hostedzone/", Top: true, In: inRequest, Events: hostedZoneEvents},
		{Key: "healthCheckId", Type: "AWS::Route53::HealthCheck"},
	}},
	"logs.amazonaws.com": {Rules: []fieldRule{
		{Key: "logGroupName", Type: "AWS::Logs::LogGroup"},
		{Key: "logStreamName", Type: "AWS::Logs::LogStream"},
	}},
	"secretsmanager.amazonaws.com": {Rules: []fieldRule{
		{Key: "secretId", Type: secret},
		{Key: "name", Type: secret, Top: true, In: inRequest, Events: []string{"CreateSecret"}},
	}},
	"ssm.amazonaws.com": {Rules: []fieldRule{
		{Key: "name", Type: ssmParam, Top: true, In: inRequest, Events: parameterEvents},
		{Key: "names", Type: ssmParam, Top: true, In: inRequest, Events: []string{"GetParameters", "DeleteParameters"}},
		{Key: "name", Type: ssmDocument, Top: true, In: inRequest, Events: documentEvents},
		{Key: "documentName", Type: ssmDocument, In: inRequest},
		{Key: "instanceId", Type: ec2Instance, In: inRequest},
		{Key: "instanceIds", Type: ec2Instance, In: inRequest},
	}},
	"elasticbeanstalk.amazonaws.com": {Rules: []fieldRule{
		{Key: "applicationName", Type: "AWS::ElasticBeanstalk::Application"},
		{Key: "environmentName", Type: ebEnv},
		{Key: "environmentId", Type: ebEnv},
	}},
	"opsworks.amazonaws.com": {Rules: []fieldRule{
		{Key: "stackId", Type: "AWS::OpsWorks::Stack"},
		{Key: "layerId", Type: "AWS::OpsWorks::Layer"},
		{Key: "layerIds", Type: "AWS::OpsWorks::Layer"},
		{Key: "instanceId", Type: "AWS::OpsWorks::Instance"},
		{Key: "appId", Type: "AWS::OpsWorks::App"},
	}},
	"elasticmapreduce.amazonaws.com": {Rules: []fieldRule{
		{Key: "clusterId", Type: emrCluster},
		{Key: "jobFlowId", Type: emrCluster},
		{Key: "jobFlowIds", Type: emrCluster},
	}},
	"monitoring.amazonaws.com": {Rules: []fieldRule{
		{Key: "alarmName", Type: cwAlarm},
		{Key: "alarmNames", Type: cwAlarm},
	}},
}

// ec2IDPrefixes map EC2 ID prefixes to resource types. Longer prefixes come
// before the shorter ones they extend; an empty type marks IDs of things
// that are not resources of their own (attachments, associations).
var ec2IDPrefixes = []struct{ prefix, typ string }{
	{"eni-attach-", ""},
	{"vpc-cidr-assoc-", ""},
	{"tgw-attach-", ""},
	{"eipalloc-", ec2EIP},
	{"eigw-", "AWS::EC2::EgressOnlyInternetGateway"},
	{"vpce-", "AWS::EC2::VPCEndpoint"},
	{"vpc-", "AWS::EC2::VPC"},
	{"subnet-", "AWS::EC2::Subnet"},
	{"sg-", ec2SG},
	{"eni-", "AWS::EC2::NetworkInterface"},
	{"vol-", "AWS::EC2::Volume"},
	{"snap-", "AWS::EC2::Snapshot"},
	{"ami-", "AWS::EC2::Ami"},
	{"igw-", "AWS::EC2::InternetGateway"},
	{"rtb-", "AWS::EC2::RouteTable"},
	{"acl-", "AWS::EC2::NetworkAcl"},
	{"nat-", "AWS::EC2::NatGateway"},
	{"dopt-", "AWS::EC2::DHCPOptions"},
	{"cgw-", "AWS::EC2::CustomerGateway"},
	{"vgw-", "AWS::EC2::VPNGateway"},
	{"vpn-", "AWS::EC2::VPNConnection"},
	{"pcx-", "AWS::EC2::VPCPeeringConnection"},
	{"tgw-", "AWS::EC2::TransitGateway"},
	{"lt-", "AWS::EC2::LaunchTemplate"},
	{"fl-", "AWS::EC2::FlowLog"},
	{"h-", "AWS::EC2::Host"},
	{"i-", ec2Instance},
}

// ec2TypeFromID returns the resource type of an EC2 ID, or "".
func ec2TypeFromID(id string) string {
	for _, p := range ec2IDPrefixes {
		if strings.HasPrefix(id, p.prefix) {
			return p.typ
		}
	}
	return ""
}

// kmsTypeFromID tells an alias ("alias/x" or its ARN) from a key (ID or ARN):
// KMS accepts either wherever it takes a keyId.
func kmsTypeFromID(id string) string {
	if strings.HasPrefix(id, "alias/") || strings.Contains(id, ":alias/") {
		return kmsAlias
	}
	return kmsKey
}

// cloudTrailTypeFromARN types the ARNs that CloudTrail's tagging calls take.
func cloudTrailTypeFromARN(arn string) string {
	switch {
	case strings.Contains(arn, ":trail/"):
		return trail
	case strings.Contains(arn, ":eventdatastore/"):
		return eventStore
	case strings.Contains(arn, ":channel/"):
		return "AWS::CloudTrail::Channel"
	}
	return ""
}

// ruleIndex is one service's rules, indexed by Key.
type ruleIndex struct {
	quietPrefixes []string
	byKey         map[string][]*fieldRule
}

// quiet reports whether the event lists no resources from its parameters.
func (x *ruleIndex) quiet(eventName string) bool {
	for _, p := range x.quietPrefixes {
		if hasWordPrefix(eventName, p) {
			return true
		}
	}
	return false
}

// resourceIndex is resourceRules, indexed once.
var resourceIndex = buildIndex(resourceRules)

func buildIndex(rules map[string]serviceRules) map[string]*ruleIndex {
	out := make(map[string]*ruleIndex, len(rules))
	for src, s := range rules {
		x := &ruleIndex{quietPrefixes: s.Quiet, byKey: map[string][]*fieldRule{}}
		for i := range s.Rules {
			r := &s.Rules[i]
			x.byKey[r.Key] = append(x.byKey[r.Key], r)
		}
		out[src] = x
	}
	return out
}

// walker streams one JSON document and applies a service's rules to every
// string in it. Streaming keeps the document's member order, which decoding
// into maps would lose, and never builds a tree for members it skips.
type walker struct {
	idx   *ruleIndex
	event string
	c     *collector
	sect  section
}

// frame is one open object or array.
type frame struct {
	name  string // member name by which the container was reached
	array bool
	key   string // in an object: the current member name
	skip  bool
}

// walk applies the rules to raw, which may be anything: null, a scalar,
// malformed JSON. Malformed JSON names nothing; the walk stops when the
// collector is full, keeping what it found.
func (w *walker) walk(raw json.RawMessage, sect section) {
	if len(raw) == 0 {
		return
	}
	w.sect = sect
	p := parsers.Get()
	defer parsers.Put(p)
	v, err := p.ParseBytes(raw)
	if err != nil {
		return
	}
	w.walkValue(v, sect)
}

// walkValue is walk on a document already parsed (nil: nothing).
func (w *walker) walkValue(v *fastjson.Value, sect section) {
	if v == nil {
		return
	}
	w.sect = sect
	switch v.Type() {
	case fastjson.TypeObject, fastjson.TypeArray:
		var stack []frame
		w.container(v, &stack, "", false)
	}
	// A scalar document names nothing.
}

var parsers fastjson.ParserPool

// container walks an object or array reached under name; it reports false
// once the collector is full.
func (w *walker) container(v *fastjson.Value, stack *[]frame, name string, skip bool) bool {
	*stack = append(*stack, frame{name: name, array: v.Type() == fastjson.TypeArray, skip: skip})
	defer func() { *stack = (*stack)[:len(*stack)-1] }()
	if v.Type() == fastjson.TypeArray {
		items, _ := v.Array()
		for _, item := range items {
			if !w.member(item, stack) {
				return false
			}
		}
		return true
	}
	obj, _ := v.Object()
	more := true
	obj.Visit(func(k []byte, item *fastjson.Value) {
		if !more {
			return
		}
		top := &(*stack)[len(*stack)-1]
		top.key = lowerFirst(string(k))
		more = w.member(item, stack)
	})
	return more
}

// member handles one value inside the container on top of the stack.
func (w *walker) member(v *fastjson.Value, stack *[]frame) bool {
	s := *stack
	n := len(s)
	top := &s[n-1]
	switch v.Type() {
	case fastjson.TypeObject, fastjson.TypeArray:
		name := top.key
		if top.array {
			name = top.name
		}
		return w.container(v, stack, name, top.skip || skipMembers[name])
	case fastjson.TypeString:
	default:
		return true
	}
	if top.skip {
		return true
	}
	str := string(v.GetStringBytes())
	var key, parent string
	var outer bool
	switch {
	case top.array:
		// A string in an array is named by the array's member.
		key = top.name
		if n > 1 {
			parent = s[n-2].name
		}
		outer = n == 2 && !s[0].array
	case top.key == "content" && n > 1:
		// Newer EC2 records wrap some values as {"tag":1,"content":v};
		// the value belongs to the wrapper's member.
		key = top.name
		parent = s[n-2].name
		outer = n == 2
	default:
		key = top.key
		parent = top.name
		outer = n == 1
	}
	return w.match(key, parent, outer, str)
}

// match applies the first rule that fits and reports whether the collector
// has room for more.
func (w *walker) match(key, parent string, outer bool, v string) bool {
	if parent != "" {
		for _, r := range w.idx.byKey[parent+"."+key] {
			if w.fits(r, outer) {
				return w.apply(r, v)
			}
		}
	}
	for _, r := range w.idx.byKey[key] {
		if w.fits(r, outer) {
			return w.apply(r, v)
		}
	}
	return true
}

func (w *walker) fits(r *fieldRule, outer bool) bool {
	if r.Top && !outer {
		return false
	}
	if r.In != 0 && r.In&w.sect == 0 {
		return false
	}
	return len(r.Events) == 0 || slices.Contains(r.Events, w.event)
}

func (w *walker) apply(r *fieldRule, v string) bool {
	v = strings.TrimPrefix(v, r.Trim)
	typ := r.Type
	if r.Infer != nil {
		typ = r.Infer(v)
	}
	if typ == "" {
		return true
	}
	return w.c.add(typ, v)
}

// lowerFirst lower-cases an ASCII first letter.
func lowerFirst(s string) string {
	if s != "" && 'A' <= s[0] && s[0] <= 'Z' {
		return string(s[0]+'a'-'A') + s[1:]
	}
	return s
}
