// Package logging holds the operator's logging policy: what it may log, whatever the
// verbosity a user asks for.
package logging

import "github.com/go-logr/logr"

// MaxVerbosity is the highest V-level the operator ever writes. The operator's own lines use
// V(0) and V(1). client-go, which logs through the same logger, writes the bodies of its
// requests and responses from V(8) on, and those bodies are Customer objects whose spec
// holds personal data; capping the verbosity keeps them out of the logs at any setting.
const MaxVerbosity = 5

// CapVerbosity returns a logger that drops every line above MaxVerbosity.
func CapVerbosity(l logr.Logger) logr.Logger {
	if l.GetSink() == nil {
		return l
	}
	return logr.New(capped{l.GetSink()})
}

type capped struct{ logr.LogSink }

func (c capped) Enabled(level int) bool {
	return level <= MaxVerbosity && c.LogSink.Enabled(level)
}

func (c capped) Info(level int, msg string, kv ...any) {
	if level <= MaxVerbosity {
		c.LogSink.Info(level, msg, kv...)
	}
}

func (c capped) WithValues(kv ...any) logr.LogSink {
	return capped{c.LogSink.WithValues(kv...)}
}

func (c capped) WithName(name string) logr.LogSink {
	return capped{c.LogSink.WithName(name)}
}

// Init counts the wrapper's own frame, so that the sink reports the caller's line.
func (c capped) Init(info logr.RuntimeInfo) {
	info.CallDepth++
	c.LogSink.Init(info)
}

// WithCallDepth passes through to sinks that report callers.
func (c capped) WithCallDepth(depth int) logr.LogSink {
	if s, ok := c.LogSink.(logr.CallDepthLogSink); ok {
		return capped{s.WithCallDepth(depth)}
	}
	return c
}
