package experiment

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"

	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/internal/atomicfile"
)

// planFile is a sweep's plan.json. It holds the spec and what identifies
// the rows the spec expands to — their number and a digest of their IDs in
// order — not the rows: row i is made from the spec when needed (a
// [Grid]), which keeps the file, and the memory of whoever reads it, the
// size of the spec. The digest tells a reader whether today's code still
// expands the spec to the rows the results belong to.
type planFile struct {
	Spec *Spec `json:"spec"`
	// RowCount is the number of rows.
	RowCount int `json:"row_count,omitempty"`
	// RowIDs is the SHA-256 of the rows' IDs in order, each followed by a
	// newline; a row's ID is a hash of its configuration (see Row).
	RowIDs string `json:"row_ids_sha256,omitempty"`
	// Rows says, for a reader of the file, where the rows are.
	RowsNote string `json:"rows,omitempty"`
	// Listed is every row, as plan.json held them before sweeps were
	// planned lazily: read from old directories, never written.
	Listed []Row `json:"-"`
}

const plannedRowsNote = "made from the spec, row i by its index; list them with: mirage sweep --spec FILE --dry-run"

// UnmarshalJSON reads both forms of plan.json: "rows" is a note in a lazy
// plan and the list of rows in an old one.
func (p *planFile) UnmarshalJSON(data []byte) error {
	var raw struct {
		Spec     *Spec           `json:"spec"`
		RowCount int             `json:"row_count"`
		RowIDs   string          `json:"row_ids_sha256"`
		Rows     json.RawMessage `json:"rows"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	*p = planFile{Spec: raw.Spec, RowCount: raw.RowCount, RowIDs: raw.RowIDs}
	if len(raw.Rows) > 0 && raw.Rows[0] == '[' {
		return json.Unmarshal(raw.Rows, &p.Listed)
	}
	if len(raw.Rows) > 0 {
		return json.Unmarshal(raw.Rows, &p.RowsNote)
	}
	return nil
}

// rowDigest hashes row IDs in order, as planFile.RowIDs records them.
type rowDigest struct{ h hash.Hash }

func newRowDigest() rowDigest { return rowDigest{sha256.New()} }

func (d rowDigest) add(r Row) { io.WriteString(d.h, r.ID+"\n") }

func (d rowDigest) String() string { return hex.EncodeToString(d.h.Sum(nil)) }

// writePlan writes out/plan.json for a spec of n rows whose IDs hash to
// digest.
func writePlan(out string, spec *Spec, n int, digest string) error {
	data, err := json.MarshalIndent(planFile{Spec: spec, RowCount: n, RowIDs: digest, RowsNote: plannedRowsNote}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(out, "plan.json"), append(data, '\n'))
}

// readPlan reads dir/plan.json and returns the spec and its rows: those it
// lists (an old plan), or a Grid of its spec after checking that the grid
// makes the rows the plan recorded.
func readPlan(dir string, reg mirage.Registries) (*Spec, Rows, error) {
	data, err := os.ReadFile(filepath.Join(dir, "plan.json"))
	if err != nil {
		return nil, nil, err
	}
	var plan planFile
	if err := json.Unmarshal(data, &plan); err != nil {
		return nil, nil, fmt.Errorf("%s: plan.json is not a sweep plan (%v); run mirage sweep again to rewrite it", dir, err)
	}
	if plan.Spec == nil || len(plan.Listed) == 0 && plan.RowCount == 0 {
		return nil, nil, fmt.Errorf("%s: plan.json has no spec or no rows; run mirage sweep again to rewrite it", dir)
	}
	if len(plan.Listed) > 0 {
		return plan.Spec, rowList(plan.Listed), nil
	}
	g, err := NewGrid(plan.Spec, reg)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: the spec in plan.json no longer plans (%v); run the sweep with the mirage that ran it", dir, err)
	}
	digest := newRowDigest()
	for r := range All(g) {
		digest.add(r)
	}
	if g.Len() != plan.RowCount || digest.String() != plan.RowIDs {
		return nil, nil, fmt.Errorf("%s: the spec in plan.json now expands to other rows (%d rows, IDs %.12s…) than the sweep ran (%d rows, IDs %.12s…): this mirage configures runs differently from the one that ran it; use that one, or run mirage sweep again", dir, g.Len(), digest.String(), plan.RowCount, plan.RowIDs)
	}
	return plan.Spec, g, nil
}
