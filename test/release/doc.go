// Package release holds no code: its tests check what a release of tiquo-operator ships (the
// Helm chart in charts/tiquo-operator, the PrometheusRule in config/prometheus, the Grafana
// dashboard in config/grafana and the artifacts of `make release`) against the manifests in
// config/, the real manager binary, Prometheus's PromQL parser, krew's plugin validation and
// a real kube-apiserver.
package release
