package imdb

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func FuzzReadReviews(f *testing.F) {
	f.Add([]byte(`[{"t":"a fine film","s":1},{"t":"dull","s":0}]`))
	f.Add([]byte(`[{"t":"x","s":2},{"t":3,"s":1},[],null]`))
	f.Add([]byte(`{"t":"x"}`))
	f.Add([]byte(`[{"t":"unterminated`))
	f.Fuzz(func(t *testing.T, data []byte) {
		reviews, skipped, err := ReadReviews(bytes.NewReader(data), "fuzz.json")
		if err != nil {
			return
		}
		require.GreaterOrEqual(t, skipped.Count, 0)
		for _, r := range reviews {
			require.Contains(t, []int{0, 1}, r.Label())
		}
	})
}

// FuzzReadVocab reads a WordPiece vocabulary file and, when it is
// accepted, tokenizes a text with it: every id must index the
// vocabulary, and decoding must not panic.
func FuzzReadVocab(f *testing.F) {
	f.Add(strings.Join(append(SpecialTokens(), "a", "##b", "film", "##s"), "\n"), "films a b")
	f.Add("[PAD]\n[PAD]\n", "x")
	f.Add("", "")
	f.Add("[PAD]\n[UNK]\n[CLS]\n[SEP]\n##\n#\n", "## # \x00 é")
	f.Fuzz(func(t *testing.T, vocab, text string) {
		tok, err := ReadVocab(strings.NewReader(vocab))
		if err != nil {
			return
		}
		ids := tok.Encode(text)
		for _, id := range ids {
			require.GreaterOrEqual(t, id, int32(0))
			require.Less(t, int(id), tok.Size())
		}
		_ = tok.Decode(ids)
		var buf bytes.Buffer
		require.NoError(t, tok.WriteVocab(&buf))
		again, err := ReadVocab(&buf)
		require.NoError(t, err, "a vocabulary written by WriteVocab must read back")
		require.Equal(t, tok.Vocab(), again.Vocab())
	})
}
