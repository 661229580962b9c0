//go:build tools

// Package tools pins promtool, which the chart tests run on the alerting rules the chart renders
// (promtool check rules, promtool test rules), into a module of its own, apart from the Kubernetes
// module of e2e/controlplane.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
