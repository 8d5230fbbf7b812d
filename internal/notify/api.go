package notify

import (
	"context"
	"errors"

	"github.com/cairn-audit/cairn/internal/awsapi"
)

// CreateTopicRequest is CreateTopic's input.
type CreateTopicRequest struct {
	Name    string `json:"Name"`
	Webhook string `json:"Webhook"`
}

// CreateTopicResult is CreateTopic's output.
type CreateTopicResult struct {
	TopicArn string `json:"TopicArn"`
}

// DeleteTopicRequest is DeleteTopic's input.
type DeleteTopicRequest struct {
	Name string `json:"Name"`
}

// TopicView is one topic in ListTopics' output.
type TopicView struct {
	TopicArn     string      `json:"TopicArn"`
	Webhook      string      `json:"Webhook"`
	CreationDate awsapi.Time `json:"CreationDate"`
}

// ListTopicsResult is ListTopics' output.
type ListTopicsResult struct {
	Topics []TopicView `json:"Topics"`
}

// Ops are the topic operations, served under cairn's own target. Each acts
// on the call's account and region, as SNS's do: a topic is regional.
func Ops(t *Topics) map[string]awsapi.Op {
	return map[string]awsapi.Op{
		"CreateTopic": {Redact: map[string]awsapi.Redaction{"Webhook": awsapi.HideURLSecrets}, Handle: func(ctx context.Context, c *awsapi.Call) (any, error) {
			var req CreateTopicRequest
			if err := c.Decode(&req); err != nil {
				return nil, err
			}
			tp, err := t.Create(c.AccountID, c.Region, req.Name, req.Webhook)
			if errors.Is(err, ErrTopicExists) {
				// SNS answers a repeated CreateTopic with the existing
				// topic, so that setup scripts can be run again.
				if old, ok := t.Resolve(c.AccountID, c.Region, req.Name); ok && old.Webhook == req.Webhook {
					return CreateTopicResult{TopicArn: old.ARN}, nil
				}
				return nil, awsapi.Errorf(awsapi.CodeTopicAlreadyExists, "Topic %s already exists with a different webhook. Delete it first with `cairn topics delete %s`.", req.Name, req.Name)
			}
			if err != nil {
				return nil, apiError(err)
			}
			return CreateTopicResult{TopicArn: tp.ARN}, nil
		}},
		"ListTopics": {ReadOnly: true, Handle: func(ctx context.Context, c *awsapi.Call) (any, error) {
			out := ListTopicsResult{Topics: []TopicView{}}
			for _, tp := range t.List(c.AccountID) {
				if tp.Region == c.Region {
					out.Topics = append(out.Topics, TopicView{TopicArn: tp.ARN, Webhook: tp.Webhook, CreationDate: awsapi.Time{Time: tp.Created}})
				}
			}
			return out, nil
		}},
		"DeleteTopic": {Handle: func(ctx context.Context, c *awsapi.Call) (any, error) {
			var req DeleteTopicRequest
			if err := c.Decode(&req); err != nil {
				return nil, err
			}
			if err := t.Delete(c.AccountID, c.Region, req.Name); err != nil {
				return nil, apiError(err)
			}
			return struct{}{}, nil
		}},
	}
}

// apiError turns a registry error into the error the client sees; others
// are cairn's own failures.
func apiError(err error) error {
	switch {
	case errors.Is(err, ErrFIFOTopic):
		return awsapi.Errorf(awsapi.CodeInvalidParameter, "Invalid parameter: Topic Name. CloudTrail does not publish to FIFO topics (.fifo).")
	case errors.Is(err, ErrInvalidTopicName):
		return awsapi.Errorf(awsapi.CodeInvalidParameter, "Invalid parameter: Topic Name. Use 1-256 letters, digits, hyphens and underscores.")
	case errors.Is(err, ErrInvalidWebhook):
		return awsapi.Errorf(awsapi.CodeInvalidParameter, "Invalid parameter: Webhook. Use an http or https URL with a host and no user information, of at most %d characters.", maxWebhookLength)
	case errors.Is(err, ErrWebhookNotAllowed):
		return awsapi.Errorf(awsapi.CodeInvalidParameter, "Invalid parameter: Webhook. Notifications are not sent to loopback, private, link-local, multicast or other internal addresses unless the server allows their network.")
	case errors.Is(err, ErrInvalidRegion):
		return awsapi.Errorf(awsapi.CodeInvalidParameter, "Invalid parameter: Region. A region is lower-case letters, digits and hyphens.")
	case errors.Is(err, ErrInvalidAccount):
		return awsapi.Errorf(awsapi.CodeInvalidParameter, "Invalid parameter: AccountId. An account ID is 12 digits.")
	case errors.Is(err, ErrNoSuchTopic):
		return awsapi.Errorf(awsapi.CodeNotFound, "Topic does not exist")
	}
	return err
}
