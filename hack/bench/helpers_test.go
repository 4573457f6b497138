package main

import (
	"strings"
	"testing"
	"time"
)

func TestSumMetricReadsTheTextFormat(t *testing.T) {
	text := `# HELP apiserver_request_total Counter of apiserver requests.
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",group="crm.tiquo.co",resource="customers",subresource="status",verb="PATCH"} 781
apiserver_request_total{code="409",group="crm.tiquo.co",resource="customers",subresource="status",verb="PATCH"} 2
apiserver_request_total{code="201",group="crm.tiquo.co",resource="customers",subresource="",verb="POST"} 208
apiserver_request_total_other{verb="PATCH"} 1000
apiserver_request_totalx 5
rest_client_requests_total{code="200",host="127.0.0.1:1",method="PATCH"} 3
weird{msg="a \"quoted\", value}",verb="PATCH"} 1.5e+02
go_memstats_heap_inuse_bytes 1.2345e+07
`
	for _, tc := range []struct {
		name  string
		match map[string]string
		want  float64
	}{
		{"apiserver_request_total", map[string]string{"subresource": "status", "verb": "PATCH"}, 783},
		{"apiserver_request_total", map[string]string{"verb": "POST"}, 208},
		{"apiserver_request_total", nil, 991},
		{"rest_client_requests_total", map[string]string{"method": "PATCH"}, 3},
		{"weird", map[string]string{"msg": `a "quoted", value}`}, 150},
		{"go_memstats_heap_inuse_bytes", nil, 12345000},
		{"absent", nil, 0},
	} {
		got, err := sumMetric(strings.NewReader(text), tc.name, tc.match)
		if err != nil || got != tc.want {
			t.Errorf("sumMetric(%s, %v) = %v, %v; want %v", tc.name, tc.match, got, err, tc.want)
		}
	}
	if _, err := sumMetric(strings.NewReader(`broken{a="x} 1`+"\n"), "broken", nil); err == nil {
		t.Error("an unterminated label value was accepted")
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for q, want := range map[float64]time.Duration{0.5: 50 * time.Millisecond, 0.99: 99 * time.Millisecond, 1: 100 * time.Millisecond} {
		if got := percentile(ds, q); got != want {
			t.Errorf("percentile(%v) = %s; want %s", q, got, want)
		}
	}
	if got := percentile(nil, 0.99); got != 0 {
		t.Errorf("percentile of nothing = %s", got)
	}
}

func TestBindingRateBindsAndTakesAboutTheTarget(t *testing.T) {
	// N=1000: 2000 calls in 25s is 4800/min, well under the 250 calls/s the cold start sustained.
	if got := bindingRate(1000, 25*time.Second, 250); got != 4800 {
		t.Errorf("N=1000: %d/min; want 4800", got)
	}
	// N=10000: 48000/min would not bind when the workers sustained 190 calls/s; half of that does.
	if got := bindingRate(10000, 25*time.Second, 190); got != 5700 {
		t.Errorf("N=10000: %d/min; want 5700", got)
	}
}

func TestBoundIsTheLargestTerm(t *testing.T) {
	b := &bench{cfg: config{n: 1000, latency: 20 * time.Millisecond, workers: 8}, res: &results{statusWriteRate: 100}}
	bd := b.bound(2, 100000, 1000)
	if bd.latency != 5*time.Second || bd.rate != 1200*time.Millisecond || bd.apiServer != 10*time.Second {
		t.Errorf("terms %+v; want 5s, 1.2s, 10s", bd)
	}
	if bd.tMin() != 10*time.Second || bd.binding() != "S/W" {
		t.Errorf("T_min %s (%s); want 10s (S/W)", bd.tMin(), bd.binding())
	}
}
