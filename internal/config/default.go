package config

import (
	_ "embed"
	"fmt"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the text of the embedded default config, comments
// included, e.g. for `fulcrum config default` to print as a starting point.
func DefaultYAML() []byte { return append([]byte(nil), defaultYAML...) }

// Default returns the embedded default config (default.yaml): the demo that
// `fulcrum run` starts without a config file. It is parsed and validated on
// every call, so callers own the result. Its Source is empty.
func Default() *Config {
	c, ds := Parse("", defaultYAML)
	if err := ds.Err(); err != nil {
		// The tests parse default.yaml, so this means a broken build.
		panic(fmt.Sprintf("config: embedded default.yaml is invalid: %v", err))
	}
	return c
}
