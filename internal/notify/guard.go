package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Guard is the rule on where webhooks may connect: to public addresses,
// and to the networks the operator allows (cairn serve --webhook-allow).
// A tenant names the webhook, so without it cairn would make requests for
// tenants to its own loopback services, the cloud's metadata endpoint and
// the private network it runs in.
//
// The rule is applied to the address a connection is about to be made to,
// after DNS, so a name that resolves (or is rebound) to an internal
// address is refused like the address itself. Topic creation refuses what
// is already plainly internal in the URL.
type Guard struct {
	allow []netip.Prefix
	// resolver looks names up; nil is the system's. Tests give their own.
	resolver *net.Resolver
}

// NewGuard returns the guard that lets webhooks reach public addresses and
// the allowed networks.
func NewGuard(allow []netip.Prefix) *Guard {
	return &Guard{allow: append([]netip.Prefix(nil), allow...)}
}

// ParseAllowList reads a comma-separated list of networks in CIDR
// notation ("10.1.0.0/16,fd00::/8"); a bare address is its own /32 or
// /128. An empty string is the empty list.
func ParseAllowList(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil || a.Zone() != "" {
				return nil, fmt.Errorf("%q is not a network in CIDR notation (10.0.0.0/8, fd00::/8)", f)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// internal are the networks, beyond those netip classifies, that a
// webhook must not reach: they are this host, the network cairn runs in,
// or addresses that lead into either.
var internal = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"; 0.0.0.0 reaches this host
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT, the provider's internal network
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),   // network benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and the broadcast address
	netip.MustParsePrefix("::/96"),           // IPv4-compatible IPv6
	netip.MustParsePrefix("::ffff:0:0:0/96"), // IPv4-translated
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64, to any IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated, still routed by some)
	netip.MustParsePrefix("2001:10::/28"),    // ORCHID
	netip.MustParsePrefix("2001::/32"),       // Teredo, whose server and client are IPv4 inside
	netip.MustParsePrefix("ff00::/8"),        // multicast (also netip's)
	netip.MustParsePrefix("255.255.255.255/32"),
}

// sixToFour is 6to4, whose addresses carry an IPv4 address in bits 16-48.
var sixToFour = netip.MustParsePrefix("2002::/16")

// Allows reports whether a webhook may connect to a: a is in an allowed
// network, or public.
func (g *Guard) Allows(a netip.Addr) bool {
	a = a.WithZone("")
	for _, p := range g.allow {
		if p.Contains(a) || p.Contains(a.Unmap()) {
			return true
		}
	}
	return public(a)
}

// public reports whether a is none of the loopback, private, link-local,
// unspecified, multicast, broadcast, shared or special-purpose addresses,
// in IPv4 or IPv6, mapped or embedded.
func public(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range internal {
		if p.Contains(a) {
			return false
		}
	}
	if sixToFour.Contains(a) {
		b := a.As16()
		return public(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
	}
	return true
}

// errAddressNotAllowed is what the dialer says of a refused address. It
// stays in the server's log: what a tenant sees is ErrUnreachable.
var errAddressNotAllowed = errors.New("webhooks may not connect to this address")

// control runs for every connection the webhook client makes, with the
// address about to be connected to.
func (g *Guard) control(_ context.Context, network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !g.Allows(ap.Addr()) {
		return fmt.Errorf("%s %s: %w", network, address, errAddressNotAllowed)
	}
	return nil
}

// client is the HTTP client webhooks are posted with. Every connection
// goes through the guard; no proxy is used (one from the environment would
// connect on cairn's behalf, past the guard); redirects are not followed
// (a redirect is an answer, and not a success).
func (g *Guard) client() *http.Client {
	d := &net.Dialer{Timeout: RequestTimeout, KeepAlive: 30 * time.Second, Resolver: g.resolver, ControlContext: g.control}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           d.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   RequestTimeout,
			ExpectContinueTimeout: time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// literal returns the address a webhook's host names without DNS: an IP
// address, a number a C resolver reads as one (2130706433, 0x7f.1,
// 0177.0.0.1), or a name that is loopback by definition (localhost and
// its subdomains, RFC 6761).
func literal(host string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a, true
	}
	name := strings.TrimSuffix(asciiLower(host), ".")
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return netip.AddrFrom4([4]byte{127, 0, 0, 1}), true
	}
	return inetAton(host)
}

// inetAton reads IPv4 as inet_aton(3) does: one to four parts, each
// decimal, octal (leading 0) or hexadecimal (0x), the last filling the
// remaining bytes.
func inetAton(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var vals []uint64
	for _, p := range parts {
		base := 10
		switch {
		case len(p) > 2 && (p[:2] == "0x" || p[:2] == "0X"):
			p, base = p[2:], 16
		case len(p) > 1 && p[0] == '0':
			p, base = p[1:], 8
		}
		if p == "" || strings.ContainsAny(p, "+-_") {
			return netip.Addr{}, false
		}
		v, err := strconv.ParseUint(p, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals = append(vals, v)
	}
	var n uint64
	for i, v := range vals[:len(vals)-1] {
		if v > 255 {
			return netip.Addr{}, false
		}
		n |= v << (24 - 8*i)
	}
	last := vals[len(vals)-1]
	if last >= 1<<(8*(5-len(vals))) {
		return netip.Addr{}, false
	}
	n |= last
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
