package controller

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crmv1alpha1 "github.com/tiquo-operator/tiquo-operator/api/v1alpha1"
)

func TestResyncIntervalIsClampedToTheMinimum(t *testing.T) {
	cases := map[string]struct {
		spec *metav1.Duration
		want time.Duration
	}{
		"operator default":        {nil, 10 * time.Minute},
		"longer than the default": {&metav1.Duration{Duration: time.Hour}, time.Hour},
		"above the minimum":       {&metav1.Duration{Duration: time.Minute}, time.Minute},
		"below the minimum":       {&metav1.Duration{Duration: time.Second}, crmv1alpha1.MinSyncInterval},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := &crmv1alpha1.Customer{Spec: crmv1alpha1.CustomerSpec{SyncInterval: tc.spec}}
			if got := resyncInterval(c, 10*time.Minute); got != tc.want {
				t.Errorf("resyncInterval = %s, want %s", got, tc.want)
			}
		})
	}
}
