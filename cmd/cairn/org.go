package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/cairn-audit/cairn/internal/ingest"
)

type orgOutput struct {
	Organization struct {
		Id                  string
		ManagementAccountId string
		Members             []string
	}
}

// runOrg manages organizations: a management account and its members,
// which organization trails cover.
func runOrg(ctx context.Context, args []string) error {
	const usage = "usage: cairn org create MANAGEMENT_ACCOUNT | add ORG_ID ACCOUNT | remove ORG_ID ACCOUNT | describe [ORG_ID] | delete ORG_ID"
	if len(args) == 0 {
		return fmt.Errorf("%s", usage)
	}
	var cf clientFlags
	fs := newFlagSet("org "+args[0], strings.TrimPrefix(usage, "usage: cairn org "))
	cf.register(fs)
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	var (
		op  string
		req map[string]string
	)
	switch {
	case args[0] == "create" && len(pos) == 1:
		op, req = "CreateOrganization", map[string]string{"ManagementAccountId": pos[0]}
	case args[0] == "add" && len(pos) == 2:
		op, req = "AddOrganizationMember", map[string]string{"OrganizationId": pos[0], "AccountId": pos[1]}
	case args[0] == "remove" && len(pos) == 2:
		op, req = "RemoveOrganizationMember", map[string]string{"OrganizationId": pos[0], "AccountId": pos[1]}
	case args[0] == "describe" && len(pos) <= 1:
		op, req = "DescribeOrganization", map[string]string{}
		if len(pos) == 1 {
			req["OrganizationId"] = pos[0]
		}
	case args[0] == "delete" && len(pos) == 1:
		op, req = "DeleteOrganization", map[string]string{"OrganizationId": pos[0]}
	default:
		return fmt.Errorf("%s", usage)
	}
	c, err := cf.client(ctx)
	if err != nil {
		return err
	}
	if op != "DescribeOrganization" {
		c.ClearAccount()
	}
	var out orgOutput
	if err := c.Call(ctx, ingest.Target, op, req, &out); err != nil {
		return err
	}
	return render(cf.output, out, func() {
		if op == "DeleteOrganization" {
			fmt.Printf("deleted organization %s\n", req["OrganizationId"])
			return
		}
		o := out.Organization
		fmt.Printf("organization %s, management account %s, members %s\n", o.Id, o.ManagementAccountId, strings.Join(o.Members, " "))
	})
}
