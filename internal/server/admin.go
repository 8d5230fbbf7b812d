package server

import (
	"context"
	"errors"

	"github.com/cairn-audit/cairn/internal/auth"
	"github.com/cairn-audit/cairn/internal/awsapi"
)

type createAccountRequest struct {
	AccountID string `json:"AccountId"`
	Name      string `json:"Name"`
}

type createKeyRequest struct {
	AccountID string `json:"AccountId"`
	UserName  string `json:"UserName"`
}

// AccessKeyResult is CreateAccessKey's output.
type AccessKeyResult struct {
	AccessKeyID     string      `json:"AccessKeyId"`
	SecretAccessKey string      `json:"SecretAccessKey"`
	AccountID       string      `json:"AccountId"`
	UserName        string      `json:"UserName,omitempty"`
	Arn             string      `json:"Arn"`
	CreateDate      awsapi.Time `json:"CreateDate"`
}

// adminOps are cairn's own account operations.
func adminOps(dir *auth.Directory) map[string]awsapi.Op {
	return map[string]awsapi.Op{
		"CreateAccount": {AdminOnly: true, Handle: awsapi.Typed(func(ctx context.Context, c *awsapi.Call, req *createAccountRequest) (any, error) {
			a, err := dir.CreateAccount(req.AccountID, req.Name)
			switch {
			case errors.Is(err, auth.ErrAccountExists):
				return nil, awsapi.Errorf(awsapi.CodeAccountAlreadyExists, "Account %s already exists.", req.AccountID)
			case errors.Is(err, auth.ErrInvalidAccount):
				return nil, awsapi.Errorf(awsapi.CodeValidation, "AccountId %q is not valid: an account ID is 12 digits.", req.AccountID)
			case err != nil:
				return nil, err
			}
			return accountView(a), nil
		})},
		"ListAccounts": {ReadOnly: true, Handle: func(ctx context.Context, c *awsapi.Call) (any, error) {
			var out []any
			for _, a := range dir.Accounts() {
				if c.Principal.Admin || a.ID == c.Principal.Key.AccountID {
					out = append(out, accountView(a))
				}
			}
			if out == nil {
				out = []any{}
			}
			return map[string]any{"Accounts": out}, nil
		}},
		"CreateAccessKey": {Redact: map[string]awsapi.Redaction{"SecretAccessKey": awsapi.HideValue}, Handle: awsapi.Typed(func(ctx context.Context, c *awsapi.Call, req *createKeyRequest) (any, error) {
			if req.AccountID == "" {
				req.AccountID = c.AccountID
			}
			if req.AccountID != c.Principal.Key.AccountID && !c.Principal.Admin {
				return nil, awsapi.Errorf(awsapi.CodeAccessDenied, "User: %s is not authorized to perform: CreateAccessKey on account %s.", c.Principal.ARN(), req.AccountID)
			}
			// A user's key may mint keys for that user alone: a key for the
			// root or another user would let it act, in the trail, under a
			// name that is not its own. The root and the administrator
			// manage every user of their accounts.
			if !c.Principal.Admin && c.Principal.Key.UserName != "" && req.UserName != c.Principal.Key.UserName {
				return nil, awsapi.Errorf(awsapi.CodeAccessDenied, "User: %s is not authorized to perform: CreateAccessKey on %s.", c.Principal.ARN(), auth.Principal{Key: auth.Key{AccountID: req.AccountID, UserName: req.UserName}}.ARN())
			}
			k, err := dir.CreateKey(req.AccountID, req.UserName)
			switch {
			case errors.Is(err, auth.ErrNoSuchAccount):
				return nil, awsapi.Errorf(awsapi.CodeAccountNotFound, "Account %s does not exist. Create it first with `cairn accounts create`.", req.AccountID)
			case errors.Is(err, auth.ErrInvalidUser):
				return nil, awsapi.Errorf(awsapi.CodeValidation, "UserName %q is not valid: use 1-64 letters, digits and +=,.@_-", req.UserName)
			case err != nil:
				return nil, err
			}
			return AccessKeyResult{
				AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey, AccountID: k.AccountID,
				UserName: k.UserName, Arn: auth.Principal{Key: k}.ARN(), CreateDate: awsapi.Time{Time: k.Created},
			}, nil
		})},
	}
}

func accountView(a auth.Account) map[string]any {
	return map[string]any{"AccountId": a.ID, "Name": a.Name, "CreatedTime": awsapi.Time{Time: a.Created}, "Administrator": a.Admin}
}
