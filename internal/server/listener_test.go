package server

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// TestLimitListener: with two connections open, a third is not accepted
// until one of them closes.
func TestLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := limitListener(inner, 2)
	defer ln.Close()
	accepted := make(chan net.Conn, 3)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	for range 3 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	first, second := <-accepted, <-accepted
	select {
	case <-accepted:
		t.Fatal("a third connection was accepted while two were open")
	case <-time.After(100 * time.Millisecond):
	}
	first.Close()
	first.Close() // a second Close must not free a second slot
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("the third connection was not accepted after one closed")
	}
	second.Close()
	ln.Close()
	if _, ok := <-accepted; ok {
		t.Fatal("Accept returned a connection after Close")
	}
}

// TestSlowClientsAreCut opens connections that send a signed request's
// headers and then its body a byte at a time, as the slow-body attack
// did, and one that never finishes its headers: the server closes them
// all once the read timeouts pass, instead of holding them open.
func TestSlowClientsAreCut(t *testing.T) {
	srv, _ := startMatrixServer(t, func(c *Config) { c.ReadTimeout = 300 * time.Millisecond })
	k := srv.RootKey()
	var conns []net.Conn
	for i := range 20 {
		c, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if i == 0 {
			fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\n") // headers never end
		} else {
			fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Length: 1000000\r\nX-Amz-Target: CloudTrail_20131101.LookupEvents\r\n"+
				"Authorization: AWS4-HMAC-SHA256 Credential=%s/20261208/us-east-1/cloudtrail/aws4_request, SignedHeaders=host;x-amz-date, Signature=00\r\n"+
				"X-Amz-Date: %s\r\n\r\n{", srv.Addr(), k.AccessKeyID, time.Now().UTC().Format("20060102T150405Z"))
		}
		conns = append(conns, c)
	}
	for i, c := range conns {
		if i == 0 {
			continue // checked below
		}
		cutoff := time.Now().Add(20 * time.Second)
		for {
			if time.Now().After(cutoff) {
				t.Fatalf("a slow body was still being read after 20 s")
			}
			if _, err := c.Write([]byte("x")); err != nil {
				break
			}
			buf := make([]byte, 512)
			c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			n, err := c.Read(buf)
			if n > 0 || (err != nil && !isTimeout(err)) {
				break // answered or closed
			}
		}
	}
	conns[0].SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadAll(conns[0]); err != nil {
		t.Fatalf("a connection that never finished its headers was not closed: %v", err)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
