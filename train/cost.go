package train

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/cost"
	"github.com/mirage-go/mirage/internal/atomicfile"
)

// The hardware a run's cost.json prices its GEMMs on: the published
// Mirage figures against a TPU-v4-like systolic array (see package cost;
// `mirage cost --records DIR/cost.json` prices the same records on any
// other parameter file).
const (
	CostAccelerator = "mirage-isca24"
	CostBaseline    = "systolic-bf16-128x128"
)

// CostFile is the content of cost.json: what the run's GEMMs would have
// cost on the accelerator and on the baseline, per epoch and in total.
// Evaluation passes are not included (they run on a fresh backend).
type CostFile struct {
	Accelerator string       `json:"accelerator"`
	Baseline    string       `json:"baseline"`
	Format      *cost.Format `json:"format"`
	// FormatSource says where Format came from: the run's backend, or
	// (for backends without moduli) the smallest {2^k-1, 2^k, 2^k+1} set
	// that fits the run's mantissa width and tile.
	FormatSource string      `json:"format_source"`
	Epochs       []CostEpoch `json:"epochs"`
	// Note says when the history is incomplete (a run resumed without
	// the cost.json of its earlier epochs).
	Note string `json:"note,omitempty"`
	// Total is the whole run, per layer and role; Records its GEMMs.
	Total   cost.Comparison `json:"total"`
	Records []cost.Record   `json:"records"`
	NonGEMM cost.NonGEMM    `json:"non_gemm_work"`
}

// CostEpoch is one epoch's training steps.
type CostEpoch struct {
	Epoch       int         `json:"epoch"`
	Steps       int64       `json:"steps"`
	Accelerator cost.Cost   `json:"accelerator"`
	Baseline    cost.Cost   `json:"baseline"`
	Ratios      cost.Ratios `json:"ratios"`
	// Records are the epoch's GEMMs; a resumed run rebuilds its history
	// from them.
	Records []cost.Record `json:"records"`
}

// costLog turns a backend's per-shape GEMM counts into cost.json after
// every epoch. It is inert for backends that do not count shapes (fp32).
type costLog struct {
	shapes      backend.ShapeReporter
	acc, base   cost.Hardware
	file        CostFile
	params      int64
	opsPerParam float64
	prev        []cost.Record
	prevStep    int
}

// newCostLog prepares cost.json for a run on b that starts (or resumes) at
// epoch start, or returns nil when b does not count its GEMM shapes. A
// resumed run keeps the epochs before start from the existing cost.json;
// the backend's restored counts carry on from them.
func newCostLog(b backend.Backend, cfg Config, params int64, start int) (*costLog, error) {
	sr, ok := b.(backend.ShapeReporter)
	if !ok {
		return nil, nil
	}
	accP, err := cost.Preset(CostAccelerator)
	if err != nil {
		return nil, err
	}
	baseP, err := cost.Preset(CostBaseline)
	if err != nil {
		return nil, err
	}
	l := &costLog{shapes: sr, opsPerParam: cost.OpsPerParamSGD, params: params}
	if cfg.Optimizer == "adamw" {
		l.opsPerParam = cost.OpsPerParamAdamW
	}
	if l.acc, err = cost.New(accP); err != nil {
		return nil, err
	}
	if l.base, err = cost.New(baseP); err != nil {
		return nil, err
	}
	l.file = CostFile{Accelerator: CostAccelerator, Baseline: CostBaseline}
	l.file.Format, l.file.FormatSource, err = runFormat(b)
	if err != nil {
		return nil, err
	}
	if start > 1 && cfg.OutDir != "" {
		l.resume(filepath.Join(cfg.OutDir, "cost.json"), start)
	}
	return l, nil
}

// resume keeps the epochs before start from an earlier cost.json, or notes
// that they are missing (then the first epoch priced holds every GEMM
// since the start of the run).
func (l *costLog) resume(file string, start int) {
	var old CostFile
	data, err := os.ReadFile(file)
	if err == nil {
		err = json.Unmarshal(data, &old)
	}
	if err != nil {
		l.file.Note = fmt.Sprintf("resumed at epoch %d without the cost of the earlier epochs (%v): the first epoch listed includes them", start, err)
		return
	}
	var sets [][]cost.Record
	for _, e := range old.Epochs {
		if e.Epoch < start {
			l.file.Epochs = append(l.file.Epochs, e)
			sets = append(sets, e.Records)
			l.prevStep += int(e.Steps)
		}
	}
	l.prev = cost.Merge(sets...)
	l.file.Note = old.Note
}

// runFormat reads the number format from the backend's configuration.
func runFormat(b backend.Backend) (*cost.Format, string, error) {
	c, ok := b.(backend.Configurer)
	if !ok {
		return nil, "", fmt.Errorf("backend %s counts GEMM shapes but reports no configuration", b.Name())
	}
	// The effective configuration's capabilities say what it is: a BFP
	// format (bfpengine.SettingsConfig), and moduli for an RNS backend.
	type bfpConfig interface{ BFPTiles() (bits, tile int) }
	type rnsConfig interface {
		ResidueModuli() (base, redundant []int64)
	}
	bfpCfg, ok := c.Config().(bfpConfig)
	if !ok {
		return nil, "", fmt.Errorf("backend %s counts GEMM shapes but its configuration has no BFP format", b.Name())
	}
	f := &cost.Format{}
	f.Bits, f.Tile = bfpCfg.BFPTiles()
	if rnsCfg, ok := c.Config().(rnsConfig); ok {
		f.Moduli, f.Redundant = rnsCfg.ResidueModuli()
	}
	if len(f.Moduli) > 0 {
		return f, "the run's rns backend", f.Validate()
	}
	for k := int64(3); k <= 16; k++ {
		f.Moduli = []int64{1<<k - 1, 1 << k, 1<<k + 1}
		if f.Validate() == nil {
			return f, fmt.Sprintf("backend %s has no moduli: the smallest {2^k-1, 2^k, 2^k+1} set that fits its mantissa width and tile (k = %d)", b.Name(), k), nil
		}
	}
	return nil, "", fmt.Errorf("no {2^k-1, 2^k, 2^k+1} moduli set fits %d-bit mantissas with tile %d", f.Bits, f.Tile)
}

// epochDone prices the GEMMs since the last epoch and the whole run, and
// rewrites dir/cost.json (when dir is set).
func (l *costLog) epochDone(epoch, step int, dir string) error {
	if l == nil {
		return nil
	}
	all := cost.FromShapes(l.shapes.GEMMShapes())
	steps := int64(step - l.prevStep)
	w := cost.Workload{Records: cost.Sub(all, l.prev), Format: l.file.Format, Steps: steps}
	w.NonGEMM = cost.EstimateNonGEMM(w.Records, l.params, steps, l.opsPerParam)
	c, err := cost.Compare(l.acc, l.base, w, cost.IsoNone)
	if err != nil {
		return fmt.Errorf("cost of epoch %d: %w", epoch, err)
	}
	l.file.Epochs = append(l.file.Epochs, CostEpoch{Epoch: epoch, Steps: steps,
		Accelerator: c.Accelerator.Total, Baseline: c.Baseline.Total, Ratios: c.Total, Records: w.Records})
	total := cost.Workload{Records: all, Format: l.file.Format, Steps: int64(step)}
	total.NonGEMM = cost.EstimateNonGEMM(all, l.params, int64(step), l.opsPerParam)
	if l.file.Total, err = cost.Compare(l.acc, l.base, total, cost.IsoNone); err != nil {
		return err
	}
	l.file.Records, l.file.NonGEMM = all, total.NonGEMM
	l.prev, l.prevStep = all, step
	if dir == "" {
		return nil
	}
	data, err := json.MarshalIndent(l.file, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "cost.json"), append(data, '\n')); err != nil {
		return fmt.Errorf("cannot write cost.json: %w", err)
	}
	return nil
}
