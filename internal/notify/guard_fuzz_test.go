package notify

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

// FuzzWebhookHost reads arbitrary webhook URLs: no panic; a host read as
// an address is the address netip reads where netip reads one, and an
// inet_aton number only when it is made of numbers; a webhook accepted by
// the default guard never names an internal address.
func FuzzWebhookHost(f *testing.F) {
	for _, s := range []string{
		"http://127.0.0.1/", "http://2130706433/", "http://0x7f.1/", "http://0177.0.0.1:80/", "http://[::ffff:127.0.0.1]/",
		"http://[fe80::1%25eth0]/", "http://localhost./", "http://a.localhost/", "http://hooks.example.com/", "http://1.2.3.4.5/",
		"http://0x/", "http://08.1/", "http://4294967296/", "http://u:p@h/", "https://[2002:7f00:1::]:8443/x",
	} {
		f.Add(s)
	}
	topics := &Topics{guard: NewGuard(nil)}
	f.Fuzz(func(t *testing.T, u string) {
		err := topics.validWebhook(u)
		host := ""
		if i := strings.Index(u, "://"); i >= 0 {
			host = u[i+3:]
		}
		a, ok := literal(host)
		if want, perr := netip.ParseAddr(host); perr == nil && (!ok || a != want) {
			t.Fatalf("literal(%q) = %v, %v; netip reads %v", host, a, ok, want)
		}
		if ok && err == nil && strings.HasPrefix(u, "http") && !strings.ContainsAny(host, "/:@?#[%") && !NewGuard(nil).Allows(a) {
			t.Fatalf("%q accepted, naming internal %v", u, a)
		}
		if _, perr := netip.ParseAddr(host); perr != nil && ok && !strings.Contains(asciiLower(host), "localhost") {
			for _, p := range strings.Split(host, ".") {
				p = strings.TrimPrefix(strings.TrimPrefix(p, "0x"), "0X")
				if _, err := strconv.ParseUint(p, 16, 64); err != nil && p != "" {
					t.Fatalf("inetAton(%q) read a part %q that is not a number", host, p)
				}
			}
		}
	})
}
