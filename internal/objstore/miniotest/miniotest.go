// Package miniotest runs a real MinIO server for tests, so that the S3
// backend and delivery are tested against an S3 implementation rather than
// against cairn's idea of one. It owns the server process and its data
// directory for the life of one test; it knows nothing of what the test
// stores.
package miniotest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-audit/cairn/internal/objstore"
)

// readyTimeout bounds a start; MinIO is usually up in under a second.
const readyTimeout = 30 * time.Second

// Server is a running MinIO.
type Server struct {
	Endpoint  string // "http://127.0.0.1:PORT"
	AccessKey string
	SecretKey string
	Dir       string // the data directory, kept across Restart

	bin     string
	addr    string
	console string
	logPath string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start runs MinIO in a temporary directory and stops it when the test
// ends. Without a MinIO binary the test is skipped, or fails when
// CAIRN_REQUIRE_ALL=1 (as in CI, where a skip would hide a gap).
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := findBinary()
	if err != nil {
		if os.Getenv("CAIRN_REQUIRE_ALL") == "1" {
			t.Fatalf("MinIO is required (CAIRN_REQUIRE_ALL=1): %v", err)
		}
		t.Skipf("MinIO not available: %v", err)
	}
	addrs := freeAddrs(t, 2)
	s := &Server{
		AccessKey: "cairn" + randomHex(8),
		SecretKey: randomHex(20),
		Dir:       t.TempDir(),
		bin:       bin,
		addr:      addrs[0],
		console:   addrs[1],
		logPath:   filepath.Join(t.TempDir(), "minio.log"),
	}
	s.Endpoint = "http://" + s.addr
	// Registered after TempDir, so it runs before the directory goes.
	t.Cleanup(s.Stop)
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	return s
}

// findBinary looks where scripts/test.sh installs MinIO, after the
// explicit choice and PATH.
func findBinary() (string, error) {
	if b := os.Getenv("CAIRN_MINIO_BIN"); b != "" {
		if _, err := os.Stat(b); err != nil {
			return "", fmt.Errorf("CAIRN_MINIO_BIN: %w", err)
		}
		return b, nil
	}
	if b, err := exec.LookPath("minio"); err == nil {
		return b, nil
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			b := filepath.Join(dir, "bin", "minio")
			if st, err := os.Stat(b); err == nil && st.Mode()&0o111 != 0 {
				return b, nil
			}
		}
	}
	return "", errors.New("no minio in $CAIRN_MINIO_BIN, on PATH or in $(go env GOPATH)/bin; install it with scripts/test.sh")
}

func (s *Server) start() error {
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "server", s.Dir, "--address", s.addr, "--console-address", s.console)
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+s.AccessKey,
		"MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_UPDATE=off",
		"MINIO_BROWSER=off",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start MinIO: %w", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	if err := s.waitReady(done); err != nil {
		s.Stop()
		return fmt.Errorf("%w\nMinIO's output:\n%s", err, s.logTail())
	}
	return nil
}

func (s *Server) waitReady(exited <-chan struct{}) error {
	url := s.Endpoint + "/minio/health/live"
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-exited:
			return errors.New("MinIO exited before it was ready")
		default:
		}
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("MinIO not ready at %s after %v", url, readyTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(bytes.TrimSpace(b))
}

// Stop ends the server (SIGTERM, then SIGKILL after 10 s) and waits for
// it, leaving its data directory; a test simulates an outage with Stop and
// Restart. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// Restart starts the server again on the same directory and port, and
// waits until it is ready.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
}

// Store returns an S3 backend signed with the server's root credentials.
func (s *Server) Store(t testing.TB) *objstore.S3 {
	t.Helper()
	st, err := objstore.NewS3(context.Background(), objstore.S3Config{
		Endpoint: s.Endpoint, Region: "us-east-1", AccessKeyID: s.AccessKey, SecretAccessKey: s.SecretKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// freeAddrs picks n distinct loopback ports nobody listens on now.
// Another process could take one before MinIO does; on loopback in a test
// that is rare enough to accept.
func freeAddrs(t testing.TB, n int) []string {
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close() // held until all are picked, so none repeats
		out = append(out, l.Addr().String())
	}
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)[:n]
}
