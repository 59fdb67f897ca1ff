package webhook

// An attempt: one delivery's request to an HTTP endpoint, or its
// message to a broker Destination, and how its answer is read.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// post sends the signed message and fills the attempt's latency, error
// and response. It returns the status (0 without a response, and for a
// broker Destination, which has none), the Retry-After the receiver
// asked for, and whether the request timed out.
func (d *Dispatcher) post(ctx context.Context, e *Endpoint, del *Delivery, a *Attempt, opts WorkerOptions) (status int, wait time.Duration, timedOut bool, err error) {
	creds, err := d.signer(e)
	if err != nil {
		a.Error = err.Error()
		return 0, 0, false, err
	}
	body := []byte(del.Message.Payload)
	if d.opts.Render != nil {
		if body, err = d.opts.Render(ctx, e, del.Message); err != nil {
			a.Error = "render payload: " + err.Error()
			return 0, 0, false, err
		}
	}
	if dest := d.destination(e.URL); dest != nil {
		return 0, 0, false, d.publish(ctx, dest, e, del, body, creds, a, opts)
	}
	if creds.certificate != nil {
		if ctx, err = withClientCertificate(ctx, opts.Client, creds.certificate); err != nil {
			a.Error = err.Error()
			return 0, 0, false, err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, bytes.NewReader(body))
	if err != nil {
		a.Error = "bad endpoint url"
		return 0, 0, false, fmt.Errorf("%w: endpoint url", ErrInvalidURL)
	}
	if err := setHeaders(req.Header, e, creds, del, a.At, body); err != nil {
		a.Error = err.Error()
		return 0, 0, false, err
	}
	a.RequestHeaders = RecordedHeaders(req.Header)
	start := time.Now()
	resp, err := opts.Client.Do(req)
	a.Latency = time.Since(start)
	if err != nil {
		// The URL may carry a secret token: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		var ne net.Error
		timedOut = errors.As(err, &ne) && ne.Timeout()
		a.Error = err.Error()
		return 0, 0, timedOut, err
	}
	a.Response, _ = ReadCapped(resp, opts.MaxResponseBody)
	a.ResponseHeaders = RecordedHeaders(resp.Header)
	return resp.StatusCode, retryAfter(resp.Header.Get("Retry-After"), a.At), false, nil
}

// setHeaders sets what every delivery carries: the endpoint's own
// headers, its authorization, the content type and the signature.
func setHeaders(h http.Header, e *Endpoint, creds *cachedSigner, del *Delivery, at time.Time, body []byte) error {
	for name, value := range e.Headers {
		h.Set(name, value)
	}
	if creds.authorization != "" {
		h.Set("Authorization", creds.authorization)
	}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "saaskit-webhook/1")
	return creds.signer.SetHeaders(h, del.Message.ID, at, body)
}

// publish makes an attempt through a broker Destination: the target is
// checked for the endpoint's tenant again (the operator may have
// narrowed what tenants may reach since the endpoint was created), and
// the message carries the headers an HTTP request would. It fills the
// attempt as post does, the broker's ack as the response.
func (d *Dispatcher) publish(ctx context.Context, dest Destination, e *Endpoint, del *Delivery, body []byte, creds *cachedSigner, a *Attempt, opts WorkerOptions) error {
	target, err := d.checkDestination(e.TenantID, e.URL)
	if err != nil {
		a.Error = err.Error()
		return err
	}
	h := make(http.Header, len(e.Headers)+5)
	if err := setHeaders(h, e, creds, del, a.At, body); err != nil {
		a.Error = err.Error()
		return err
	}
	a.RequestHeaders = RecordedHeaders(h)
	start := time.Now()
	res, err := dest.Deliver(ctx, e, &DestinationRequest{Target: target, Header: h, Body: body, DeliveryID: del.ID, OrderingKey: del.Message.OrderingKey})
	a.Latency = time.Since(start)
	if err != nil {
		a.Error = err.Error()
		return err
	}
	a.Response = res.Response[:min(int64(len(res.Response)), opts.MaxResponseBody)]
	if res.Header != nil {
		a.ResponseHeaders = RecordedHeaders(res.Header)
	}
	return nil
}

// outcomeOf names an attempt's outcome for metrics.
func outcomeOf(success bool, status int, last bool) string {
	switch {
	case success:
		return "succeeded"
	case status == 410:
		return "gone"
	case last:
		return "exhausted"
	}
	return "retry"
}

// throttled reports whether the status asks the sender to slow down.
func throttled(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// requestTimeout is how long a request by c may take.
func requestTimeout(c *http.Client) time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return ssrfDefaultTimeout
}
