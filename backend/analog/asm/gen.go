// Command asm generates the vectorised ADC readout of package analog with
// avo.
//
// It lives in its own module so that avo stays out of mirage's dependency
// list. Regenerate from this directory with
//
//	go run . -out ../readout_amd64.s -stubs ../readout_amd64.go -pkg analog
//
// readRowAVX2 and readRowAVX512 read out one row of a tile four or eight
// columns at a time (float64 lanes) and must give exactly what the scalar
// loop of package analog (rowReader.readGo) gives: the same float64
// operations in the same order and with the same first operands
// (x = ((t·invA)·invB)/step, code = roundEven(x), the readout
// ((code·step)·scA)·scB rounded to float32, dst + readout when
// accumulating), no FMA, the same clamp (x86's MINPD/MAXPD return their
// second operand when it is NaN, and Go's min and max return NaN there:
// with the code as the second operand both leave a NaN code alone, as the
// scalar loop, which never clamps a NaN, does).
//
// With noise, the live readouts of a group that take the one-comparison
// fast path consume consecutive 16-bit pieces of the item's stream, in
// column order: the pieces left in the current word, then those of the
// next SplitMix64 words (at most one per group of four, two per group of
// eight). The kernels compute the live lanes' pieces (AVX2: a table gives
// each lane's rank among the live ones; AVX-512: VPEXPANDQ spreads the
// next eight pieces over the live lanes), their tail levels and the
// thresholds head[level] from the 16-bit table head16 (AVX2: two VPERMD
// of its halves; AVX-512: VPERMW on the table in a register; gathers are
// slow), and commit a group only when
// every live lane is decided by its piece. Otherwise the AVX2 kernel
// returns at the group, untouched, and the AVX-512 kernel reads out the
// group's columns before the first undecided lane and returns at it; the
// scalar loop reads that group or column from the same stream position
// (slowCode draws normals from the stream itself, which only Go does) and
// calls the kernel again. On AVX2 the rest of that row is then read in
// three passes, for wide converters, where a readout in seven leaves the
// fast path: prepareRowAVX2 writes every lane's code and threshold,
// package analog's rowReader.decide runs the stream over them in Go and
// draws the noisy codes, and writeRowAVX2 reads the codes out.
package main

import (
	"math"
	"math/bits"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Offsets of the fields of package analog's rowRead (checked there by
// TestRowReadLayout).
const (
	offTile       = 0
	offDst        = 8
	offInvB       = 16
	offScB        = 24
	offHead16     = 32
	offN          = 40
	offInvA       = 48
	offScA        = 56
	offStep       = 64
	offLo         = 72
	offHi         = 80
	offLevelScale = 88
	offState      = 96
	offBits       = 104
	offNBits      = 112
	offReadouts   = 120
	offClipped    = 128
	offNoisy      = 136
	offAssign     = 144
	offDead       = 152
	offCodes      = 160
	offThr        = 168
	offXs         = 176
)

// Thresholds prepareRowAVX2 writes for lanes that no piece decides (a
// level below 1, or NaN) and for dead lanes (zero B block): both above
// every 16-bit piece. Package analog's slowThr and deadThr.
const (
	slowThr = 1 << 16
	deadThr = 1 << 17
)

// lowPieceMask holds 0xffff in every lane.
var lowPieceMask Mem

// Comparison predicates of VCMPPD.
const (
	cmpNEQ = 0x04 // not equal (unordered: NaN ≠ anything)
	cmpLT  = 0x11 // less than, ordered (false for NaN)
	cmpGE  = 0x1d // greater or equal, ordered
	cmpGT  = 0x1e // greater than, ordered
)

func main() {
	ConstraintExpr("!purego")

	// Four-lane constants, 32 bytes each.
	consts := GLOBL("readoutConsts", RODATA|NOPTR)
	// (The assembler wants DATA in increasing offsets, and avo writes
	// F64(1) as $(1), which the assembler takes for the integer 1: the
	// floats go in as their bits.)
	for c, v := range []Constant{
		U64(0x7fffffffffffffff), // |x| mask
		U64(math.Float64bits(0.5)),
		U64(math.Float64bits(0x1p52)), // adding it puts a small integer in the low bits
		U64(math.Float64bits(1)),
		U64(0xffff),
		U64(math.Float64bits(31)), // the last entry of the 16-bit threshold table
		U64(0),
		U64(16),
		U64(slowThr),
		U64(deadThr),
	} {
		for i := range 4 {
			DATA(32*c+8*i, v)
		}
	}
	absMask, half, magic, one := consts.Offset(0), consts.Offset(32), consts.Offset(64), consts.Offset(96)
	lastEntry := consts.Offset(160)
	lowPieceMask = consts.Offset(128)

	// pieceShifts[m][i]: for live-lane mask m, 16 times the number of live
	// lanes before lane i, the shift of lane i's piece in the 64 bits
	// of pieces the group consumes.
	shifts := GLOBL("pieceShifts", RODATA|NOPTR)
	for m := range 16 {
		for i := range 4 {
			DATA(32*m+8*i, U64(uint64(16*bits.OnesCount(uint(m&(1<<i-1))))))
		}
	}

	c := avx2Consts{absMask: absMask, half: half, magic: magic, lastEntry: lastEntry, one: one, zero: consts.Offset(192), sixteen: consts.Offset(224), shifts: shifts}
	readRowAVX2(c)
	prepareRowAVX2(c, consts.Offset(256), consts.Offset(288))
	writeRowAVX2(c)

	windowShifts := GLOBL("windowShifts", RODATA|NOPTR)
	for i := range 8 {
		DATA(8*i, U64(uint64(16*(i%4))))
	}
	readRowAVX512(absMask, half, lastEntry, one, windowShifts)

	Generate()
}

// readRowAVX2 emits the AVX2 kernel: four columns per group. With noise
// it is software pipelined: while group g's pieces are compared and its
// readouts stored, the next group's codes, tail levels and thresholds are
// computed (a long chain: a division, the rounding, the table lookup), so
// that group g+1's decision does not wait for all of it; the row's
// scalars live in memory (the stack frame, RODATA) so that two groups'
// values fit in the sixteen registers. Without noise a plain loop reads
// group after group with the scalars in registers (pipelining it made it
// slower).
func readRowAVX2(c avx2Consts) {
	TEXT("readRowAVX2", NOSPLIT, "func(job uintptr) int")
	Doc("readRowAVX2 reads out the columns of job four at a time, as rowReader.readGo does, and returns how many it did: a multiple of 4, stopping before the first group that needs the scalar path (a noisy readout off the fast path) or fewer than 4 columns from the end. It needs AVX2, BMI2 and POPCNT.")
	Pragma("noescape")
	job := Load(Param("job"), GP64())
	// The row's scalars, broadcast into the frame.
	sl := broadcastFrame(job, offInvA, offScA, offStep, offLo, offHi, offLevelScale)
	invA, scA, step, lo, hi, levelScale := sl[0], sl[1], sl[2], sl[3], sl[4], sl[5]
	// The loop-carried state lives in registers: the column j, the
	// stream (state, the word it draws next, the pieces left and their
	// count) and the counts (readouts in the low 32 bits, clips in the
	// high ones: a call reads at most n < 2^31 columns). The slices'
	// addresses are loaded from job where they are used, off those
	// chains.
	j, counts := GP64(), GP64()
	XORQ(j, j)
	XORQ(counts, counts)
	state, next, bits, nbits := GP64(), GP64(), GP64(), GP64()
	MOVQ(Mem{Base: job, Disp: offState}, state)
	MOVQ(Mem{Base: job, Disp: offBits}, bits)
	MOVQ(Mem{Base: job, Disp: offNBits}, nbits)
	nextWord(state, next)

	CMPQ(Mem{Base: job, Disp: offNoisy}, U8(0))
	JEQ(LabelRef("plain"))

	// The group in hand (columns j … j+3): its codes, B scales, live
	// lanes and their mask m, and with noise the lanes that may take the
	// fast path (ok) and their thresholds (thr).
	cur := avx2Group{code: YMM(), sc: YMM(), live: YMM(), ok: YMM(), thr: YMM(), m: GP64()}
	end := GP64()
	LEAQ(Mem{Base: j, Disp: 4}, end)
	CMPQ(end, Mem{Base: job, Disp: offN})
	JGT(LabelRef("done"))
	front(job, j, 0, cur, c, invA, step, levelScale, "firstFront")

	Label("group")
	// The next group's front half, if there is one.
	nxt := avx2Group{code: YMM(), sc: YMM(), live: YMM(), ok: YMM(), thr: YMM(), m: GP64()}
	LEAQ(Mem{Base: j, Disp: 8}, end)
	CMPQ(end, Mem{Base: job, Disp: offN})
	JGT(LabelRef("back"))
	front(job, j, 4, nxt, c, invA, step, levelScale, "nextFront")

	Label("back")
	p := GP64()
	m := cur.m
	TESTQ(m, m)
	JZ(LabelRef("readout"))
	// Per lane, the shift of its piece among the live lanes' pieces.
	sh := YMM()
	tab := GP64()
	LEAQ(c.shifts, tab)
	MOVQ(m, p)
	SHLQ(U8(5), p)
	VMOVDQU(Mem{Base: tab, Index: p, Scale: 1}, sh)

	// The group's pieces: from the bits left, then, if the live lanes
	// need more, from the next word.
	nLive := GP64()
	POPCNTQ(m, nLive)
	SHLQ(U8(4), nLive) // 16 bits per live lane
	newBits, newNBits := GP64(), GP64()
	CMPQ(nLive, nbits)
	JGT(LabelRef("draw"))
	SHRXQ(nLive, bits, newBits)
	MOVQ(nbits, newNBits)
	SUBQ(nLive, newNBits)
	emptyHoldsZero(newBits, newNBits)
	decided(bits, sh, cur.thr, cur.ok, cur.live)
	MOVQ(newBits, bits)
	MOVQ(newNBits, nbits)
	JMP(LabelRef("readout"))

	Label("draw")
	pieces := GP64()
	SHLXQ(nbits, next, pieces)
	ORQ(bits, pieces)  // the pieces left, then the next word's
	SUBQ(nbits, nLive) // bits taken from the next word
	SHRXQ(nLive, next, newBits)
	MOVQ(U32(64), newNBits)
	SUBQ(nLive, newNBits)
	emptyHoldsZero(newBits, newNBits)
	decided(pieces, sh, cur.thr, cur.ok, cur.live)
	MOVQ(newBits, bits)
	MOVQ(newNBits, nbits)
	g := GP64()
	MOVQ(U64(golden), g)
	ADDQ(g, state)
	nextWord(state, next)

	Label("readout")
	readOut(job, j, counts, cur.code, cur.sc, cur.live, m, lo, hi, step, scA, "")

	Label("next")
	ADDQ(U8(4), j)
	LEAQ(Mem{Base: j, Disp: 4}, end)
	CMPQ(end, Mem{Base: job, Disp: offN})
	JGT(LabelRef("done"))
	// The next group is in hand (its front half ran above).
	VMOVAPD(nxt.code, cur.code)
	VMOVAPD(nxt.sc, cur.sc)
	VMOVAPD(nxt.live, cur.live)
	VMOVAPD(nxt.ok, cur.ok)
	VMOVAPD(nxt.thr, cur.thr)
	MOVQ(nxt.m, cur.m)
	JMP(LabelRef("group"))

	Label("done")
	MOVQ(state, Mem{Base: job, Disp: offState})
	MOVQ(bits, Mem{Base: job, Disp: offBits})
	MOVQ(nbits, Mem{Base: job, Disp: offNBits})
	finish(job, j, counts)

	// Without noise: group after group, nothing to pipeline for (the
	// groups' chains overlap on their own), the scalars in registers.
	Label("plain")
	invAr, scAr, stepr, lor, hir, zero := YMM(), YMM(), YMM(), YMM(), YMM(), YMM()
	VXORPD(zero, zero, zero)
	VMOVUPD(invA, invAr)
	VMOVUPD(scA, scAr)
	VMOVUPD(step, stepr)
	VMOVUPD(lo, lor)
	VMOVUPD(hi, hir)
	eachGroup(job, j, end, "plainGroup", "plainDone", func() {
		code, sc, live, pm := YMM(), YMM(), YMM(), GP64()
		codes(job, j, 0, invAr, stepr, zero, code, sc, live, pm)
		readOut(job, j, counts, code, sc, live, pm, lor, hir, stepr, scAr, "plain")
	})

	Label("plainDone")
	finish(job, j, counts)
}

// prepareRowAVX2 emits the first pass of a noisy row read in three
// passes (see package analog's rowReader.readPasses): for each whole group of
// four columns, the codes roundEven(x) into job's codes, the lanes'
// thresholds into job's thr (head[level] where a piece can decide the
// lane, slowThr where none can, deadThr where the lane is dead) and x
// itself into job's xs, for the lanes no piece decides. It draws nothing:
// package analog's rowReader.decide runs the stream over the thresholds,
// and writeRowAVX2 reads the codes out.
func prepareRowAVX2(c avx2Consts, slowMark, deadMark Mem) {
	TEXT("prepareRowAVX2", NOSPLIT, "func(job uintptr)")
	Doc("prepareRowAVX2 writes the codes and fast-path thresholds of the first n&^3 columns of job into its codes and thr (slowThr for a lane no piece decides, deadThr for a dead lane), as rowReader.readGo computes them, and their x = P/Δ into its xs. It needs AVX2.")
	Pragma("noescape")
	job := Load(Param("job"), GP64())
	sl := broadcastFrame(job, offInvA, offStep, offLevelScale)
	invA, step, levelScale := sl[0], sl[1], sl[2]
	j, end, p := GP64(), GP64(), GP64()
	XORQ(j, j)
	eachGroup(job, j, end, "group", "done", func() {
		grp := avx2Group{code: YMM(), sc: YMM(), live: YMM(), ok: YMM(), thr: YMM(), m: GP64()}
		x := front(job, j, 0, grp, c, invA, step, levelScale, "fronted")
		// Where no lane is live, front skipped ok and thr: the blend by live
		// ignores them.
		slow, dead, t := YMM(), YMM(), YMM()
		VMOVUPD(slowMark, slow)
		VMOVUPD(deadMark, dead)
		VBLENDVPD(grp.ok, grp.thr, slow, t) // ok ? thr : slowThr
		VBLENDVPD(grp.live, t, dead, t)     // live ? that : deadThr
		MOVQ(Mem{Base: job, Disp: offCodes}, p)
		VMOVUPD(grp.code, Mem{Base: p, Index: j, Scale: 8})
		MOVQ(Mem{Base: job, Disp: offThr}, p)
		VMOVDQU(t, Mem{Base: p, Index: j, Scale: 8})
		MOVQ(Mem{Base: job, Disp: offXs}, p)
		VMOVUPD(x, Mem{Base: p, Index: j, Scale: 8})
	})
	Label("done")
	VZEROUPPER()
	RET()
}

// writeRowAVX2 emits the last pass of a noisy row read in three passes:
// the codes of job's codes (prepareRowAVX2's, with the slow lanes' noisy
// codes written over them by rowReader.decide) read out as readRowAVX2
// reads out a group, counts included.
func writeRowAVX2(c avx2Consts) {
	TEXT("writeRowAVX2", NOSPLIT, "func(job uintptr) int")
	Doc("writeRowAVX2 reads out the codes in job's codes of the first n&^3 columns of job, four at a time, as rowReader.readGo does after a code is drawn, adds the readouts and clips to job's counts and returns n&^3. It needs AVX2 and POPCNT.")
	Pragma("noescape")
	job := Load(Param("job"), GP64())
	scA, step, lo, hi, zero := YMM(), YMM(), YMM(), YMM(), YMM()
	VBROADCASTSD(Mem{Base: job, Disp: offScA}, scA)
	VBROADCASTSD(Mem{Base: job, Disp: offStep}, step)
	VBROADCASTSD(Mem{Base: job, Disp: offLo}, lo)
	VBROADCASTSD(Mem{Base: job, Disp: offHi}, hi)
	VXORPD(zero, zero, zero)
	j, counts, end, p := GP64(), GP64(), GP64(), GP64()
	XORQ(j, j)
	XORQ(counts, counts)
	eachGroup(job, j, end, "group", "done", func() {
		code, sc, live, m := YMM(), YMM(), YMM(), GP64()
		MOVQ(Mem{Base: job, Disp: offCodes}, p)
		VMOVUPD(Mem{Base: p, Index: j, Scale: 8}, code)
		MOVQ(Mem{Base: job, Disp: offScB}, p)
		VMOVUPD(Mem{Base: p, Index: j, Scale: 8}, sc)
		VCMPPD(U8(cmpNEQ), zero, sc, live)
		VMOVMSKPD(live, m.As32())
		readOut(job, j, counts, code, sc, live, m, lo, hi, step, scA, "")
	})
	Label("done")
	finish(job, j, counts)
}

// eachGroup emits a loop over the whole groups of four columns of job,
// j counting from its current value: body for each group at column j,
// then on to the next; it leaves for label done, which the caller emits.
func eachGroup(job Register, j, end GPVirtual, group, done string, body func()) {
	Label(group)
	LEAQ(Mem{Base: j, Disp: 4}, end)
	CMPQ(end, Mem{Base: job, Disp: offN})
	JGT(LabelRef(done))
	body()
	ADDQ(U8(4), j)
	JMP(LabelRef(group))
}

// broadcastFrame emits the broadcast of job's float64 fields at offsets
// offs into 32-byte slots of the frame, and returns the slots.
func broadcastFrame(job Register, offs ...int) []Mem {
	frame := AllocLocal(32 * len(offs))
	slots := make([]Mem, len(offs))
	for i, off := range offs {
		t := YMM()
		VBROADCASTSD(Mem{Base: job, Disp: off}, t)
		slots[i] = frame.Offset(32 * i)
		VMOVUPD(t, slots[i])
	}
	return slots
}

// finish emits readRowAVX2's return: the counts (readouts in the low 32
// bits of counts, clips in the high ones) added to job's, and j returned.
func finish(job Register, j, counts GPVirtual) {
	c := GP64()
	MOVL(counts.As32(), c.As32())
	ADDQ(c, Mem{Base: job, Disp: offReadouts})
	SHRQ(U8(32), counts)
	ADDQ(counts, Mem{Base: job, Disp: offClipped})
	Store(j, ReturnIndex(0))
	VZEROUPPER()
	RET()
}

// readOut emits the readout of the group at column j of readRowAVX2: the
// live lanes (mask m, clobbered) counted, the clips (live codes outside
// [lo, hi], never NaN) counted, the codes clamped, the readouts
// ((code·step)·scA)·sc rounded to float32 and stored (assigning: the dead
// value where a lane is not live) or added to dst. lo, hi, step and scA
// are broadcast scalars in registers or memory; suffix keeps its labels
// apart.
func readOut(job Register, j, counts GPVirtual, code, sc, live VecVirtual, m GPVirtual, lo, hi, step, scA Op, suffix string) {
	POPCNTQ(m, m)
	ADDQ(m, counts)
	below, above := YMM(), YMM()
	VCMPPD(U8(cmpLT), lo, code, below)
	VCMPPD(U8(cmpGT), hi, code, above)
	VORPD(above, below, below)
	VANDPD(live, below, below)
	clips := GP64()
	VMOVMSKPD(below, clips.As32())
	POPCNTQ(clips, clips)
	SHLQ(U8(32), clips)
	ADDQ(clips, counts)
	// The code is the second operand of MINPD and MAXPD, which they
	// return when it is NaN (see the package documentation).
	VMINPD(code, inRegister(hi), code) // min(hi, code)
	VMAXPD(code, inRegister(lo), code) // max(lo, code)
	VMULPD(step, code, code)
	VMULPD(scA, code, code)
	VMULPD(sc, code, code)
	v := XMM()
	VCVTPD2PSY(code, v)
	live32, upper := XMM(), XMM()
	VEXTRACTF128(U8(1), live, upper)
	VSHUFPS(U8(0x88), upper, live.AsX(), live32)
	out := XMM()
	p := GP64()
	MOVQ(Mem{Base: job, Disp: offDst}, p)
	CMPQ(Mem{Base: job, Disp: offAssign}, U8(0))
	JEQ(LabelRef("accumulate" + suffix))
	dead := XMM()
	VBROADCASTSS(Mem{Base: job, Disp: offDead}, dead)
	VBLENDVPS(live32, v, dead, out)
	VMOVUPS(out, Mem{Base: p, Index: j, Scale: 4})
	JMP(LabelRef("stored" + suffix))

	Label("accumulate" + suffix)
	old := XMM()
	VMOVUPS(Mem{Base: p, Index: j, Scale: 4}, old)
	VADDPS(v, old, v) // old + readout
	VBLENDVPS(live32, v, old, out)
	VMOVUPS(out, Mem{Base: p, Index: j, Scale: 4})
	Label("stored" + suffix)
}

// codes emits the start of every readout of readRowAVX2's group at column
// j+disp: x = ((t·invA)·invB)/step and its nearest code, the B scales sc,
// the live lanes (sc ≠ zero) and their mask m. It returns x.
func codes(job Register, j GPVirtual, disp int, invA, step, zero Op, code, sc, live VecVirtual, m GPVirtual) VecVirtual {
	x := YMM()
	p := GP64()
	MOVQ(Mem{Base: job, Disp: offTile}, p)
	VCVTPS2PD(Mem{Base: p, Index: j, Scale: 4, Disp: 4 * disp}, x)
	VMULPD(invA, x, x)
	MOVQ(Mem{Base: job, Disp: offInvB}, p)
	VMULPD(Mem{Base: p, Index: j, Scale: 8, Disp: 8 * disp}, x, x)
	VDIVPD(step, x, x)
	VROUNDPD(U8(0), x, code)
	MOVQ(Mem{Base: job, Disp: offScB}, p)
	VMOVUPD(Mem{Base: p, Index: j, Scale: 8, Disp: 8 * disp}, sc)
	VCMPPD(U8(cmpNEQ), zero, sc, live)
	VMOVMSKPD(live, m.As32())
	return x
}

// inRegister returns op, loaded into a register unless it is one.
func inRegister(op Op) Op {
	if IsYMM(op) {
		return op
	}
	r := YMM()
	VMOVUPD(op, r)
	return r
}

// avx2Consts are the RODATA constants of readRowAVX2.
type avx2Consts struct {
	absMask, half, magic, lastEntry, one, zero, sixteen, shifts Mem
}

// avx2Group is what readRowAVX2 holds of a group of four columns between
// its two halves.
type avx2Group struct {
	code, sc, live, ok, thr VecVirtual
	m                       GPVirtual
}

// front emits the front half of readRowAVX2's group at column j+disp into
// grp: x = ((t·invA)·invB)/step, its nearest code, the B scales, the live
// lanes (columns whose B block is not zero) and their mask; with noise and
// live lanes also the tail levels, which lanes may take the fast path
// (level ≥ 1, live) and their thresholds head[min(level, 64)] =
// head[min(level, 31)]. label names its exit.
func front(job Register, j GPVirtual, disp int, grp avx2Group, c avx2Consts, invA, step, levelScale Mem, label string) VecVirtual {
	x := codes(job, j, disp, invA, step, c.zero, grp.code, grp.sc, grp.live, grp.m)
	p := GP64()
	TESTQ(grp.m, grp.m)
	JZ(LabelRef(label))

	// Noise: level = (0.5 − |x − code|)·levelScale.
	level := YMM()
	VSUBPD(grp.code, x, level)
	VANDPD(c.absMask, level, level)
	lvl := YMM()
	VMOVUPD(c.half, lvl)
	VSUBPD(level, lvl, lvl)
	VMULPD(levelScale, lvl, level)
	VCMPPD(U8(cmpGE), c.one, level, grp.ok)
	VANDPD(grp.live, grp.ok, grp.ok)
	// Lanes off the fast path (level below 1, or NaN) look up some
	// entry, which decided ignores.
	VMINPD(c.lastEntry, level, level)
	lookUp(level, c, Mem{Base: job, Disp: offHead16}, p, grp.thr)
	Label(label)
	return x
}

// readRowAVX512 emits the AVX-512 kernel: eight columns per group. The
// live lanes' pieces are the next eight pieces of the stream (the 128 bits
// from the pieces left on: at most two new words), spread over the live
// lanes in order by VPEXPANDQ.
func readRowAVX512(absMask, half, lastEntry, one, windowShifts Mem) {
	TEXT("readRowAVX512", NOSPLIT, "func(job uintptr) int")
	Doc("readRowAVX512 is readRowAVX2 eight columns at a time, except that it also reads the last n%8 columns, and reads out the columns of a group before the first noisy readout off the fast path and returns at that column (so it returns any column up to n). It needs AVX-512 (F, DQ, VL, BW), BMI1, BMI2 and POPCNT.")
	Pragma("noescape")
	job := Load(Param("job"), GP64())
	invA, scA, step, lo, hi, zero := ZMM(), ZMM(), ZMM(), ZMM(), ZMM(), ZMM()
	VBROADCASTSD(Mem{Base: job, Disp: offInvA}, invA)
	VBROADCASTSD(Mem{Base: job, Disp: offScA}, scA)
	VBROADCASTSD(Mem{Base: job, Disp: offStep}, step)
	VBROADCASTSD(Mem{Base: job, Disp: offLo}, lo)
	VBROADCASTSD(Mem{Base: job, Disp: offHi}, hi)
	VPXORQ(zero, zero, zero)
	levelScale, halfs, ones, lastEntries, abs, low16, wsh := ZMM(), ZMM(), ZMM(), ZMM(), ZMM(), ZMM(), ZMM()
	VBROADCASTSD(Mem{Base: job, Disp: offLevelScale}, levelScale)
	VBROADCASTSD(half, halfs)
	VBROADCASTSD(one, ones)
	VBROADCASTSD(lastEntry, lastEntries)
	VBROADCASTSD(absMask, abs)
	VPBROADCASTQ(lowPieceMask, low16)
	VMOVDQU64(windowShifts, wsh)
	// The thresholds head[0..31] as 16-bit words, a table VPERMW looks
	// up in a register: a gather is slow, and head[k] is 0 from k = 18 on
	// (p(T) < 2^-16), so head[min(k, 31)] = head[min(k, 64)].
	table := ZMM()
	p := GP64()
	MOVQ(Mem{Base: job, Disp: offHead16}, p)
	VMOVDQU16(Mem{Base: p}, table)
	dead := YMM()
	VBROADCASTSS(Mem{Base: job, Disp: offDead}, dead)
	// Loop-carried: the column j and the stream: state, the next two
	// words it draws (mix(state+γ), mix(state+2γ)), the pieces left and
	// their count. The counts are added to job's as they come.
	j := GP64()
	XORQ(j, j)
	state, next, next2, bits, nbits := GP64(), GP64(), GP64(), GP64(), GP64()
	MOVQ(Mem{Base: job, Disp: offState}, state)
	MOVQ(Mem{Base: job, Disp: offBits}, bits)
	MOVQ(Mem{Base: job, Disp: offNBits}, nbits)
	nextWords(state, next, next2)

	Label("group")
	// The group's columns to read, write and advance by: eight, or the
	// rem < 8 left at the end of the row (masked loads read nothing
	// beyond them, and their zero scales make them dead), unless a
	// readout off the fast path ends the group early (see partial).
	rem := GP64()
	MOVQ(Mem{Base: job, Disp: offN}, rem)
	SUBQ(j, rem)
	JLE(LabelRef("done"))
	adv, wmask := GP64(), K()
	MOVL(U32(8), adv.As32())
	KXNORB(wmask, wmask, wmask)
	CMPQ(rem, U8(8))
	JLT(LabelRef("last"))

	x, code, sc := ZMM(), ZMM(), ZMM()
	live := K()
	MOVQ(Mem{Base: job, Disp: offTile}, p)
	VCVTPS2PD(Mem{Base: p, Index: j, Scale: 4}, x)
	MOVQ(Mem{Base: job, Disp: offInvB}, p)
	ib := ZMM()
	VMOVUPD(Mem{Base: p, Index: j, Scale: 8}, ib)
	MOVQ(Mem{Base: job, Disp: offScB}, p)
	VMOVUPD(Mem{Base: p, Index: j, Scale: 8}, sc)
	Label("loaded")
	VMULPD(invA, x, x)
	VMULPD(ib, x, x)
	VDIVPD(step, x, x)
	VRNDSCALEPD(U8(0), x, code) // nearest, ties to even
	VCMPPD(U8(cmpNEQ), zero, sc, live)
	m := GP64()
	KMOVB(live, m.As32())
	CMPQ(Mem{Base: job, Disp: offNoisy}, U8(0))
	JEQ(LabelRef("readout"))
	TESTQ(m, m)
	JZ(LabelRef("readout"))
	CMPQ(nbits, U8(64))
	JEQ(LabelRef("done")) // a full word left: rare, for the scalar loop

	level, lv := ZMM(), ZMM()
	ok := K()
	VSUBPD(code, x, level)
	VANDPD(abs, level, level)
	VSUBPD(level, halfs, level)
	VMULPD(levelScale, level, level)
	VCMPPD(U8(cmpGE), ones, level, ok)
	KANDB(live, ok, ok)
	VMINPD(lastEntries, level, lv)
	VBLENDMPD(lv, ones, ok, lv) // lanes off the fast path look up level 1
	idx, thr := ZMM(), ZMM()
	VCVTTPD2QQ(lv, idx)
	// Each qword lane's three upper words index entry 0, head[0] = 0:
	// the lane gets head[idx].
	VPERMW(table, idx, thr)

	// The next eight pieces: lo = the pieces left, then the next word's;
	// hi = the rest of that word, then the word after's.
	lo64, hi64, t := GP64(), GP64(), GP64()
	SHLXQ(nbits, next, lo64)
	ORQ(bits, lo64)
	MOVL(U32(64), t.As32())
	SUBQ(nbits, t)
	SHRXQ(t, next, hi64)
	XORQ(t, t)
	TESTQ(nbits, nbits)
	CMOVQEQ(t, hi64) // nothing left: hi is all the word after's
	SHLXQ(nbits, next2, t)
	ORQ(t, hi64)
	win, pieces := ZMM(), ZMM()
	VMOVQ(lo64, win.AsX())
	VPBROADCASTQ(win.AsX(), win)
	VMOVQ(hi64, pieces.AsX())
	VPBROADCASTQ(pieces.AsX(), pieces.AsY())
	VINSERTI64X4(U8(1), pieces.AsY(), win, win)
	VPSRLVQ(wsh, win, win)
	VPANDQ(low16, win, win)
	VPEXPANDQ_Z(win, live, pieces) // live lane i gets the piece of its rank
	gt, bad := K(), K()
	VPCMPUQ(U8(6), thr, pieces, gt) // piece > head[level]
	KANDB(ok, gt, gt)
	KANDNB(live, gt, bad) // live lanes not decided by their piece
	KORTESTB(bad, bad)
	JNZ(LabelRef("partial"))

	// Commit: the pieces used come from the bits left, or also from one
	// or two new words.
	Label("commit")
	used := GP64()
	POPCNTQ(m, used)
	SHLQ(U8(4), used)
	CMPQ(used, nbits)
	JGT(LabelRef("oneWord"))
	SHRXQ(used, bits, bits)
	SUBQ(used, nbits)
	emptyHoldsZero(bits, nbits)
	JMP(LabelRef("readout"))

	Label("oneWord")
	SUBQ(nbits, used) // bits used of the new words
	CMPQ(used, U8(64))
	JGT(LabelRef("twoWords"))
	SHRXQ(used, next, bits)
	MOVL(U32(64), nbits.As32())
	SUBQ(used, nbits)
	emptyHoldsZero(bits, nbits)
	g := GP64()
	MOVQ(U64(golden), g)
	ADDQ(g, state)
	MOVQ(next2, next)
	MOVQ(state, t)
	ADDQ(g, t)
	nextWord(t, next2)
	JMP(LabelRef("readout"))

	Label("twoWords")
	SUBQ(U8(64), used)
	SHRXQ(used, next2, bits)
	MOVL(U32(64), nbits.As32())
	SUBQ(used, nbits)
	emptyHoldsZero(bits, nbits)
	MOVQ(U64(golden), g)
	ADDQ(g, state)
	ADDQ(g, state)
	nextWords(state, next, next2)

	Label("readout")
	POPCNTQ(m, m)
	ADDQ(m, Mem{Base: job, Disp: offReadouts})
	below, above := K(), K()
	VCMPPD(U8(cmpLT), lo, code, below)
	VCMPPD(U8(cmpGT), hi, code, above)
	KORB(above, below, below)
	KANDB(live, below, below)
	clips := GP64()
	KMOVB(below, clips.As32())
	POPCNTQ(clips, clips)
	ADDQ(clips, Mem{Base: job, Disp: offClipped})
	VMINPD(code, hi, code) // min(hi, code)
	VMAXPD(code, lo, code) // max(lo, code)
	VMULPD(step, code, code)
	VMULPD(scA, code, code)
	VMULPD(sc, code, code)
	v, out := YMM(), YMM()
	VCVTPD2PS(code, v)
	MOVQ(Mem{Base: job, Disp: offDst}, p)
	CMPQ(Mem{Base: job, Disp: offAssign}, U8(0))
	JEQ(LabelRef("accumulate"))
	VBLENDMPS(v, dead, live, out) // the readout where live, else dead
	JMP(LabelRef("store"))

	Label("accumulate")
	old := YMM()
	VMOVUPS_Z(Mem{Base: p, Index: j, Scale: 4}, wmask, old) // wmask: not beyond the row
	VADDPS(v, old, v)                                       // old + readout
	VBLENDMPS(v, old, live, out)

	Label("store")
	KORTESTB(wmask, wmask)
	JCC(LabelRef("maskedStore")) // not all eight
	VMOVUPS(out, Mem{Base: p, Index: j, Scale: 4})

	Label("next")
	ADDQ(adv, j)
	TESTQ(rem, rem)
	JS(LabelRef("done")) // ended early
	JMP(LabelRef("group"))

	Label("maskedStore")
	VMOVUPS(out, wmask, Mem{Base: p, Index: j, Scale: 4})
	JMP(LabelRef("next"))

	// The last rem < 8 columns: masked loads.
	Label("last")
	MOVQ(rem, adv)
	tm := GP64()
	MOVL(U32(1), tm.As32())
	SHLXL(rem.As32(), tm.As32(), tm.As32())
	DECL(tm.As32())
	KMOVB(tm.As32(), wmask)
	MOVQ(Mem{Base: job, Disp: offTile}, p)
	VCVTPS2PD_Z(Mem{Base: p, Index: j, Scale: 4}, wmask, x)
	MOVQ(Mem{Base: job, Disp: offInvB}, p)
	VMOVUPD_Z(Mem{Base: p, Index: j, Scale: 8}, wmask, ib)
	MOVQ(Mem{Base: job, Disp: offScB}, p)
	VMOVUPD_Z(Mem{Base: p, Index: j, Scale: 8}, wmask, sc)
	JMP(LabelRef("loaded"))

	// A live lane b off the fast path: the lanes before it, all decided
	// by their pieces, are read out and committed (their pieces are the
	// first of the window), then the kernel returns at column b for the
	// scalar loop (at once if b is 0).
	Label("partial")
	b, pre := GP64(), GP64()
	KMOVB(bad, b.As32())
	TZCNTL(b.As32(), b.As32())
	TESTQ(b, b)
	JZ(LabelRef("done"))
	MOVL(U32(1), pre.As32())
	SHLXL(b.As32(), pre.As32(), pre.As32())
	DECL(pre.As32()) // lanes below b
	ANDQ(pre, m)
	KMOVB(pre.As32(), wmask)
	KANDB(wmask, live, live)
	MOVQ(b, adv)
	MOVQ(I32(-1), rem) // the group ends early
	JMP(LabelRef("commit"))

	Label("done")
	MOVQ(state, Mem{Base: job, Disp: offState})
	MOVQ(bits, Mem{Base: job, Disp: offBits})
	MOVQ(nbits, Mem{Base: job, Disp: offNBits})
	Store(j, ReturnIndex(0))
	VZEROUPPER()
	RET()
}

// nextWords sets next and next2 to the two words the stream at state
// draws next, mix(state+γ) and mix(state+2γ).
func nextWords(state, next, next2 GPVirtual) {
	nextWord(state, next)
	t := GP64()
	MOVQ(U64(golden), t)
	ADDQ(state, t)
	nextWord(t, next2)
}

// golden is SplitMix64's increment.
const golden = 0x9e3779b97f4a7c15

// nextWord sets next to the word the stream at state draws next,
// mix(state + golden), leaving state alone.
func nextWord(state, next GPVirtual) {
	g := GP64()
	MOVQ(U64(golden), g)
	MOVQ(state, next)
	ADDQ(g, next)
	mix(next)
}

// emptyHoldsZero clears bits when nbits is 0, as in the scalar code,
// where the pieces are shifted out (a shift by 64 would leave them).
func emptyHoldsZero(bits, nbits GPVirtual) {
	z := GP64()
	XORQ(z, z)
	TESTQ(nbits, nbits)
	CMOVQEQ(z, bits)
}

// lookUp sets each lane of thr to the threshold head[k] of its level
// k = trunc(lv), 1 ≤ k ≤ 31, from the 16-bit table head16 (VPGATHERDQ
// from a 64-bit table was slower on the Zen 3 we measured: BENCHMARKS.md,
// session 15). Adding 2^52 to the truncated level puts k in the low
// doubleword of each lane; VPERMD fetches the doubleword k>>1 (two
// entries) from each half of the table, bit 4 of k chooses the half, and
// bit 0 of k the entry. table holds the address of head16; p is scratch.
func lookUp(lv VecVirtual, c avx2Consts, table Mem, p GPVirtual, thr VecVirtual) {
	k, i := YMM(), YMM()
	VROUNDPD(U8(3), lv, k) // truncate
	VADDPD(c.magic, k, k)
	VPSRLD(U8(1), k, i)
	MOVQ(table, p)
	lo, hi := YMM(), YMM()
	VPERMD(Mem{Base: p}, i, lo) // head16[2(k>>1)], head16[2(k>>1)+1] for k < 16
	VPERMD(Mem{Base: p, Disp: 32}, i, hi)
	b4 := YMM()
	VPSLLD(U8(27), k, b4) // bit 4 of k as the sign
	VBLENDVPS(b4, hi, lo, lo)
	VPSLLQ(U8(4), k, k)
	VPAND(c.sixteen, k, k) // 16 for odd k
	VPSRLVQ(k, lo, lo)
	VPAND(lowPieceMask, lo, thr)
}

// decided jumps to done unless every live lane takes the fast path: ok
// (level ≥ 1, live) and its piece of pieces, at the lane's shift in sh,
// above its threshold in thr.
func decided(pieces GPVirtual, sh, thr, ok, live VecVirtual) {
	pv := YMM()
	VMOVQ(pieces, pv.AsX())
	VPBROADCASTQ(pv.AsX(), pv)
	VPSRLVQ(sh, pv, pv)
	VPAND(lowPieceMask, pv, pv)
	VPCMPGTQ(thr, pv, pv) // piece > head[level]
	VANDPD(ok, pv, pv)
	VANDNPD(live, pv, pv) // live lanes not decided by their piece
	bad := GP64()
	VMOVMSKPD(pv, bad.As32())
	TESTQ(bad, bad)
	JNZ(LabelRef("done"))
}

// mix applies SplitMix64's finaliser to z in place.
func mix(z GPVirtual) {
	t, c := GP64(), GP64()
	MOVQ(z, t)
	SHRQ(U8(30), t)
	XORQ(t, z)
	MOVQ(U64(0xbf58476d1ce4e5b9), c)
	IMULQ(c, z)
	MOVQ(z, t)
	SHRQ(U8(27), t)
	XORQ(t, z)
	MOVQ(U64(0x94d049bb133111eb), c)
	IMULQ(c, z)
	MOVQ(z, t)
	SHRQ(U8(31), t)
	XORQ(t, z)
}
