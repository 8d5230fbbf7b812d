package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/cairn-audit/cairn/internal/ingest"
)

func runAccounts(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: cairn accounts create --account-id 12DIGITS [--name N] | cairn accounts list")
	}
	var cf clientFlags
	switch args[0] {
	case "create":
		fs := newFlagSet("accounts create", "--account-id 12DIGITS [--name NAME]")
		cf.register(fs)
		name := fs.String("name", "", "a name for the account")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if cf.account == "" {
			return fmt.Errorf("--account-id is required")
		}
		c, err := cf.client(ctx)
		if err != nil {
			return err
		}
		c.ClearAccount()
		var out map[string]any
		if err := c.Call(ctx, ingest.Target, "CreateAccount", map[string]string{"AccountId": cf.account, "Name": *name}, &out); err != nil {
			return err
		}
		return render(cf.output, out, func() { fmt.Printf("created account %s\n", cf.account) })
	case "list":
		fs := newFlagSet("accounts list", "")
		cf.register(fs)
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		c, err := cf.client(ctx)
		if err != nil {
			return err
		}
		var out struct {
			Accounts []struct {
				AccountID     string `json:"AccountId"`
				Name          string
				Administrator bool
			}
		}
		if err := c.Call(ctx, ingest.Target, "ListAccounts", struct{}{}, &out); err != nil {
			return err
		}
		return render(cf.output, out, func() {
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ACCOUNT\tNAME\tADMIN")
			for _, a := range out.Accounts {
				fmt.Fprintf(w, "%s\t%s\t%v\n", a.AccountID, a.Name, a.Administrator)
			}
			w.Flush()
		})
	}
	return fmt.Errorf("unknown accounts command %q: use create or list", args[0])
}

func runKeys(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "create" {
		return fmt.Errorf("usage: cairn keys create --account-id ID [--user NAME] [--output json]")
	}
	var cf clientFlags
	fs := newFlagSet("keys create", "--account-id ID [--user NAME] [--output json]")
	cf.register(fs)
	user := fs.String("user", "", "IAM-style user name; without it the key is the account's root user's")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	c, err := cf.client(ctx)
	if err != nil {
		return err
	}
	target := cf.account
	c.ClearAccount()
	var out struct {
		AccessKeyID     string `json:"AccessKeyId"`
		SecretAccessKey string
		AccountID       string `json:"AccountId"`
		UserName        string `json:",omitempty"`
		Arn             string
	}
	if err := c.Call(ctx, ingest.Target, "CreateAccessKey", map[string]string{"AccountId": target, "UserName": *user}, &out); err != nil {
		return err
	}
	return render(cf.output, out, func() {
		fmt.Printf("AccessKeyId      %s\nSecretAccessKey  %s\nAccountId        %s\nArn              %s\n", out.AccessKeyID, out.SecretAccessKey, out.AccountID, out.Arn)
	})
}

// render prints v as JSON, or calls table for the table form.
func render(format string, v any, table func()) error {
	if format == "json" {
		b, err := json.MarshalIndent(v, "", "    ")
		if err != nil {
			return err
		}
		fmt.Println(string(b))
		return nil
	}
	table()
	return nil
}
