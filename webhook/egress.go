package webhook

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"
)

// egressProxy dials destinations through an HTTP proxy's CONNECT
// tunnels, after resolving and checking them as the direct dialer's
// Control hook does.
type egressProxy struct {
	proxy    *url.URL
	allow    []netip.Prefix
	resolver *net.Resolver
	dialer   *net.Dialer
}

// dial is the transport's DialContext: addr is the endpoint's host and
// port. It tries each address the host resolves to that the guard
// allows, in order, through a tunnel of its own.
func (p *egressProxy) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("%w: port %q", ErrInvalidURL, portText)
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else if ips, err = p.resolver.LookupNetIP(ctx, "ip", host); err != nil {
		return nil, err
	}
	var errs []error
	for _, ip := range ips {
		target := netip.AddrPortFrom(ip.Unmap(), uint16(port)).String()
		if err := checkDialAddress(p.allow, target); err != nil {
			errs = append(errs, err)
			continue
		}
		conn, err := p.tunnel(ctx, target)
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%s: no address", host)
	}
	return nil, errors.Join(errs...)
}

// tunnel opens a CONNECT tunnel through the proxy to target, an
// "ip:port" already checked.
func (p *egressProxy) tunnel(ctx context.Context, target string) (net.Conn, error) {
	proxyAddr := p.proxy.Host
	if p.proxy.Port() == "" {
		proxyAddr = net.JoinHostPort(p.proxy.Hostname(), "80")
	}
	conn, err := p.dialer.DialContext(ctx, "tcp", proxyAddr)
	if err != nil {
		return nil, fmt.Errorf("egress proxy: %w", err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Opaque: target}, Host: target, Header: http.Header{}}
	if u := p.proxy.User; u != nil {
		password, _ := u.Password()
		req.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+password)))
	}
	err = req.Write(conn)
	var resp *http.Response
	br := bufio.NewReader(conn)
	if err == nil {
		resp, err = http.ReadResponse(br, req)
	}
	if !stop() {
		err = errors.Join(err, ctx.Err())
	}
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("egress proxy refused CONNECT %s: %s", target, resp.Status)
	}
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("egress proxy: %w", err)
	}
	_ = conn.SetDeadline(time.Time{})
	if br.Buffered() > 0 { // the destination spoke first: keep what was read
		return &bufferedConn{Conn: conn, r: br}, nil
	}
	return conn, nil
}

// bufferedConn reads what its reader holds before the connection.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }
