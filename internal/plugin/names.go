package plugin

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// maxNameLength is the longest DNS-1123 label, the limit this package keeps object names
// to so they also fit wherever a label value is needed.
const maxNameLength = 63

// ObjectName derives a Customer's metadata.name from a Tiquo customer id: lower-cased,
// every character other than a-z, 0-9 and '-' replaced by '-', leading and trailing
// dashes dropped, at most 63 characters. cust_abc123 becomes cust-abc123. An id with no
// usable character gets "customer-" and a hash of the id.
func ObjectName(id string) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		default:
			return '-'
		}
	}, id)
	name = trimName(name)
	if name == "" {
		return "customer-" + idHash(id)
	}
	return name
}

// uniqueName returns ObjectName(id) with a hash of the id appended, for when two ids map to
// the same name (cust_ABC and cust_abc).
func uniqueName(id string) string {
	suffix := "-" + idHash(id)
	base := ObjectName(id)
	if len(base) > maxNameLength-len(suffix) {
		base = strings.TrimRight(base[:maxNameLength-len(suffix)], "-")
	}
	return base + suffix
}

func trimName(name string) string {
	if len(name) > maxNameLength {
		name = name[:maxNameLength]
	}
	return strings.Trim(name, "-")
}

// idHash is a short, stable name for an id: the first 8 hex digits of its SHA-256.
func idHash(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:4])
}
