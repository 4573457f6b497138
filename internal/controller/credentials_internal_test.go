package controller

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSecretKeySelector(t *testing.T) {
	cases := map[string]struct {
		in   string
		want SecretKeySelector
		err  bool
	}{
		"namespace and name":   {in: "tiquo-system/tiquo-api-key", want: SecretKeySelector{"tiquo-system", "tiquo-api-key", "apiKey"}},
		"with an entry":        {in: "ops/keys:tiquo", want: SecretKeySelector{"ops", "keys", "tiquo"}},
		"no namespace":         {in: "tiquo-api-key", err: true},
		"empty namespace":      {in: "/tiquo-api-key", err: true},
		"empty name":           {in: "ops/", err: true},
		"empty entry":          {in: "ops/keys:", err: true},
		"a path":               {in: "ops/keys/extra", err: true},
		"nothing":              {in: "", err: true},
		"entry without a name": {in: "ops/:tiquo", err: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := ParseSecretKeySelector(tc.in)
			if (err != nil) != tc.err {
				t.Fatalf("ParseSecretKeySelector(%q) error %v, want error %v", tc.in, err, tc.err)
			}
			if diff := cmp.Diff(tc.want, got); !tc.err && diff != "" {
				t.Errorf("ParseSecretKeySelector(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}
