// Package webhook holds what the operator's receiver and the sandbox's sender of Tiquo
// webhooks share: the headers, the event envelope and the signature recipe, and the bounded
// memories the receiver keeps per event and per record (a replay guard and a hint limiter).
//
// Tiquo's docs name the headers X-Tiquo-Signature and X-Tiquo-Timestamp but not what is
// signed. The operator assumes the common recipe: the hex HMAC-SHA256, keyed with the
// webhook's signing secret, of the timestamp header, a dot and the raw body. Sign is the one
// place that recipe lives.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Headers of a webhook delivery.
const (
	HeaderSignature = "X-Tiquo-Signature"
	HeaderTimestamp = "X-Tiquo-Timestamp"
	HeaderEvent     = "X-Tiquo-Event"
)

// Customer event types.
const (
	TypeCustomerCreated = "customer.created"
	TypeCustomerUpdated = "customer.updated"
	TypeCustomerDeleted = "customer.deleted"
)

// Event is a webhook delivery's body: {"id":"evt_…","type":…,"created":…,"data":{customer…}}.
// customer.updated adds previousAttributes, the old values of the fields that changed; the
// docs do not place it, and the sandbox sends it beside data.
type Event struct {
	ID                 string          `json:"id"`
	Type               string          `json:"type"`
	Created            string          `json:"created"`
	Data               json.RawMessage `json:"data"`
	PreviousAttributes json.RawMessage `json:"previousAttributes,omitempty"`
}

// Record is what the receiver reads of an event's data: the record's id and, when present,
// when Tiquo last changed it. Nothing else of a payload is ever read.
type Record struct {
	ID        string `json:"id"`
	UpdatedAt string `json:"updatedAt,omitempty"`
}

// Sign returns the signature of a delivery: hex(HMAC-SHA256(secret, timestamp + "." + body)).
// This is the recipe the operator assumes (Tiquo's docs do not show it); when it is
// confirmed otherwise, this function is the one to change.
func Sign(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte("."))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether signature is Sign's for this timestamp and body, in constant time.
// A "sha256=" prefix, as some senders add, is accepted.
func Verify(secret []byte, timestamp string, body []byte, signature string) bool {
	got, err := hex.DecodeString(strings.TrimPrefix(strings.TrimSpace(signature), "sha256="))
	if err != nil || len(secret) == 0 {
		return false
	}
	want, _ := hex.DecodeString(Sign(secret, timestamp, body))
	return hmac.Equal(got, want)
}

// Timestamp formats t as the X-Tiquo-Timestamp header: Unix seconds.
func Timestamp(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
