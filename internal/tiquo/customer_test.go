package tiquo

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCustomerUnmarshalJSON(t *testing.T) {
	in := `{"id":"cust_abc123","firstName":"John","tags":["VIP"],"marketingConsent":false,"loyaltyPoints":150,
		"totalSpent":2500.00,"createdAt":"2024-01-15T10:30:00Z","updatedAt":"2024-01-20T16:00:00.123+02:00",
		"lastVisit":null,"source":"api","archived":false,"address":{"city":"NY","geo":{"lat":1}}}`
	var got Customer
	if err := json.Unmarshal([]byte(in), &got); err != nil {
		t.Fatal(err)
	}
	want := Customer{
		ID: "cust_abc123", FirstName: "John", Tags: []string{"VIP"}, MarketingConsent: ptr(false),
		LoyaltyPoints: 150, TotalSpent: 2500, Address: &Address{City: "NY"},
		CreatedAt: ptr(time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)),
		UpdatedAt: ptr(time.Date(2024, 1, 20, 14, 0, 0, 123e6, time.UTC)),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	for _, ts := range []string{"2024-01-15T10:30:00+0000", "2024-01-15T10:30:00.5Z", "2024-01-15T10:30:00"} {
		var c Customer
		if err := json.Unmarshal([]byte(`{"createdAt":"`+ts+`"}`), &c); err != nil || c.CreatedAt == nil {
			t.Errorf("timestamp %q: %v", ts, err)
		}
	}
	var c Customer
	if err := json.Unmarshal([]byte(`{"createdAt":"yesterday"}`), &c); err == nil {
		t.Error("bad timestamp accepted")
	}
}
