package lake

import (
	"context"
	"sort"
	"strings"

	"github.com/cairn-audit/cairn/internal/awsapi"
)

// SampleQuery is one of cairn's sample queries; $EDS_ID stands for the
// event data store to run it on.
type SampleQuery struct {
	Name, Description, SQL string
}

// Samples are cairn's sample queries: what people ask of an audit trail.
var Samples = []SampleQuery{
	{"Events by name", "The most frequent API calls.", "SELECT eventname, count(*) AS calls FROM $EDS_ID GROUP BY eventname ORDER BY calls DESC LIMIT 20"},
	{"Events by service", "Calls per AWS service (event source).", "SELECT eventsource, count(*) AS calls FROM $EDS_ID GROUP BY eventsource ORDER BY calls DESC"},
	{"Events by Region", "Calls per Region.", "SELECT awsregion, count(*) AS calls FROM $EDS_ID GROUP BY awsregion ORDER BY calls DESC"},
	{"Events per day", "How many events each day.", "SELECT date_trunc('day', eventtime) AS day, count(*) AS events FROM $EDS_ID GROUP BY 1 ORDER BY 1"},
	{"Events per hour of the day", "When in the day calls are made (UTC).", "SELECT hour(eventtime) AS hour, count(*) AS events FROM $EDS_ID GROUP BY 1 ORDER BY 1"},
	{"Events per day of the week", "Activity by weekday, Monday = 1.", "SELECT day_of_week(eventtime) AS weekday, count(*) AS events FROM $EDS_ID GROUP BY 1 ORDER BY 1"},
	{"Root user activity", "Every call made with the root user's credentials.", "SELECT eventtime, eventname, eventsource, sourceipaddress, useragent FROM $EDS_ID WHERE useridentity.type = 'Root' ORDER BY eventtime DESC LIMIT 100"},
	{"Root user activity by call", "Which calls the root user makes.", "SELECT eventname, count(*) AS calls FROM $EDS_ID WHERE useridentity.type = 'Root' GROUP BY eventname ORDER BY calls DESC"},
	{"Console sign-ins", "Sign-ins to the AWS Management Console, with their result.", "SELECT eventtime, useridentity.arn, sourceipaddress, element_at(responseelements, 'ConsoleLogin') AS result FROM $EDS_ID WHERE eventname = 'ConsoleLogin' ORDER BY eventtime DESC"},
	{"Failed console sign-ins", "Console sign-ins that failed.", "SELECT eventtime, useridentity.username, sourceipaddress, errormessage FROM $EDS_ID WHERE eventname = 'ConsoleLogin' AND (errormessage IS NOT NULL OR element_at(responseelements, 'ConsoleLogin') = 'Failure') ORDER BY eventtime DESC"},
	{"Console sign-ins without MFA", "Sign-ins where no multi-factor authentication was used.", "SELECT eventtime, useridentity.arn, sourceipaddress FROM $EDS_ID WHERE eventname = 'ConsoleLogin' AND element_at(additionaleventdata, 'MFAUsed') = 'No'"},
	{"Errors by code", "The most frequent error codes.", "SELECT errorcode, count(*) AS errors FROM $EDS_ID WHERE errorcode IS NOT NULL GROUP BY errorcode ORDER BY errors DESC"},
	{"Access denied calls", "Calls refused for lack of permission, by caller and call.", "SELECT useridentity.arn, eventname, count(*) AS denied FROM $EDS_ID WHERE errorcode IN ('AccessDenied', 'AccessDeniedException', 'Client.UnauthorizedOperation', 'UnauthorizedOperation') GROUP BY 1, 2 ORDER BY denied DESC LIMIT 50"},
	{"Error rate by service", "The share of calls to each service that failed.", "SELECT eventsource, count(*) AS calls, count_if(errorcode IS NOT NULL) AS errors, round(100.0 * count_if(errorcode IS NOT NULL) / count(*), 2) AS error_percent FROM $EDS_ID GROUP BY eventsource ORDER BY errors DESC"},
	{"Errors by caller", "Who gets the most errors.", "SELECT useridentity.arn, count(*) AS errors FROM $EDS_ID WHERE errorcode IS NOT NULL GROUP BY 1 ORDER BY errors DESC LIMIT 20"},
	{"Throttled calls", "Calls that were throttled.", "SELECT eventsource, eventname, count(*) AS throttled FROM $EDS_ID WHERE errorcode LIKE '%Throttl%' OR errorcode = 'RequestLimitExceeded' GROUP BY 1, 2 ORDER BY throttled DESC"},
	{"Top callers", "The identities that make the most calls.", "SELECT useridentity.arn, count(*) AS calls FROM $EDS_ID GROUP BY 1 ORDER BY calls DESC LIMIT 20"},
	{"Callers by identity type", "Calls by kind of identity: IAM users, roles, root, services.", "SELECT useridentity.type, count(*) AS calls FROM $EDS_ID GROUP BY 1 ORDER BY calls DESC"},
	{"IAM users active recently", "IAM users who made calls in the last 7 days.", "SELECT DISTINCT useridentity.username FROM $EDS_ID WHERE useridentity.type = 'IAMUser' AND eventtime > date_add('day', -7, now())"},
	{"IAM users by activity", "Each IAM user's calls and last call.", "SELECT useridentity.username, count(*) AS calls, max(eventtime) AS last_call FROM $EDS_ID WHERE useridentity.type = 'IAMUser' GROUP BY 1 ORDER BY calls DESC"},
	{"Access keys in use", "Which access keys made calls, and when last.", "SELECT useridentity.accesskeyid, useridentity.arn, count(*) AS calls, max(eventtime) AS last_used FROM $EDS_ID WHERE useridentity.accesskeyid IS NOT NULL GROUP BY 1, 2 ORDER BY last_used DESC"},
	{"Assumed roles", "Roles assumed, by who assumed them.", "SELECT useridentity.sessioncontext.sessionissuer.arn AS role, count(*) AS calls FROM $EDS_ID WHERE useridentity.type = 'AssumedRole' GROUP BY 1 ORDER BY calls DESC"},
	{"AssumeRole calls", "Every AssumeRole call with the role asked for.", "SELECT eventtime, useridentity.arn, element_at(requestparameters, 'roleArn') AS role, sourceipaddress FROM $EDS_ID WHERE eventname = 'AssumeRole' ORDER BY eventtime DESC LIMIT 100"},
	{"Source IP addresses", "Where calls come from.", "SELECT sourceipaddress, count(*) AS calls FROM $EDS_ID GROUP BY 1 ORDER BY calls DESC LIMIT 50"},
	{"Source IP addresses per user", "How many addresses each identity calls from.", "SELECT useridentity.arn, count(DISTINCT sourceipaddress) AS addresses FROM $EDS_ID GROUP BY 1 ORDER BY addresses DESC LIMIT 20"},
	{"User agents", "The tools that make calls.", "SELECT useragent, count(*) AS calls FROM $EDS_ID GROUP BY 1 ORDER BY calls DESC LIMIT 30"},
	{"Console versus API", "Calls made from the console and otherwise.", "SELECT CASE WHEN useragent LIKE '%console%' OR sessioncredentialfromconsole = 'true' THEN 'console' ELSE 'api' END AS origin, count(*) AS calls FROM $EDS_ID GROUP BY 1"},
	{"Write calls", "Calls that change something (readOnly false), by name.", "SELECT eventname, count(*) AS calls FROM $EDS_ID WHERE NOT readonly GROUP BY 1 ORDER BY calls DESC LIMIT 30"},
	{"Read and write share", "How many calls read and how many write.", "SELECT readonly, count(*) AS calls FROM $EDS_ID GROUP BY 1"},
	{"IAM changes", "Changes to users, groups, roles and policies.", "SELECT eventtime, useridentity.arn, eventname, requestparameters FROM $EDS_ID WHERE eventsource = 'iam.amazonaws.com' AND NOT readonly ORDER BY eventtime DESC LIMIT 100"},
	{"New IAM users", "Users created, and by whom.", "SELECT eventtime, useridentity.arn AS creator, element_at(requestparameters, 'userName') AS new_user FROM $EDS_ID WHERE eventname = 'CreateUser' ORDER BY eventtime DESC"},
	{"Access keys created", "Access keys created, and for whom.", "SELECT eventtime, useridentity.arn, element_at(requestparameters, 'userName') AS for_user FROM $EDS_ID WHERE eventname = 'CreateAccessKey' ORDER BY eventtime DESC"},
	{"Policy changes", "Policies attached, detached, put or deleted.", "SELECT eventtime, eventname, useridentity.arn, element_at(requestparameters, 'policyArn') AS policy FROM $EDS_ID WHERE eventname IN ('AttachUserPolicy', 'AttachRolePolicy', 'AttachGroupPolicy', 'DetachUserPolicy', 'DetachRolePolicy', 'DetachGroupPolicy', 'PutUserPolicy', 'PutRolePolicy', 'PutGroupPolicy', 'DeletePolicy', 'CreatePolicyVersion') ORDER BY eventtime DESC"},
	{"Security group changes", "Rules added to or removed from security groups.", "SELECT eventtime, eventname, useridentity.arn, element_at(requestparameters, 'groupId') AS group_id FROM $EDS_ID WHERE eventname IN ('AuthorizeSecurityGroupIngress', 'AuthorizeSecurityGroupEgress', 'RevokeSecurityGroupIngress', 'RevokeSecurityGroupEgress', 'CreateSecurityGroup', 'DeleteSecurityGroup') ORDER BY eventtime DESC"},
	{"Network changes", "Changes to VPCs, subnets, gateways and route tables.", "SELECT eventtime, eventname, useridentity.arn FROM $EDS_ID WHERE eventsource = 'ec2.amazonaws.com' AND regexp_like(eventname, '^(Create|Delete|Modify|Attach|Detach|Replace)(Vpc|Subnet|InternetGateway|NatGateway|RouteTable|Route|NetworkAcl)') ORDER BY eventtime DESC"},
	{"Instances started", "EC2 instances run, with their type.", "SELECT eventtime, useridentity.arn, awsregion, element_at(requestparameters, 'instanceType') AS instance_type FROM $EDS_ID WHERE eventname = 'RunInstances' ORDER BY eventtime DESC"},
	{"Instances stopped or terminated", "EC2 instances stopped or terminated, and by whom.", "SELECT eventtime, eventname, useridentity.arn, awsregion FROM $EDS_ID WHERE eventname IN ('StopInstances', 'TerminateInstances') ORDER BY eventtime DESC"},
	{"EC2 calls by Region", "EC2 activity in each Region.", "SELECT awsregion, count(*) AS calls FROM $EDS_ID WHERE eventsource = 'ec2.amazonaws.com' GROUP BY 1 ORDER BY calls DESC"},
	{"S3 buckets touched", "The buckets named in S3 calls.", "SELECT element_at(requestparameters, 'bucketName') AS bucket, count(*) AS calls FROM $EDS_ID WHERE eventsource = 's3.amazonaws.com' AND element_at(requestparameters, 'bucketName') IS NOT NULL GROUP BY 1 ORDER BY calls DESC"},
	{"S3 bucket changes", "Buckets created or deleted, and policy, ACL or public access changes.", "SELECT eventtime, eventname, useridentity.arn, element_at(requestparameters, 'bucketName') AS bucket FROM $EDS_ID WHERE eventsource = 's3.amazonaws.com' AND eventname IN ('CreateBucket', 'DeleteBucket', 'PutBucketPolicy', 'DeleteBucketPolicy', 'PutBucketAcl', 'PutBucketPublicAccessBlock', 'DeleteBucketPublicAccessBlock') ORDER BY eventtime DESC"},
	{"CloudTrail changes", "Trails stopped, deleted or changed: someone covering their tracks?", "SELECT eventtime, eventname, useridentity.arn, sourceipaddress FROM $EDS_ID WHERE eventsource = 'cloudtrail.amazonaws.com' AND eventname IN ('StopLogging', 'DeleteTrail', 'UpdateTrail', 'PutEventSelectors', 'DeleteEventDataStore') ORDER BY eventtime DESC"},
	{"KMS key use", "Calls to KMS by key and operation.", "SELECT eventname, element_at(requestparameters, 'keyId') AS key_id, count(*) AS calls FROM $EDS_ID WHERE eventsource = 'kms.amazonaws.com' GROUP BY 1, 2 ORDER BY calls DESC"},
	{"KMS keys scheduled for deletion", "Keys disabled or scheduled for deletion.", "SELECT eventtime, eventname, useridentity.arn, element_at(requestparameters, 'keyId') AS key_id FROM $EDS_ID WHERE eventsource = 'kms.amazonaws.com' AND eventname IN ('DisableKey', 'ScheduleKeyDeletion') ORDER BY eventtime DESC"},
	{"Lambda changes", "Functions created, updated or deleted.", "SELECT eventtime, eventname, useridentity.arn, element_at(requestparameters, 'functionName') AS function FROM $EDS_ID WHERE eventsource = 'lambda.amazonaws.com' AND NOT readonly ORDER BY eventtime DESC"},
	{"Calls by service and operation", "Every service and call with its count.", "SELECT eventsource, eventname, count(*) AS calls FROM $EDS_ID GROUP BY 1, 2 ORDER BY 1, calls DESC"},
	{"Rare calls", "Calls made only a few times: worth a look.", "SELECT eventsource, eventname, count(*) AS calls FROM $EDS_ID GROUP BY 1, 2 HAVING count(*) <= 3 ORDER BY calls, 1, 2"},
	{"Services used per account", "How many services each account uses.", "SELECT recipientaccountid, count(DISTINCT eventsource) AS services FROM $EDS_ID GROUP BY 1 ORDER BY services DESC"},
	{"Accounts and Regions", "Events per account and Region.", "SELECT recipientaccountid, awsregion, count(*) AS events FROM $EDS_ID GROUP BY 1, 2 ORDER BY events DESC"},
	{"Daily distinct callers", "How many identities call each day.", "SELECT date_trunc('day', eventtime) AS day, approx_distinct(useridentity.arn) AS callers FROM $EDS_ID GROUP BY 1 ORDER BY 1"},
	{"Busiest hours", "The hours with the most calls.", "SELECT date_trunc('hour', eventtime) AS hour, count(*) AS calls FROM $EDS_ID GROUP BY 1 ORDER BY calls DESC LIMIT 24"},
	{"Activity outside working hours", "Calls made at night (UTC) or at the weekend.", "SELECT useridentity.arn, count(*) AS calls FROM $EDS_ID WHERE hour(eventtime) NOT BETWEEN 7 AND 19 OR day_of_week(eventtime) IN (6, 7) GROUP BY 1 ORDER BY calls DESC LIMIT 20"},
	{"First and last event", "The time span the store holds.", "SELECT min(eventtime) AS first_event, max(eventtime) AS last_event, count(*) AS events FROM $EDS_ID"},
	{"Event versions", "Records by eventVersion of the CloudTrail format.", "SELECT eventversion, count(*) AS events FROM $EDS_ID GROUP BY 1 ORDER BY 1"},
	{"Event categories and types", "Events by category and type.", "SELECT eventcategory, eventtype, count(*) AS events FROM $EDS_ID GROUP BY 1, 2 ORDER BY events DESC"},
	{"Calls on one resource", "Every call that names a given resource ARN (change the ARN).", "SELECT eventtime, eventname, useridentity.arn FROM $EDS_ID WHERE contains(transform(resources, r -> r.arn), 'arn:aws:s3:::example-bucket') ORDER BY eventtime DESC"},
	{"Resources by type", "The kinds of resources calls name.", "SELECT r.type, count(*) AS calls FROM (SELECT unnest(resources) AS r FROM $EDS_ID) GROUP BY 1 ORDER BY calls DESC"},
	{"One event in full", "The whole record of one event (change the eventID).", "SELECT eventjson FROM $EDS_ID WHERE eventid = '00000000-0000-0000-0000-000000000000'"},
	{"Calls from one address", "Everything done from one source IP address (change the address).", "SELECT eventtime, eventname, useridentity.arn FROM $EDS_ID WHERE sourceipaddress = '203.0.113.10' ORDER BY eventtime DESC"},
	{"Calls in the last 24 hours", "The latest day of activity.", "SELECT eventtime, eventname, useridentity.arn FROM $EDS_ID WHERE eventtime > date_add('hour', -24, now()) ORDER BY eventtime DESC LIMIT 1000"},
	{"TLS versions", "The TLS versions clients use.", "SELECT tlsdetails.tlsversion, count(*) AS calls FROM $EDS_ID WHERE tlsdetails IS NOT NULL GROUP BY 1 ORDER BY calls DESC"},
}

// relevance scores how well a sample matches the words of a search.
func relevance(s SampleQuery, words []string) float64 {
	name, desc, sql := strings.ToLower(s.Name), strings.ToLower(s.Description), strings.ToLower(s.SQL)
	score := 0.0
	for _, w := range words {
		switch {
		case strings.Contains(name, w):
			score += 3
		case strings.Contains(desc, w):
			score += 2
		case strings.Contains(sql, w):
			score += 1
		}
	}
	return score / float64(3*len(words))
}

type searchRequest struct {
	SearchPhrase string
	MaxResults   *int
	NextToken    string
}

type searchResult struct {
	Name        string
	Description string
	SQL         string
	Relevance   float64
}

// SearchSampleQueriesOp searches the sample queries.
func SearchSampleQueriesOp() awsapi.Op {
	return awsapi.Op{ReadOnly: true, Handle: func(ctx context.Context, c *awsapi.Call) (any, error) {
		var req searchRequest
		if err := c.Decode(&req); err != nil {
			return nil, err
		}
		phrase := strings.TrimSpace(req.SearchPhrase)
		if len(phrase) < 2 || len(phrase) > 1000 {
			return nil, awsapi.Errorf(awsapi.CodeValidation, "SearchPhrase must be 2 to 1000 characters.")
		}
		max := 10
		if req.MaxResults != nil {
			if *req.MaxResults < 1 || *req.MaxResults > 50 {
				return nil, awsapi.Errorf(awsapi.CodeValidation, "MaxResults must be between 1 and 50.")
			}
			max = *req.MaxResults
		}
		words := strings.Fields(strings.ToLower(phrase))
		var hits []searchResult
		for _, s := range Samples {
			if r := relevance(s, words); r > 0 {
				hits = append(hits, searchResult{s.Name, s.Description, s.SQL, r})
			}
		}
		sort.SliceStable(hits, func(i, j int) bool { return hits[i].Relevance > hits[j].Relevance })
		items, next, err := page(hits, req.NextToken, max)
		if err != nil {
			return nil, err
		}
		return struct {
			SearchResults []searchResult
			NextToken     string `json:",omitempty"`
		}{append([]searchResult{}, items...), next}, nil
	}}
}
