package tiquo_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tiquo-operator/tiquo-operator/internal/sandbox"
	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
)

// The benchmarks run the client against an in-process sandbox on loopback,
// with metrics on, so the figures (and allocations per request) cover both
// ends of the conversation plus the sandbox's request log.

func benchEnv(b *testing.B) env {
	b.Helper()
	sb := sandbox.NewServer(sandbox.Options{
		Keys:           map[string][]string{keyRW: {sandbox.ScopeRead, sandbox.ScopeWrite}},
		RequestLogSize: 1000,
	})
	b.Cleanup(sb.Close)
	sb.PutCustomer(johnDoe())
	c, err := tiquo.New(tiquo.Config{BaseURL: sb.URL, Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.CloseIdleConnections)
	return env{sb: sb, client: c}
}

func reportRate(b *testing.B, requests int) {
	b.ReportMetric(float64(requests)/b.Elapsed().Seconds(), "req/s")
}

func BenchmarkGetCustomer(b *testing.B) {
	e := benchEnv(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.client.GetCustomer(ctx, keyRW, "cust_abc123"); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, b.N)
}

func BenchmarkGetCustomerParallel(b *testing.B) {
	e := benchEnv(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.client.GetCustomer(ctx, keyRW, "cust_abc123"); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b, b.N)
}

func BenchmarkUpdateCustomer(b *testing.B) {
	e := benchEnv(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		notes := fmt.Sprintf("note %d", i)
		p := tiquo.Patch{Notes: &notes, Address: &tiquo.AddressPatch{Line1: &notes}}
		if _, err := e.client.UpdateCustomer(ctx, keyRW, "cust_abc123", p); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, b.N)
}

func BenchmarkListCustomers100(b *testing.B) {
	e := benchEnv(b)
	for i := range 99 {
		id := fmt.Sprintf("cust_%03d", i)
		e.sb.PutCustomer(sandbox.Customer{ID: id, FirstName: "F", LastName: "L", Email: id + "@example.com"})
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for _, err := range e.client.ListCustomers(ctx, keyRW, tiquo.ListOptions{Limit: 100}) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 100 {
			b.Fatalf("listed %d", n)
		}
	}
	reportRate(b, b.N) // One request per page of 100.
}
