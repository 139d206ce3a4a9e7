package imdb

import (
	"bufio"
	"container/heap"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// The special tokens, with fixed ids at the start of every vocabulary.
const (
	PadID int32 = iota // padding; must be 0 (see datasets.Dataset)
	UnkID              // a word that cannot be spelled with the vocabulary
	ClsID              // starts every sequence; its output classifies it
	SepID              // separates sequences (unused for single reviews)
)

// SpecialTokens returns the special tokens in id order.
func SpecialTokens() []string { return []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]"} }

// continuation marks a piece that continues a word, as in BERT: "playing"
// may become "play", "##ing".
const continuation = "##"

// maxWordBytes bounds the words WordPiece spells; longer ones (URLs, runs of
// punctuation-free junk) become [UNK], as in BERT.
const maxWordBytes = 100

// PreTokenize normalises text and splits it into words: it lower-cases,
// turns <br /> line breaks (<br>, <br/>, <br />) into spaces, drops control
// characters, and cuts the text into runs of letters, digits and combining
// marks; every other non-space character (punctuation, symbols) is a word
// of its own. So "Don't!<br />9/10" gives don ' t ! 9 / 10.
func PreTokenize(text string) []string {
	text = strings.ToLower(text)
	var words []string
	start := -1 // start of the current run of word characters, or -1
	endRun := func(i int) {
		if start >= 0 {
			words = append(words, text[start:i])
			start = -1
		}
	}
	for i := 0; i < len(text); {
		if text[i] == '<' {
			if n := lineBreakLen(text[i:]); n > 0 {
				endRun(i)
				i += n
				continue
			}
		}
		r, size := rune(text[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(text[i:])
		}
		if isWordRune(r) {
			if start < 0 {
				start = i
			}
			i += size
			continue
		}
		endRun(i)
		if !unicode.IsSpace(r) && !unicode.IsControl(r) && r != utf8.RuneError {
			words = append(words, text[i:i+size])
		}
		i += size
	}
	endRun(len(text))
	return words
}

// isWordRune reports whether r belongs in a word: a letter, digit or
// combining mark. ASCII, nearly all of the text, is decided without the
// Unicode tables.
func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || 'A' <= r && r <= 'Z'
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

// lineBreakLen returns the length of the <br>, <br/> or <br /> tag that s
// starts with, or 0.
func lineBreakLen(s string) int {
	for _, tag := range [...]string{"<br />", "<br/>", "<br>"} {
		if strings.HasPrefix(s, tag) {
			return len(tag)
		}
	}
	return 0
}

// Tokenizer turns text into WordPiece ids and back.
type Tokenizer struct {
	vocab []string
	// first maps word-initial pieces to ids; cont maps continuation pieces,
	// stored without their "##", so lookups need no string building.
	first, cont map[string]int32
	// maxPieceBytes is the longest piece, which bounds the longest-match
	// search.
	maxPieceBytes int
}

// NewTokenizer builds a tokenizer from a vocabulary whose first entries are
// SpecialTokens. Continuation pieces start with "##".
func NewTokenizer(vocab []string) (*Tokenizer, error) {
	specials := SpecialTokens()
	if len(vocab) < len(specials) || !slices.Equal(vocab[:len(specials)], specials) {
		return nil, fmt.Errorf("imdb: a vocabulary must start with %s", strings.Join(specials, " "))
	}
	t := &Tokenizer{vocab: slices.Clone(vocab), first: map[string]int32{}, cont: map[string]int32{}}
	for i, piece := range vocab {
		if i < len(specials) {
			continue
		}
		if piece == "" || piece == continuation {
			return nil, fmt.Errorf("imdb: vocabulary entry %d is %q, not a word piece", i, piece)
		}
		m, key := t.first, piece
		if strings.HasPrefix(piece, continuation) {
			m, key = t.cont, piece[len(continuation):]
		}
		if _, dup := m[key]; dup {
			return nil, fmt.Errorf("imdb: vocabulary entry %d, %q, appears twice", i, piece)
		}
		m[key] = int32(i)
		t.maxPieceBytes = max(t.maxPieceBytes, len(key))
	}
	return t, nil
}

// Vocab returns the vocabulary: the token with id i is Vocab()[i].
func (t *Tokenizer) Vocab() []string { return slices.Clone(t.vocab) }

// Size is the number of tokens, special ones included.
func (t *Tokenizer) Size() int { return len(t.vocab) }

// appendWord appends the WordPiece ids of one pre-tokenized word: greedily
// the longest piece in the vocabulary, then the longest continuation piece,
// and so on. A word that cannot be spelled this way is one [UNK].
func (t *Tokenizer) appendWord(ids []int32, word string) []int32 {
	if len(word) > maxWordBytes {
		return append(ids, UnkID)
	}
	n := len(ids)
	for start := 0; start < len(word); {
		m := t.first
		if start > 0 {
			m = t.cont
		}
		end := min(len(word), start+t.maxPieceBytes)
		found := false
		for ; end > start; end-- {
			if end < len(word) && !utf8.RuneStart(word[end]) {
				continue // not a character boundary
			}
			if id, ok := m[word[start:end]]; ok {
				ids = append(ids, id)
				found = true
				break
			}
		}
		if !found {
			return append(ids[:n], UnkID)
		}
		start = end
	}
	return ids
}

// Encode returns the WordPiece ids of text, without special tokens.
func (t *Tokenizer) Encode(text string) []int32 {
	var ids []int32
	for _, w := range PreTokenize(text) {
		ids = t.appendWord(ids, w)
	}
	return ids
}

// EncodeAll encodes many texts, spreading them over GOMAXPROCS goroutines
// and remembering each distinct word's pieces, which is much faster than
// calling Encode in a loop on review-sized texts.
func (t *Tokenizer) EncodeAll(texts []string) [][]int32 {
	out := make([][]int32, len(texts))
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seen := map[string][]int32{}
			for i := w; i < len(texts); i += workers {
				var ids []int32
				for _, word := range PreTokenize(texts[i]) {
					pieces, ok := seen[word]
					if !ok {
						pieces = t.appendWord(nil, word)
						seen[word] = pieces
					}
					ids = append(ids, pieces...)
				}
				out[i] = ids
			}
		}()
	}
	wg.Wait()
	return out
}

// Decode turns ids back into text: pieces of one word are joined, words are
// separated by single spaces, [PAD] is dropped. For text whose characters
// all occur in the training data, Decode(Encode(s)) equals the words of
// PreTokenize(s) joined by spaces.
func (t *Tokenizer) Decode(ids []int32) string {
	var b strings.Builder
	for _, id := range ids {
		if id == PadID {
			continue
		}
		piece := "[UNK]"
		if id >= 0 && int(id) < len(t.vocab) {
			piece = t.vocab[id]
		}
		if rest, ok := strings.CutPrefix(piece, continuation); ok && b.Len() > 0 {
			b.WriteString(rest)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(piece)
	}
	return b.String()
}

// WriteVocab writes the vocabulary one token per line, the format of BERT's
// vocab.txt.
func (t *Tokenizer) WriteVocab(w io.Writer) error {
	bw := bufio.NewWriter(w)
	for _, piece := range t.vocab {
		bw.WriteString(piece)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// ReadVocab reads a vocabulary written by WriteVocab.
func ReadVocab(r io.Reader) (*Tokenizer, error) {
	var vocab []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		vocab = append(vocab, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("imdb: reading a vocabulary: %w", err)
	}
	return NewTokenizer(vocab)
}

// TrainWordPiece learns a WordPiece vocabulary of at most vocabSize tokens
// (special tokens included) from texts.
//
// It works like the Hugging Face WordPiece trainer: every word is first
// spelled as characters (the first as is, the rest as "##c"), every
// character seen becomes a token, and then the most frequent adjacent pair
// of tokens, counted over all words weighted by how often each word occurs,
// is merged into a new token, again and again, until the vocabulary is full
// or no pair occurs twice. Ties go to the pair whose tokens were created
// first, so the result depends only on texts. Pair counts are updated only
// in the words a merge touches, and the next pair comes from a heap, which
// keeps training on 25,000 reviews to a few seconds.
func TrainWordPiece(texts []string, vocabSize int) (*Tokenizer, error) {
	counts := countWords(texts)
	words := make([]string, 0, len(counts))
	for w := range counts {
		if len(w) <= maxWordBytes {
			words = append(words, w)
		}
	}
	slices.Sort(words)

	tr := &trainer{ids: map[string]int32{}}
	// The alphabet, in sorted order, so ids do not depend on map order.
	alphabet := map[string]bool{}
	for _, w := range words {
		for i, r := range w {
			alphabet[symbolString(string(r), i > 0)] = true
		}
	}
	for _, s := range slices.Sorted(mapKeys(alphabet)) {
		tr.add(s)
	}
	budget := vocabSize - len(SpecialTokens())
	if len(tr.symbols) > budget {
		return nil, fmt.Errorf("imdb: the texts use %d distinct characters (as word starts and continuations), "+
			"more than a vocabulary of %d leaves room for; use a larger vocabulary", len(tr.symbols), vocabSize)
	}
	tr.words = make([][]int32, len(words))
	tr.freq = make([]int64, len(words))
	for w, word := range words {
		seq := make([]int32, 0, utf8.RuneCountInString(word))
		for i, r := range word {
			seq = append(seq, tr.ids[symbolString(string(r), i > 0)])
		}
		tr.words[w], tr.freq[w] = seq, int64(counts[word])
	}
	tr.merge(budget)
	return NewTokenizer(append(SpecialTokens(), tr.symbols...))
}

func mapKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func symbolString(s string, continues bool) string {
	if continues {
		return continuation + s
	}
	return s
}

// countWords counts the pre-tokenized words of texts, in parallel.
func countWords(texts []string) map[string]int {
	workers := runtime.GOMAXPROCS(0)
	partial := make([]map[string]int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := map[string]int{}
			for i := w; i < len(texts); i += workers {
				for _, word := range PreTokenize(texts[i]) {
					m[word]++
				}
			}
			partial[w] = m
		}()
	}
	wg.Wait()
	total := partial[0]
	for _, m := range partial[1:] {
		for k, v := range m {
			total[k] += v
		}
	}
	return total
}

// trainer holds the state of the merge loop.
type trainer struct {
	symbols []string         // symbol id → token
	ids     map[string]int32 // token → symbol id
	words   [][]int32        // each distinct word as symbol ids
	freq    []int64          // how often each word occurs
}

func (tr *trainer) add(s string) int32 {
	id := int32(len(tr.symbols))
	tr.symbols = append(tr.symbols, s)
	tr.ids[s] = id
	return id
}

// pairKey packs an adjacent pair of symbol ids; ordering keys orders pairs
// by first symbol, then second.
type pairKey uint64

func makePair(a, b int32) pairKey { return pairKey(uint64(a)<<32 | uint64(uint32(b))) }
func (p pairKey) split() (int32, int32) {
	return int32(p >> 32), int32(uint32(p))
}

// pairEntry is a heap entry: a pair with its count when pushed. An entry is
// current only while the pair's count still equals count.
type pairEntry struct {
	count int64
	pair  pairKey
}

type pairHeap []pairEntry

func (h pairHeap) Len() int { return len(h) }
func (h pairHeap) Less(i, j int) bool {
	if h[i].count != h[j].count {
		return h[i].count > h[j].count
	}
	return h[i].pair < h[j].pair
}
func (h pairHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pairHeap) Push(x any)   { *h = append(*h, x.(pairEntry)) }
func (h *pairHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// merge runs the merge loop until there are budget symbols or no pair
// occurs at least twice.
func (tr *trainer) merge(budget int) {
	const minPairCount = 2
	counts := map[pairKey]int64{}
	where := map[pairKey][]int32{} // pair → words that contain (or once contained) it
	for w, seq := range tr.words {
		for i := 0; i+1 < len(seq); i++ {
			p := makePair(seq[i], seq[i+1])
			counts[p] += tr.freq[w]
			where[p] = append(where[p], int32(w))
		}
	}
	h := make(pairHeap, 0, len(counts))
	for p, c := range counts {
		h = append(h, pairEntry{c, p})
	}
	heap.Init(&h)
	touched := map[pairKey]bool{}
	lastMerge := make([]int, len(tr.words)) // merge number that last rewrote each word
	for merges := 1; len(tr.symbols) < budget && h.Len() > 0; {
		top := heap.Pop(&h).(pairEntry)
		if counts[top.pair] != top.count {
			continue // stale entry
		}
		if top.count < minPairCount {
			break
		}
		a, b := top.pair.split()
		token := tr.symbols[a] + strings.TrimPrefix(tr.symbols[b], continuation)
		n, ok := tr.ids[token]
		if !ok {
			n = tr.add(token)
		}
		clear(touched)
		for _, w := range where[top.pair] {
			if lastMerge[w] == merges {
				continue // listed twice; already rewritten
			}
			lastMerge[w] = merges
			tr.rewrite(w, a, b, n, counts, where, touched)
		}
		delete(where, top.pair)
		delete(counts, top.pair)
		for p := range touched {
			if c := counts[p]; c > 0 {
				heap.Push(&h, pairEntry{c, p})
			} else {
				delete(counts, p)
			}
		}
		merges++
	}
}

// rewrite replaces each a,b in word w by n, left to right, and updates the
// pair counts.
func (tr *trainer) rewrite(w int32, a, b, n int32, counts map[pairKey]int64, where map[pairKey][]int32, touched map[pairKey]bool) {
	seq := tr.words[w]
	if !containsPair(seq, a, b) {
		return
	}
	f := tr.freq[w]
	for i := 0; i+1 < len(seq); i++ {
		p := makePair(seq[i], seq[i+1])
		counts[p] -= f
		touched[p] = true
	}
	out := seq[:0]
	for i := 0; i < len(seq); i++ {
		if i+1 < len(seq) && seq[i] == a && seq[i+1] == b {
			out = append(out, n)
			i++
		} else {
			out = append(out, seq[i])
		}
	}
	for i := 0; i+1 < len(out); i++ {
		p := makePair(out[i], out[i+1])
		counts[p] += f
		touched[p] = true
		if out[i] == n || out[i+1] == n {
			where[p] = append(where[p], w)
		}
	}
	tr.words[w] = out
}

func containsPair(seq []int32, a, b int32) bool {
	for i := 0; i+1 < len(seq); i++ {
		if seq[i] == a && seq[i+1] == b {
			return true
		}
	}
	return false
}
