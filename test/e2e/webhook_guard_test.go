package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

// TestWebhookAllowFlag: a server refuses topics whose webhook is on its
// own host or network, unless `serve --webhook-allow` names the network.
func TestWebhookAllowFlag(t *testing.T) {
	n := startNode(t, t.TempDir())
	for _, hook := range []string{"http://127.0.0.1:4750/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://2130706433/", "http://localhost/"} {
		if out, err := n.run("topics", "create", "internal", "--webhook", hook); err == nil || !strings.Contains(err.Error(), "InvalidParameterException") {
			t.Errorf("%s: %s %v", hook, out, err)
		}
	}
	n.stop()

	allowing := startNode(t, t.TempDir(), "--webhook-allow", "127.0.0.0/8")
	allowing.mustRun("topics", "create", "local", "--webhook", "http://127.0.0.1:4750/")
	if out, err := allowing.run("topics", "create", "metadata", "--webhook", "http://169.254.169.254/"); err == nil {
		t.Errorf("169.254.169.254 accepted with only 127.0.0.0/8 allowed: %s", out)
	}

	out, err := exec.Command(cairnBin, "serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--webhook-allow", "10.0.0.0/33").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--webhook-allow") {
		t.Errorf("a bad --webhook-allow: %v: %s", err, out)
	}
}
