package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Faults configures the failures the sandbox injects into /v1 requests. The
// zero value injects nothing. The same struct, as JSON, is the body of
// PUT /_sandbox/faults. Rates are probabilities per request in [0, 1].
type Faults struct {
	// Latency is added to every request before it is handled.
	Latency time.Duration `json:"latency,omitempty"`
	// LatencyJitter adds a further uniformly random delay in [0, LatencyJitter).
	LatencyJitter time.Duration `json:"latencyJitter,omitempty"`
	// ErrorRate is the fraction of requests answered with a server error
	// instead of being handled.
	ErrorRate float64 `json:"errorRate,omitempty"`
	// ErrorStatus is the status of injected errors; 0 picks 500, 502 or 503
	// at random. 500 and 503 carry the JSON error envelope; 502 carries an
	// HTML body, as a proxy in front of the API would.
	ErrorStatus int `json:"errorStatus,omitempty"`
	// ResetRate is the fraction of requests whose TCP connection is reset
	// without an answer.
	ResetRate float64 `json:"resetRate,omitempty"`
	// HangRate is the fraction of requests that never get an answer: the
	// handler waits until the client gives up or the sandbox closes.
	HangRate float64 `json:"hangRate,omitempty"`
	// MalformedRate is the fraction of successful answers whose JSON body is
	// cut in half (status and headers unchanged).
	MalformedRate float64 `json:"malformedRate,omitempty"`
	// NormalizePhone makes the server store phone numbers without spaces,
	// dashes, dots and parentheses, and with a leading 00 turned into +.
	NormalizePhone bool `json:"normalizePhone,omitempty"`
	// LowercaseEmail makes the server store email addresses lower-cased.
	LowercaseEmail bool `json:"lowercaseEmail,omitempty"`
	// EchoValuesRate is the fraction of PATCH and POST requests carrying a
	// personal value (a name, email, phone, date of birth, notes or an
	// address subfield) answered with an error that echoes those values, as
	// sent and in the forms Tiquo stores them (phone as +digits and as
	// digits only, email and text lower-cased), in error.message, and the
	// stored forms in error.field and error.code. It tests that a client
	// never shows what Tiquo quotes back.
	EchoValuesRate float64 `json:"echoValuesRate,omitempty"`
	// EchoValuesStatus is the status of those answers; 0 means 400.
	EchoValuesStatus int `json:"echoValuesStatus,omitempty"`
	// StoreThenFailRate is the fraction of successful creates (POST
	// /v1/customers) whose record is stored but whose answer is a server error,
	// as when Tiquo fails after its commit. The request log shows the error's
	// status.
	StoreThenFailRate float64 `json:"storeThenFailRate,omitempty"`
	// StoreThenFailStatus is the status of those errors; 0 means 500.
	StoreThenFailStatus int `json:"storeThenFailStatus,omitempty"`
	// StoreThenHangRate is the fraction of successful creates whose record is
	// stored but which never get an answer: the handler waits until the client
	// gives up or the sandbox closes. The request log shows them with status 0
	// as soon as the record is stored.
	StoreThenHangRate float64 `json:"storeThenHangRate,omitempty"`
	// StoreThenResetRate is the fraction of successful creates whose record is
	// stored and whose connection is then reset without an answer (status 0 in
	// the request log).
	StoreThenResetRate float64 `json:"storeThenResetRate,omitempty"`
}

// Validate reports a Faults value that makes no sense: a rate outside
// [0, 1], a negative latency or a non-5xx error status (errorStatus,
// storeThenFailStatus).
func (f Faults) Validate() error {
	for name, r := range map[string]float64{
		"errorRate": f.ErrorRate, "resetRate": f.ResetRate,
		"hangRate": f.HangRate, "malformedRate": f.MalformedRate,
		"echoValuesRate": f.EchoValuesRate, "storeThenFailRate": f.StoreThenFailRate,
		"storeThenHangRate": f.StoreThenHangRate, "storeThenResetRate": f.StoreThenResetRate,
	} {
		if r < 0 || r > 1 {
			return fmt.Errorf("%s %v outside [0, 1]", name, r)
		}
	}
	if f.Latency < 0 || f.LatencyJitter < 0 {
		return fmt.Errorf("latency and latencyJitter must not be negative")
	}
	if f.ErrorStatus != 0 && (f.ErrorStatus < 500 || f.ErrorStatus > 599) {
		return fmt.Errorf("errorStatus %d is not a 5xx status", f.ErrorStatus)
	}
	if f.StoreThenFailStatus != 0 && (f.StoreThenFailStatus < 500 || f.StoreThenFailStatus > 599) {
		return fmt.Errorf("storeThenFailStatus %d is not a 5xx status", f.StoreThenFailStatus)
	}
	if f.EchoValuesStatus != 0 && (f.EchoValuesStatus < 400 || f.EchoValuesStatus > 599) {
		return fmt.Errorf("echoValuesStatus %d is not a 4xx or 5xx status", f.EchoValuesStatus)
	}
	return nil
}

// chance reports true with probability p.
func chance(p float64) bool {
	return p > 0 && (p >= 1 || rand.Float64() < p)
}

// delay waits for the configured latency or until ctx or done ends.
func (f Faults) delay(ctx context.Context, done <-chan struct{}) {
	d := f.Latency
	if f.LatencyJitter > 0 {
		d += rand.N(f.LatencyJitter)
	}
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-done:
	}
}

// malform cuts the body of a successful answer in half at the rate MalformedRate says.
func (f Faults) malform(resp response) response {
	if resp.status < 300 && chance(f.MalformedRate) {
		resp.body = resp.body[:len(resp.body)/2]
	}
	return resp
}

// errorStatus returns the status of an injected server error.
func (f Faults) errorStatus() int {
	if f.ErrorStatus != 0 {
		return f.ErrorStatus
	}
	return []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable}[rand.IntN(3)]
}

// writeInjectedError answers with an injected server error of the given
// status.
func writeInjectedError(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusBadGateway:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_, _ = fmt.Fprint(w, "<html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>\n")
	case http.StatusServiceUnavailable:
		writeError(w, status, "service_unavailable", "Service temporarily unavailable", "")
	default:
		writeError(w, status, "internal_error", "Internal server error", "")
	}
}

// resetConnection drops the client connection with a TCP RST where it can,
// and otherwise aborts the response so the connection closes without one.
func resetConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if nc, ok := conn.(interface{ NetConn() net.Conn }); ok { // *tls.Conn
		conn = nc.NetConn()
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0) // Close now sends RST instead of FIN.
	}
	_ = conn.Close()
}

// faultsJSON is the wire form of Faults, with durations as Go duration
// strings ("20ms") or integer nanoseconds.
type faultsJSON struct {
	Latency          json.RawMessage `json:"latency,omitempty"`
	LatencyJitter    json.RawMessage `json:"latencyJitter,omitempty"`
	ErrorRate        float64         `json:"errorRate,omitempty"`
	ErrorStatus      int             `json:"errorStatus,omitempty"`
	ResetRate        float64         `json:"resetRate,omitempty"`
	HangRate         float64         `json:"hangRate,omitempty"`
	MalformedRate    float64         `json:"malformedRate,omitempty"`
	NormalizePhone   bool            `json:"normalizePhone,omitempty"`
	LowercaseEmail   bool            `json:"lowercaseEmail,omitempty"`
	EchoValuesRate   float64         `json:"echoValuesRate,omitempty"`
	EchoValuesStatus int             `json:"echoValuesStatus,omitempty"`

	StoreThenFailRate   float64 `json:"storeThenFailRate,omitempty"`
	StoreThenFailStatus int     `json:"storeThenFailStatus,omitempty"`
	StoreThenHangRate   float64 `json:"storeThenHangRate,omitempty"`
	StoreThenResetRate  float64 `json:"storeThenResetRate,omitempty"`
}

// MarshalJSON writes durations as strings such as "20ms".
func (f Faults) MarshalJSON() ([]byte, error) {
	dur := func(d time.Duration) json.RawMessage {
		if d == 0 {
			return nil
		}
		return json.RawMessage(strconv.Quote(d.String()))
	}
	return json.Marshal(faultsJSON{
		Latency: dur(f.Latency), LatencyJitter: dur(f.LatencyJitter),
		ErrorRate: f.ErrorRate, ErrorStatus: f.ErrorStatus, ResetRate: f.ResetRate,
		HangRate: f.HangRate, MalformedRate: f.MalformedRate,
		NormalizePhone: f.NormalizePhone, LowercaseEmail: f.LowercaseEmail,
		EchoValuesRate: f.EchoValuesRate, EchoValuesStatus: f.EchoValuesStatus,
		StoreThenFailRate: f.StoreThenFailRate, StoreThenFailStatus: f.StoreThenFailStatus,
		StoreThenHangRate: f.StoreThenHangRate, StoreThenResetRate: f.StoreThenResetRate,
	})
}

// UnmarshalJSON reads durations as strings such as "20ms" or as integer
// nanoseconds. An unknown field is an error, so that a misspelt fault is not
// silently left off.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var in faultsJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return err
	}
	lat, err := parseDuration(in.Latency)
	if err != nil {
		return fmt.Errorf("latency: %w", err)
	}
	jit, err := parseDuration(in.LatencyJitter)
	if err != nil {
		return fmt.Errorf("latencyJitter: %w", err)
	}
	*f = Faults{
		Latency: lat, LatencyJitter: jit,
		ErrorRate: in.ErrorRate, ErrorStatus: in.ErrorStatus, ResetRate: in.ResetRate,
		HangRate: in.HangRate, MalformedRate: in.MalformedRate,
		NormalizePhone: in.NormalizePhone, LowercaseEmail: in.LowercaseEmail,
		EchoValuesRate: in.EchoValuesRate, EchoValuesStatus: in.EchoValuesStatus,
		StoreThenFailRate: in.StoreThenFailRate, StoreThenFailStatus: in.StoreThenFailStatus,
		StoreThenHangRate: in.StoreThenHangRate, StoreThenResetRate: in.StoreThenResetRate,
	}
	return nil
}

// parseDuration reads a JSON duration string or integer nanoseconds.
func parseDuration(raw json.RawMessage) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == jsonNull {
		return 0, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return time.ParseDuration(s)
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, fmt.Errorf("want a duration string or integer nanoseconds: %w", err)
	}
	return time.Duration(n), nil
}
