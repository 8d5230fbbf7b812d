package notify

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/cairn-audit/cairn/internal/awsapi"
)

func call(t *testing.T, ops map[string]awsapi.Op, op, region, body string) (string, error) {
	t.Helper()
	res, err := ops[op].Handle(t.Context(), &awsapi.Call{Operation: op, AccountID: acct, Region: region, Body: []byte(body)})
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), nil
}

func code(err error) string {
	var e *awsapi.Error
	if errors.As(err, &e) {
		return e.Code + ": " + e.Message
	}
	return "not an API error: " + err.Error()
}

func TestOps(t *testing.T) {
	topics := openTopics(t)
	topics.now = func() time.Time { return time.Unix(1793534400, 0) }
	ops := Ops(topics)
	if !ops["ListTopics"].ReadOnly || ops["CreateTopic"].ReadOnly || ops["DeleteTopic"].ReadOnly {
		t.Error("only ListTopics is read-only")
	}

	for _, tc := range []struct{ op, region, body, want string }{
		{"CreateTopic", "us-east-1", `{"Name":"alerts","Webhook":"https://h.example.com/a"}`, `{"TopicArn":"arn:aws:sns:us-east-1:111122223333:alerts"}`},
		{"CreateTopic", "us-east-1", `{"Name":"alerts","Webhook":"https://h.example.com/a"}`, `{"TopicArn":"arn:aws:sns:us-east-1:111122223333:alerts"}`},
		{"CreateTopic", "eu-west-1", `{"Name":"alerts","Webhook":"https://h.example.com/b"}`, `{"TopicArn":"arn:aws:sns:eu-west-1:111122223333:alerts"}`},
		{"CreateTopic", "us-east-1", `{"Name":"alerts","Webhook":"https://h.example.com/other"}`, `TopicAlreadyExistsException: Topic alerts already exists with a different webhook. Delete it first with ` + "`cairn topics delete alerts`."},
		{"CreateTopic", "us-east-1", `{"Name":"bad name","Webhook":"https://h.example.com/"}`, "InvalidParameterException: Invalid parameter: Topic Name. Use 1-256 letters, digits, hyphens and underscores."},
		{"CreateTopic", "us-east-1", `{"Name":"q.fifo","Webhook":"https://h.example.com/"}`, "InvalidParameterException: Invalid parameter: Topic Name. CloudTrail does not publish to FIFO topics (.fifo)."},
		{"CreateTopic", "us-east-1", `{"Name":"x","Webhook":"ftp://h.example.com/"}`, "InvalidParameterException: Invalid parameter: Webhook. Use an http or https URL with a host and no user information, of at most 2048 characters."},
		{"CreateTopic", "us-east-1", `{"Name":"x","Webhook":"http://169.254.169.254/latest/meta-data/"}`, "InvalidParameterException: Invalid parameter: Webhook. Notifications are not sent to loopback, private, link-local, multicast or other internal addresses unless the server allows their network."},
		{"CreateTopic", "us-east-1", `{"Name":7}`, "SerializationException: Unexpected value for member Name: expected string."},
		{"ListTopics", "us-east-1", ``, `{"Topics":[{"TopicArn":"arn:aws:sns:us-east-1:111122223333:alerts","Webhook":"https://h.example.com/a","CreationDate":1793534400}]}`},
		{"DeleteTopic", "us-east-1", `{"Name":"alerts"}`, `{}`},
		{"DeleteTopic", "us-east-1", `{"Name":"alerts"}`, "NotFoundException: Topic does not exist"},
		{"ListTopics", "us-east-1", `{}`, `{"Topics":[]}`},
		{"ListTopics", "eu-west-1", `{}`, `{"Topics":[{"TopicArn":"arn:aws:sns:eu-west-1:111122223333:alerts","Webhook":"https://h.example.com/b","CreationDate":1793534400}]}`},
	} {
		got, err := call(t, ops, tc.op, tc.region, tc.body)
		if err != nil {
			got = code(err)
		}
		if got != tc.want {
			t.Errorf("%s %s %s:\n got %s\nwant %s", tc.op, tc.region, tc.body, got, tc.want)
		}
	}
}
