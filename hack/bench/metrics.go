package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// The Prometheus text format is read by a small parser of its own, so that the benchmark
// needs no module the operator does not already require directly.

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// sumMetric adds up the samples of the metric name whose labels include every pair in match.
// Only lines of that metric are parsed, so reading a large exposition stays cheap.
func sumMetric(r io.Reader, name string, match map[string]string) (float64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	var total float64
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || len(line) == len(name) || (line[len(name)] != '{' && line[len(name)] != ' ') {
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return 0, err
		}
		if matches(s.labels, match) {
			total += s.value
		}
	}
	return total, sc.Err()
}

func matches(labels, match map[string]string) bool {
	for k, v := range match {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// parseSample parses `name{label="value",...} value [timestamp]`.
func parseSample(line string) (sample, error) {
	s := sample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return s, fmt.Errorf("metric line %q has no value", line)
	}
	s.name, line = line[:i], line[i:]
	if line[0] == '{' {
		after, err := parseLabels(line[1:], s.labels)
		if err != nil {
			return s, fmt.Errorf("metric line of %s: %w", s.name, err)
		}
		line = after
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return s, fmt.Errorf("metric line of %s has no value", s.name)
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return s, fmt.Errorf("metric line of %s: %w", s.name, err)
	}
	s.value = v
	return s, nil
}

// parseLabels reads `a="x",b="y"}` into labels and returns what follows the brace.
func parseLabels(in string, labels map[string]string) (string, error) {
	for {
		in = strings.TrimLeft(in, " ,")
		if strings.HasPrefix(in, "}") {
			return in[1:], nil
		}
		eq := strings.Index(in, "=")
		if eq <= 0 || len(in) < eq+2 || in[eq+1] != '"' {
			return "", fmt.Errorf("malformed labels %q", in)
		}
		key := strings.TrimSpace(in[:eq])
		in = in[eq+2:]
		var b strings.Builder
		closed := false
		for j := 0; j < len(in); j++ {
			switch c := in[j]; {
			case c == '\\' && j+1 < len(in):
				j++
				switch in[j] {
				case 'n':
					b.WriteByte('\n')
				default:
					b.WriteByte(in[j])
				}
			case c == '"':
				in, closed = in[j+1:], true
			default:
				b.WriteByte(c)
			}
			if closed {
				break
			}
		}
		if !closed {
			return "", fmt.Errorf("unterminated label value of %s", key)
		}
		labels[key] = b.String()
	}
}

// apiServerMetrics reads the API server's own metrics through cfg, an administrator's
// config.
type apiServerMetrics struct {
	client rest.Interface
}

func newAPIServerMetrics(cfg *rest.Config) (*apiServerMetrics, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &apiServerMetrics{client: cs.Discovery().RESTClient()}, nil
}

// apiCounts are requests the API server completed since it started, whoever sent them.
type apiCounts struct {
	// statusWrites are writes of Customer status: PATCH, PUT and server-side APPLY of
	// customers/status.
	statusWrites int
	// statusWriteSeconds is the time the API server took over the status writes.
	statusWriteSeconds float64
	// eventWrites are creates and patches of Events (events.k8s.io or core).
	eventWrites int
}

func (a apiCounts) sub(b apiCounts) apiCounts {
	return apiCounts{statusWrites: a.statusWrites - b.statusWrites, eventWrites: a.eventWrites - b.eventWrites,
		statusWriteSeconds: a.statusWriteSeconds - b.statusWriteSeconds}
}

// meanStatusWrite is the mean time the API server took over one status write.
func (a apiCounts) meanStatusWrite() time.Duration {
	if a.statusWrites <= 0 {
		return 0
	}
	return time.Duration(a.statusWriteSeconds / float64(a.statusWrites) * float64(time.Second))
}

// counts reads the API server's apiserver_request_total.
func (m *apiServerMetrics) counts(ctx context.Context) (apiCounts, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	raw, err := m.client.Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return apiCounts{}, fmt.Errorf("read the API server's metrics: %w", err)
	}
	sum := func(match map[string]string) (int, error) {
		v, err := sumMetric(bytes.NewReader(raw), "apiserver_request_total", match)
		return int(v), err
	}
	var c apiCounts
	for _, verb := range []string{http.MethodPatch, http.MethodPut, "APPLY"} {
		status := map[string]string{"group": "crm.tiquo.co", "resource": "customers", "subresource": "status", "verb": verb}
		n, err := sum(status)
		if err != nil {
			return c, err
		}
		c.statusWrites += n
		secs, err := sumMetric(bytes.NewReader(raw), "apiserver_request_duration_seconds_sum", status)
		if err != nil {
			return c, err
		}
		c.statusWriteSeconds += secs
	}
	for _, verb := range []string{http.MethodPost, http.MethodPatch} {
		n, err := sum(map[string]string{"resource": "events", "verb": verb})
		if err != nil {
			return c, err
		}
		c.eventWrites += n
	}
	return c, nil
}
