package server

import (
	"context"
	"errors"

	"github.com/cairn-audit/cairn/internal/auth"
	"github.com/cairn-audit/cairn/internal/awsapi"
	"github.com/cairn-audit/cairn/internal/trail"
)

type orgRequest struct {
	OrganizationId      string
	ManagementAccountId string
	AccountId           string
}

func orgView(o auth.Organization) map[string]any {
	return map[string]any{"Organization": map[string]any{
		"Id": o.ID, "Arn": "arn:aws:organizations::" + o.Management + ":organization/" + o.ID,
		"MasterAccountId": o.Management, "ManagementAccountId": o.Management,
		"Members": o.Members, "CreatedTime": awsapi.Time{Time: o.Created},
	}}
}

func orgError(err error, req orgRequest) error {
	switch {
	case errors.Is(err, auth.ErrNoSuchAccount):
		return awsapi.Errorf(awsapi.CodeAccountNotFound, "Account does not exist. Create it first with `cairn accounts create`.")
	case errors.Is(err, auth.ErrInOrganization):
		return awsapi.Errorf(awsapi.CodeAlreadyInOrganization, "The account is already a member of an organization.")
	case errors.Is(err, auth.ErrNoOrganization):
		return awsapi.Errorf(awsapi.CodeAWSOrganizationsNotInUse, "Organization %s does not exist.", req.OrganizationId)
	case errors.Is(err, auth.ErrNotMember):
		return awsapi.Errorf(awsapi.CodeAccountNotFound, "Account %s is not a member of organization %s.", req.AccountId, req.OrganizationId)
	case errors.Is(err, auth.ErrManagementLeave):
		return awsapi.Errorf(awsapi.CodeConstraintViolation, "The management account cannot leave its organization.")
	}
	return err
}

// orgOps are cairn's organization operations. Changing organizations is
// the administrator's; any account may describe its own.
func orgOps(orgs *auth.Organizations) map[string]awsapi.Op {
	change := func(fn func(req orgRequest) (auth.Organization, error)) awsapi.Op {
		return awsapi.Op{AdminOnly: true, Handle: awsapi.Typed(func(ctx context.Context, c *awsapi.Call, req *orgRequest) (any, error) {
			o, err := fn(*req)
			if err != nil {
				return nil, orgError(err, *req)
			}
			return orgView(o), nil
		})}
	}
	return map[string]awsapi.Op{
		"CreateOrganization": change(func(req orgRequest) (auth.Organization, error) {
			return orgs.Create(req.ManagementAccountId)
		}),
		"AddOrganizationMember": change(func(req orgRequest) (auth.Organization, error) {
			return orgs.Add(req.OrganizationId, req.AccountId)
		}),
		"RemoveOrganizationMember": change(func(req orgRequest) (auth.Organization, error) {
			return orgs.Remove(req.OrganizationId, req.AccountId)
		}),
		"DeleteOrganization": {AdminOnly: true, Handle: awsapi.Typed(func(ctx context.Context, c *awsapi.Call, req *orgRequest) (any, error) {
			if err := orgs.Delete(req.OrganizationId); err != nil {
				if errors.Is(err, auth.ErrNoOrganization) {
					return nil, orgError(err, *req)
				}
				return nil, awsapi.Errorf(awsapi.CodeConstraintViolation, "%s", err.Error())
			}
			return struct{}{}, nil
		})},
		"DescribeOrganization": {ReadOnly: true, Handle: awsapi.Typed(func(ctx context.Context, c *awsapi.Call, req *orgRequest) (any, error) {
			var (
				o  auth.Organization
				ok bool
			)
			if req.OrganizationId != "" && c.Principal.Admin {
				o, ok = orgs.Get(req.OrganizationId)
			} else {
				o, ok = orgs.Of(c.AccountID)
			}
			if !ok {
				return nil, awsapi.Errorf(awsapi.CodeAWSOrganizationsNotInUse, "Your account is not a member of an organization.")
			}
			return orgView(o), nil
		})},
	}
}

// trailOrgs shows organizations to trails.
type trailOrgs struct{ orgs *auth.Organizations }

func (t trailOrgs) OrgOf(account string) (trail.Org, bool) {
	o, ok := t.orgs.Of(account)
	if !ok {
		return trail.Org{}, false
	}
	return trail.Org{ID: o.ID, Management: o.Management, Members: o.Members}, true
}
