package optim

import "math"

// Schedule gives the learning rate at a step. A schedule is a plain value
// with no hidden state: LR(t) depends on t alone, so a run can resume at
// any step, and the same schedule can be read per batch or per epoch (t
// counts whichever the caller chooses; Steps fields count the same unit).
//
// Drive an optimizer with it by calling opt.SetLR(s.LR(t)) before step t.
type Schedule interface {
	LR(t int) float64
}

// Constant is a fixed learning rate.
type Constant float64

// LR returns the constant.
func (c Constant) LR(int) float64 { return float64(c) }

// StepLR multiplies the learning rate by Gamma every StepSize steps, like
// torch.optim.lr_scheduler.StepLR: lr(t) = Base · Gamma^⌊t/StepSize⌋.
type StepLR struct {
	Base     float64
	StepSize int
	Gamma    float64
}

// LR returns the learning rate at step t.
func (s StepLR) LR(t int) float64 {
	if s.StepSize <= 0 || t < 0 {
		return s.Base
	}
	return s.Base * math.Pow(s.Gamma, float64(t/s.StepSize))
}

// MultiStepLR multiplies the learning rate by Gamma at each milestone step,
// like torch.optim.lr_scheduler.MultiStepLR: lr(t) = Base · Gamma^k where k
// is the number of milestones ≤ t. Milestones must be in increasing order.
type MultiStepLR struct {
	Base       float64
	Milestones []int
	Gamma      float64
}

// MultiStep returns the schedule decaying base by gamma at each milestone.
func MultiStep(base float64, milestones []int, gamma float64) MultiStepLR {
	return MultiStepLR{Base: base, Milestones: milestones, Gamma: gamma}
}

// LR returns the learning rate at step t.
func (s MultiStepLR) LR(t int) float64 {
	k := 0
	for _, m := range s.Milestones {
		if t >= m {
			k++
		}
	}
	return s.Base * math.Pow(s.Gamma, float64(k))
}

// CosineAnnealing anneals from Base to Min over Steps steps along half a cosine, the
// closed form of torch.optim.lr_scheduler.CosineAnnealingLR:
//
//	lr(t) = Min + (Base - Min)·(1 + cos(π·t/Steps))/2
//
// After Steps it stays at Min (PyTorch would climb back up).
type CosineAnnealing struct {
	Base, Min float64
	Steps     int
}

// Cosine returns the schedule annealing from base to floor over steps steps.
func Cosine(base, floor float64, steps int) CosineAnnealing {
	return CosineAnnealing{Base: base, Min: floor, Steps: steps}
}

// LR returns the learning rate at step t.
func (c CosineAnnealing) LR(t int) float64 {
	if c.Steps <= 0 || t >= c.Steps {
		return c.Min
	}
	if t < 0 {
		t = 0
	}
	return c.Min + (c.Base-c.Min)*(1+math.Cos(math.Pi*float64(t)/float64(c.Steps)))/2
}

// LinearWarmup ramps the learning rate linearly for Steps steps and then hands
// over to After, which starts from its own step 0. During warm-up the rate is
// After.LR(0) scaled by a factor rising from StartFactor at t = 0 towards 1
// (torch.optim.lr_scheduler.LinearLR chained with SequentialLR):
//
//	lr(t) = (StartFactor + (1-StartFactor)·t/Steps) · After.LR(0)   for t < Steps
//	lr(t) = After.LR(t - Steps)                                       otherwise
//
// Leave StartFactor 0 to start from zero; the first step then has
// learning rate 0, as in PyTorch with start_factor near 0. A positive value
// such as 1/Steps avoids the idle first step.
type LinearWarmup struct {
	Steps       int
	StartFactor float64
	After       Schedule
}

// Warmup returns after preceded by a linear warm-up of steps steps that
// starts at 1/steps of after's initial rate, so no step is idle.
func Warmup(after Schedule, steps int) LinearWarmup {
	return LinearWarmup{Steps: steps, StartFactor: 1 / float64(max(steps, 1)), After: after}
}

// LR returns the learning rate at step t.
func (w LinearWarmup) LR(t int) float64 {
	if t >= w.Steps {
		return w.After.LR(t - w.Steps)
	}
	if t < 0 {
		t = 0
	}
	f := w.StartFactor + (1-w.StartFactor)*float64(t)/float64(w.Steps)
	return f * w.After.LR(0)
}

// OneCycleLR is the one-cycle policy of torch.optim.lr_scheduler.OneCycleLR
// with cosine annealing and two phases (three_phase=False): the rate rises
// from Max/DivFactor to Max over the first PctStart of TotalSteps, then
// falls to Max/DivFactor/FinalDivFactor at step TotalSteps-1. Zero fields
// take PyTorch's defaults: PctStart 0.3, DivFactor 25, FinalDivFactor 1e4.
// Steps past the end stay at the final rate. Unlike PyTorch's default
// (cycle_momentum=True), momentum is not cycled: it stays as configured.
type OneCycleLR struct {
	Max            float64
	TotalSteps     int
	PctStart       float64
	DivFactor      float64
	FinalDivFactor float64
}

// OneCycle returns PyTorch's default one-cycle schedule peaking at peak
// over totalSteps steps.
func OneCycle(peak float64, totalSteps int) OneCycleLR {
	return OneCycleLR{Max: peak, TotalSteps: totalSteps}
}

// LR returns the learning rate at step t.
func (o OneCycleLR) LR(t int) float64 {
	pct, div, finalDiv := o.PctStart, o.DivFactor, o.FinalDivFactor
	if pct == 0 {
		pct = 0.3
	}
	if div == 0 {
		div = 25
	}
	if finalDiv == 0 {
		finalDiv = 1e4
	}
	initial := o.Max / div
	final := initial / finalDiv
	// PyTorch's phase boundaries, as floats: phase one ends at step
	// pct·total - 1, phase two at total - 1.
	warmEnd := pct*float64(o.TotalSteps) - 1
	end := float64(o.TotalSteps) - 1
	s := float64(max(t, 0))
	switch {
	case s <= warmEnd && warmEnd <= 0:
		return o.Max // warm-up shorter than one step
	case s <= warmEnd:
		return cosineAnneal(initial, o.Max, s/warmEnd)
	case s >= end:
		return final
	default:
		return cosineAnneal(o.Max, final, (s-warmEnd)/(end-warmEnd))
	}
}

// cosineAnneal goes from start (frac 0) to end (frac 1) along half a cosine.
func cosineAnneal(start, end, frac float64) float64 {
	return end + (start-end)/2*(math.Cos(math.Pi*frac)+1)
}
