// Package client is how cairn's own commands talk to a running server: AWS
// JSON 1.1 calls signed with SigV4, with credentials from the usual AWS
// sources (environment, shared credentials file, profile).
package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
)

// DefaultEndpoint is where a server started with no flags listens.
const DefaultEndpoint = "http://127.0.0.1:4750"

// CloudTrailTarget is the X-Amz-Target prefix of CloudTrail's operations.
const CloudTrailTarget = "CloudTrail_20131101"

// Options choose the server and the identity.
type Options struct {
	Endpoint string // "" → CAIRN_ENDPOINT, else DefaultEndpoint
	Profile  string // AWS profile name
	Region   string // "" → the configured region, else us-east-1
	// AccountID, for an administrator key, acts on another account.
	AccountID string
}

// Client makes signed calls.
type Client struct {
	endpoint string
	region   string
	account  string
	creds    aws.CredentialsProvider
	signer   *v4.Signer
	http     *http.Client
}

// APIError is an error answered by the server, in AWS's shape.
type APIError struct {
	Code    string
	Message string
	Status  int
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

// New loads credentials and returns a client.
func New(ctx context.Context, o Options) (*Client, error) {
	var opts []func(*config.LoadOptions) error
	if o.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(o.Profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	c := &Client{
		endpoint: o.Endpoint,
		region:   o.Region,
		account:  o.AccountID,
		creds:    cfg.Credentials,
		signer:   v4.NewSigner(),
		http:     &http.Client{Timeout: 5 * time.Minute},
	}
	if c.endpoint == "" {
		c.endpoint = os.Getenv("CAIRN_ENDPOINT")
	}
	if c.endpoint == "" {
		c.endpoint = DefaultEndpoint
	}
	c.endpoint = strings.TrimRight(c.endpoint, "/")
	if c.region == "" {
		c.region = cfg.Region
	}
	if c.region == "" {
		c.region = "us-east-1"
	}
	if c.creds == nil {
		return nil, fmt.Errorf("no AWS credentials found: set AWS_SHARED_CREDENTIALS_FILE to <data-dir>/credentials, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	return c, nil
}

// Region is the region calls are signed for.
func (c *Client) Region() string { return c.region }

// Endpoint is the server's URL.
func (c *Client) Endpoint() string { return c.endpoint }

// Call invokes target.op with in as the JSON body and decodes the result
// into out (if not nil).
func (c *Client) Call(ctx context.Context, target, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.CallRaw(ctx, target, op, body, out)
}

// CallRaw is Call with a body already encoded.
func (c *Client) CallRaw(ctx context.Context, target, op string, body []byte, out any) error {
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("AWS credentials: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint+"/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target+"."+op)
	req.Header.Set("User-Agent", "cairn-cli")
	if c.account != "" {
		req.Header.Set("X-Cairn-Account-Id", c.account)
	}
	sum := sha256.Sum256(body)
	if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "cloudtrail", c.region, time.Now()); err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach cairn at %s: %w", c.endpoint, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"Message"`
			Lower   string `json:"message"`
		}
		if json.Unmarshal(rb, &e) != nil || e.Type == "" {
			return &APIError{Code: http.StatusText(resp.StatusCode), Message: strings.TrimSpace(string(rb)), Status: resp.StatusCode}
		}
		if e.Message == "" {
			e.Message = e.Lower
		}
		return &APIError{Code: e.Type, Message: e.Message, Status: resp.StatusCode}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(rb, out)
}

// ClearAccount stops acting on another account: for calls whose body names
// the account themselves.
func (c *Client) ClearAccount() { c.account = "" }

// InRegion returns a copy of the client that signs for region.
func (c *Client) InRegion(region string) *Client {
	cp := *c
	cp.region = region
	return &cp
}

// ForAccount returns a copy of the client acting on account (an
// administrator key may act on any account).
func (c *Client) ForAccount(account string) *Client {
	cp := *c
	cp.account = account
	return &cp
}
