package datasets

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSkippedKeepsFirstReasons(t *testing.T) {
	s := Skipped{Noun: "file(s)"}
	require.Equal(t, "skipped nothing", s.String())
	for i := range 8 {
		s.Add(string(rune('a' + i)))
	}
	require.Equal(t, 8, s.Count)
	require.Equal(t, "skipped 8 file(s): a; b; c; d; e; and 3 more", s.String())

	var unnamed Skipped
	unnamed.Add("x")
	require.Equal(t, "skipped 1 item(s): x", unnamed.String())
}
