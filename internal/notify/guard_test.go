package notify

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestGuardAddresses(t *testing.T) {
	refused := []string{
		"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", // loopback, also IPv4-mapped
		"169.254.169.254", "::ffff:169.254.169.254", "fe80::1", "fe80::1%eth0", // link-local, the metadata endpoint
		"10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "::ffff:10.0.0.1", "fc00::1", "fd12:3456::1", // private
		"0.0.0.0", "::", "0.1.2.3", // unspecified, "this network"
		"224.0.0.1", "239.255.255.250", "ff02::1", "ff05::2", // multicast
		"255.255.255.255", "240.0.0.1", // broadcast, reserved
		"100.64.0.1", "100.127.255.255", // CGNAT
		"64:ff9b::a9fe:a9fe", "64:ff9b:1::1", // NAT64 into IPv4
		"2002:7f00:1::", "2002:a9fe:a9fe::1", // 6to4 of loopback and the metadata endpoint
		"::127.0.0.1", "::ffff:0:7f00:1", "fec0::1", "2001::1", "192.0.0.170",
	}
	allowed := []string{
		"8.8.8.8", "203.0.113.7", "1.1.1.1", "::ffff:8.8.8.8", "2606:4700:4700::1111", "2002:808:808::1",
		"100.63.255.255", "100.128.0.0", "172.15.255.255", "172.32.0.0", "11.0.0.1",
	}
	g := NewGuard(nil)
	for _, s := range refused {
		if g.Allows(netip.MustParseAddr(s)) {
			t.Errorf("%s allowed", s)
		}
	}
	for _, s := range allowed {
		if !g.Allows(netip.MustParseAddr(s)) {
			t.Errorf("%s refused", s)
		}
	}
	// The operator's networks, and nothing more.
	list, err := ParseAllowList("127.0.0.0/8, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	g = NewGuard(list)
	for s, want := range map[string]bool{
		"127.0.0.1": true, "127.9.9.9": true, "::ffff:127.0.0.1": true, "fd12::1": true,
		"::1": false, "10.0.0.1": false, "169.254.169.254": false, "8.8.8.8": true,
	} {
		if got := g.Allows(netip.MustParseAddr(s)); got != want {
			t.Errorf("with %v: %s allowed %v, want %v", list, s, got, want)
		}
	}
}

func TestParseAllowList(t *testing.T) {
	got, err := ParseAllowList(" 10.0.0.1/8,fd00::/8,,192.168.1.5 ")
	if err != nil {
		t.Fatal(err)
	}
	if want := "[10.0.0.0/8 fd00::/8 192.168.1.5/32]"; fmt.Sprint(got) != want {
		t.Errorf("got %v, want %s", got, want)
	}
	if l, err := ParseAllowList(""); err != nil || len(l) != 0 {
		t.Errorf("empty list: %v, %v", l, err)
	}
	for _, bad := range []string{"10.0.0.0/33", "x", "10.0.0.0/8;rm", "fe80::1%eth0", "localhost"} {
		if _, err := ParseAllowList(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestCreateRefusesInternalWebhooks refuses at creation the webhooks whose
// URL already names an internal address, in every spelling a resolver
// reads as one.
func TestCreateRefusesInternalWebhooks(t *testing.T) {
	internal := []string{
		"http://127.0.0.1/", "http://127.0.0.1:8080/x", "https://[::1]/", "http://[::ffff:127.0.0.1]/",
		"http://169.254.169.254/latest/meta-data/", "http://[fe80::1%25eth0]/", "http://10.0.0.1/", "http://[fd00::1]/",
		"http://0.0.0.0:4750/", "http://2130706433/", "http://0x7f000001/", "http://0177.0.0.1/", "http://127.1/",
		"http://0x7f.1/", "http://localhost:4750/", "http://LocalHost./", "http://hooks.localhost/", "http://100.64.0.1/",
		"http://224.0.0.1/", "http://255.255.255.255/",
	}
	topics := openTopics(t)
	for i, u := range internal {
		if _, err := topics.Create(acct, "us-east-1", "t"+string(rune('a'+i)), u); !errors.Is(err, ErrWebhookNotAllowed) {
			t.Errorf("%s: %v, want ErrWebhookNotAllowed", u, err)
		}
	}
	for i, u := range []string{"https://hooks.example.com/", "http://203.0.113.7:8080/", "http://[2606:4700::1111]/", "http://134744072/"} {
		if _, err := topics.Create(acct, "us-east-1", "ok"+string(rune('a'+i)), u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	// The operator's networks are allowed.
	allowing := openTopics(t, "127.0.0.0/8")
	for i, u := range []string{"http://127.0.0.1:8080/", "http://localhost/", "http://2130706433/"} {
		if _, err := allowing.Create(acct, "us-east-1", "al"+string(rune('a'+i)), u); err != nil {
			t.Errorf("with 127.0.0.0/8 allowed, %s: %v", u, err)
		}
	}
	if _, err := allowing.Create(acct, "us-east-1", "v6", "http://[::1]/"); !errors.Is(err, ErrWebhookNotAllowed) {
		t.Errorf("with 127.0.0.0/8 allowed, [::1]: %v", err)
	}
}

// fakeDNS answers every A query with ip, and AAAA queries with nothing:
// the name server of a tenant who points a name at an internal address.
func fakeDNS(ip [4]byte) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		client, server := net.Pipe()
		go func() {
			defer server.Close()
			r := bufio.NewReader(server)
			for {
				// Over a stream: a 2-byte length, then the message.
				var l [2]byte
				if _, err := io.ReadFull(r, l[:]); err != nil {
					return
				}
				q := make([]byte, binary.BigEndian.Uint16(l[:]))
				if _, err := io.ReadFull(r, q); err != nil || len(q) < 17 {
					return
				}
				i := 12
				for i < len(q) && q[i] != 0 {
					i += int(q[i]) + 1
				}
				if i+5 > len(q) {
					return
				}
				resp := append([]byte{q[0], q[1], 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0}, q[12:i+5]...)
				if binary.BigEndian.Uint16(q[i+1:]) == 1 { // A
					resp[7] = 1
					resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, ip[0], ip[1], ip[2], ip[3])
				}
				binary.BigEndian.PutUint16(l[:], uint16(len(resp)))
				if _, err := server.Write(append(l[:], resp...)); err != nil {
					return
				}
			}
		}()
		return client, nil
	}}
}

// guarded returns a running notifier whose webhooks are those given, made
// when any address was allowed (topics older than the server's current
// rule, or names, which creation does not resolve), and which now
// connects through guard. Names resolve to 127.0.0.1.
func guarded(t *testing.T, guard *Guard, webhooks ...string) (*Notifier, []string) {
	t.Helper()
	topics := openTopics(t, "0.0.0.0/0", "::/0")
	var arns []string
	for i, u := range webhooks {
		tp, err := topics.Create(acct, "us-east-1", "w"+string(rune('a'+i)), u)
		if err != nil {
			t.Fatal(err)
		}
		arns = append(arns, tp.ARN)
	}
	guard.resolver = fakeDNS([4]byte{127, 0, 0, 1})
	topics.guard = guard
	n := New(topics, nil)
	n.backoff, n.maxBackoff, n.timeout, n.attempts = time.Millisecond, 2*time.Millisecond, 5*time.Second, 2
	run(t, n)
	return n, arns
}

// TestWebhookRefusedAtConnect points webhooks at a loopback server in
// every form, names included: none reaches it, and each fails with the
// same words. Allowed, the same webhooks reach it.
func TestWebhookRefusedAtConnect(t *testing.T) {
	w := newWebhook(t)
	port := w.Listener.Addr().(*net.TCPAddr).Port
	hooks := []string{}
	for _, host := range []string{"127.0.0.1", "[::ffff:127.0.0.1]", "0.0.0.0", "localhost", "2130706433", "hooks.rebind.test", "[::1]"} {
		hooks = append(hooks, "http://"+host+":"+strconv.Itoa(port)+"/hook")
	}
	n, arns := guarded(t, NewGuard(nil), hooks...)
	for i, arn := range arns {
		err := wait(t, notify(n, arn, "b", "k"))
		if !errors.Is(err, ErrUnreachable) || err.Error() != ErrUnreachable.Error()+" (gave up after 2 attempts)" {
			t.Errorf("%s: %v", hooks[i], err)
		}
	}
	if got := w.hits.Load(); got != 0 {
		t.Fatalf("%d requests reached the loopback server", got)
	}

	list, _ := ParseAllowList("127.0.0.0/8,::1/128")
	n, arns = guarded(t, NewGuard(list), hooks[0], hooks[3], hooks[5])
	for i, arn := range arns {
		if err := wait(t, notify(n, arn, "b", "k")); err != nil {
			t.Errorf("allowed, webhook %d: %v", i, err)
		}
	}
	if got := w.hits.Load(); got != 3 {
		t.Errorf("allowed: %d requests, want 3", got)
	}
}

// TestWebhookRedirectToLoopback: an allowed webhook that redirects to an
// address that is not allowed gets its answer recorded; the redirect is
// not followed.
func TestWebhookRedirectToLoopback(t *testing.T) {
	inner := newWebhook(t)
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 here: %v", err)
	}
	innerSrv := &http.Server{Handler: inner.Config.Handler}
	go innerSrv.Serve(ln)
	t.Cleanup(func() { innerSrv.Close() })
	outer := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		http.Redirect(rw, r, "http://"+ln.Addr().String()+"/internal", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(outer.Close)
	list, _ := ParseAllowList("127.0.0.1/32")
	n, arns := guarded(t, NewGuard(list), outer.URL)
	err = wait(t, notify(n, arns[0], "b", "k"))
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusTemporaryRedirect {
		t.Errorf("err = %v, want the redirect as the answer", err)
	}
	if got := inner.hits.Load(); got != 0 {
		t.Errorf("the redirect was followed: %d requests inside", got)
	}
}

// TestWebhookErrorsSayNothingOfTheTarget: a closed port and a server that
// answers, both internal, fail with the same words; an allowed server's
// own words (its reason phrase) are not repeated, only its status code.
func TestWebhookErrorsSayNothingOfTheTarget(t *testing.T) {
	answering := newWebhook(t, 500, 500, 500)
	closed := newWebhook(t)
	closed.Close()
	n, arns := guarded(t, NewGuard(nil), answering.URL, closed.URL)
	a, c := wait(t, notify(n, arns[0], "b", "k")), wait(t, notify(n, arns[1], "b", "k"))
	if a == nil || c == nil || a.Error() != c.Error() {
		t.Errorf("answering: %v\nclosed: %v", a, c)
	}

	chatty := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		conn, buf, _ := rw.(http.Hijacker).Hijack()
		defer conn.Close()
		buf.WriteString("HTTP/1.1 503 db at 10.0.0.5:5432 is down\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		buf.Flush()
	}))
	t.Cleanup(chatty.Close)
	list, _ := ParseAllowList("127.0.0.0/8")
	n, arns = guarded(t, NewGuard(list), chatty.URL)
	err := wait(t, notify(n, arns[0], "b", "k"))
	if err == nil || strings.Contains(err.Error(), "10.0.0.5") ||
		err.Error() != "notification delivery failed: the webhook answered HTTP 503 Service Unavailable (gave up after 2 attempts)" {
		t.Errorf("err = %v", err)
	}
}

// TestWebhookClientTakesNoProxy: a proxy from the environment would
// connect for cairn, past the guard.
func TestWebhookClientTakesNoProxy(t *testing.T) {
	tr := NewGuard(nil).client().Transport.(*http.Transport)
	if tr.Proxy != nil {
		t.Error("the webhook client uses a proxy")
	}
	if NewGuard(nil).client().CheckRedirect == nil {
		t.Error("the webhook client follows redirects")
	}
}
