// Package e2e runs the cairn binary as a user would: `cairn serve` on a
// loopback port, then its own client commands, the AWS SDK for Go, and (in
// clients_test.go) the AWS CLI and boto3 against it.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
)

var cairnBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cairn-e2e-bin")
	if err != nil {
		panic(err)
	}
	cairnBin = filepath.Join(dir, "cairn")
	build := exec.Command("go", "build", "-race", "-o", cairnBin, "../../cmd/cairn")
	if os.Getenv("CAIRN_E2E_NORACE") != "" {
		build = exec.Command("go", "build", "-o", cairnBin, "../../cmd/cairn")
	}
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build cairn:", err)
		os.Exit(1)
	}
	// A race-enabled binary sleeps a second at exit by default; the tests
	// run hundreds of short cairn commands.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// sharedData is the repository's folder of real CloudTrail records.
func sharedData(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("CAIRN_SHARED_DATA")
	if dir == "" {
		dir = "../../testdata/cloudtrail-real"
	}
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CAIRN_REQUIRE_ALL") != "" {
			t.Fatalf("real data set not found at %s", dir)
		}
		t.Skipf("real data set not found at %s", dir)
	}
	abs, _ := filepath.Abs(dir)
	return abs
}

// node is one running `cairn serve`.
type node struct {
	t        testing.TB
	cmd      *exec.Cmd
	dataDir  string
	endpoint string
	env      []string // AWS_* settings that make clients use the root key
	exited   chan struct{}
	log      *os.File
	args     []string // serve flags beyond the data dir and address
	extraEnv []string
}

var listening = regexp.MustCompile(`listening on (https?://[0-9.:]+) `)

// startNode starts cairn serve on a free loopback port with dataDir.
func startNode(t testing.TB, dataDir string, args ...string) *node {
	t.Helper()
	return startNodeEnv(t, dataDir, nil, args...)
}

// startNodeEnv starts cairn serve with extra environment variables.
func startNodeEnv(t testing.TB, dataDir string, env []string, args ...string) *node {
	t.Helper()
	logf, err := os.CreateTemp("", "cairn-serve-*.log")
	if err != nil {
		t.Fatal(err)
	}
	full := append([]string{"serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0"}, args...)
	cmd := exec.Command(cairnBin, full...)
	cmd.Env = append(append(os.Environ(), "CAIRN_ROOT_ACCOUNT_ID=111122223333"), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, cmd: cmd, dataDir: dataDir, exited: make(chan struct{}), log: logf, args: args, extraEnv: env}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if m := listening.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	go func() { cmd.Wait(); close(n.exited) }()
	select {
	case n.endpoint = <-addr:
	case <-n.exited:
		t.Fatalf("cairn serve exited at start; log in %s", logf.Name())
	case <-time.After(60 * time.Second):
		t.Fatalf("cairn serve did not start; log in %s", logf.Name())
	}
	n.env = []string{
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dataDir, "credentials"),
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_REGION=us-east-1",
		"AWS_DEFAULT_REGION=us-east-1",
		"CAIRN_ENDPOINT=" + n.endpoint,
	}
	n.waitHealthy()
	t.Cleanup(func() { n.stop() })
	return n
}

func (n *node) waitHealthy() {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(n.endpoint + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.t.Fatalf("cairn at %s never became healthy", n.endpoint)
}

// stop ends the server gracefully and fails the test if it does not exit cleanly.
func (n *node) stop() {
	select {
	case <-n.exited:
		return
	default:
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
		if code := n.cmd.ProcessState.ExitCode(); code != 0 {
			n.t.Errorf("cairn serve exited with %d; log in %s", code, n.log.Name())
		}
	case <-time.After(60 * time.Second):
		n.cmd.Process.Kill()
		n.t.Errorf("cairn serve did not stop within 60s of SIGTERM")
	}
}

// kill ends the server with SIGKILL.
func (n *node) kill() {
	n.cmd.Process.Kill()
	<-n.exited
}

// run runs a cairn client command against the node and returns stdout.
func (n *node) run(args ...string) (string, error) {
	cmd := exec.Command(cairnBin, args...)
	cmd.Env = append(withoutAWS(os.Environ()), n.env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("cairn %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

func (n *node) mustRun(args ...string) string {
	n.t.Helper()
	out, err := n.run(args...)
	if err != nil {
		n.t.Fatal(err)
	}
	return out
}

type keyPair struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string
	AccountID       string `json:"AccountId"`
}

// tenantKey creates the account (if needed) and a key for it.
func (n *node) tenantKey(account, user string) keyPair {
	n.t.Helper()
	if _, err := n.run("accounts", "create", "--account-id", account); err != nil && !strings.Contains(err.Error(), "AccountAlreadyExists") {
		n.t.Fatal(err)
	}
	args := []string{"keys", "create", "--account-id", account, "--output", "json"}
	if user != "" {
		args = append(args, "--user", user)
	}
	var k keyPair
	if err := json.Unmarshal([]byte(n.mustRun(args...)), &k); err != nil {
		n.t.Fatal(err)
	}
	return k
}

// rootKey reads the administrator key from the credentials file.
func (n *node) rootKey() keyPair {
	n.t.Helper()
	b, err := os.ReadFile(filepath.Join(n.dataDir, "credentials"))
	if err != nil {
		n.t.Fatal(err)
	}
	var k keyPair
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "aws_access_key_id = "); ok {
			k.AccessKeyID = v
		}
		if v, ok := strings.CutPrefix(line, "aws_secret_access_key = "); ok {
			k.SecretAccessKey = v
		}
	}
	return k
}

// sdk returns an AWS SDK for Go CloudTrail client for key in region.
func (n *node) sdk(k keyPair, region string) *cloudtrail.Client {
	return cloudtrail.New(cloudtrail.Options{
		Region:       region,
		BaseEndpoint: aws.String(n.endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(k.AccessKeyID, k.SecretAccessKey, ""),
		// Keep the SDK's standard retries: it retries net.ErrClosed, which
		// its transport can meet on loopback when a reply is faster than its
		// own request bookkeeping (aws-sdk-go-v2 issue 2737). A short backoff
		// keeps such retries from dominating the tests' run time.
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) { o.MaxBackoff = 20 * time.Millisecond; o.MaxAttempts = 8 }),
	})
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// withoutAWS drops the caller's AWS_* settings, so that only the node's
// credentials are in effect. (Setting them empty would not do: the AWS CLIs
// read an empty AWS_PROFILE as a profile named "".)
func withoutAWS(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "AWS_") {
			out = append(out, kv)
		}
	}
	return out
}
