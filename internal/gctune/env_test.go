package gctune

import (
	"os"
	"testing"
)

func unsetenv(t *testing.T, k string) {
	t.Helper()
	old, had := os.LookupEnv(k)
	if err := os.Unsetenv(k); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if had {
			_ = os.Setenv(k, old)
		}
	})
}
