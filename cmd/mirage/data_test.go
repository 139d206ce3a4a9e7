package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDataCommand(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "reviews.json"), []byte(`[{"t":"fine","s":1}]`), 0o644))
	tests := []struct {
		name      string
		args      []string
		wantOut   []string
		wantErr   string
		wantUsage bool
	}{
		{"list", []string{"list", "--data-dir", dir, "--cache-dir", t.TempDir()},
			[]string{"cifar10: CIFAR-10", "not found in: " + dir, "imdb: IMDB", "found:     " + filepath.Join(dir, "reviews.json")}, "", false},
		{"list is the default", []string{"--data-dir", dir}, []string{"mnist: MNIST", "read from " + dir}, "", false},
		{"verify reports failures", []string{"verify", "--data-dir", dir},
			[]string{"SHA-256 FAILED", "read FAILED: 1 training and 0 test reviews"}, "verification failed for mnist, fashion-mnist, imdb", false},
		{"fetch needs a name", []string{"fetch"}, nil, "fetch needs a data set name", true},
		{"fetch of an unknown set", []string{"fetch", "svhn"}, nil, `unknown data set "svhn"`, false},
		{"unknown action", []string{"check"}, nil, `unknown action "check"`, true},
		{"stray argument", []string{"list", "extra"}, nil, `unexpected argument "extra"`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := dataCommand(testReg(), tc.args, &stdout, &stderr)
			for _, want := range tc.wantOut {
				require.Contains(t, stdout.String(), want)
			}
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
			require.Equal(t, tc.wantUsage, errors.As(err, new(usageError)), "usage errors exit with 2")
		})
	}
}
