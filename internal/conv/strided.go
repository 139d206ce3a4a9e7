package conv

import "github.com/mirage-go/mirage/internal/gemm"

// Strided implicit GEMM. A convolution of stride s reads every s-th pixel
// of the padded image, so the offset table of the stride-1 kernels (one
// table, added to consecutive grid positions) does not describe it. It does
// once the padded image is split into phases (space-to-depth): phase
// (a, b) is the image of the pixels whose padded coordinates are a and b
// modulo s,
//
//	P[a][b][c][i][j] = xpad[c][s·i + a][s·j + b]    QH×QW planes, QH = ⌈PH/s⌉, QW = ⌈PW/s⌉
//
// and kernel entry (ky, kx) = (s·u + a, s·v + b) of output (oy, ox) reads
// P[a][b][c][oy + u][ox + v]: a stride-1 window in one phase. So on a grid
// of OH×QW positions the receptive field of every position is again one
// table of offsets (phase base + c·QH·QW + u·QW + v), the forward is one
// SgemmRowsB per image with B rows in (c, ky, kx) order — the im2col
// product's order, bit for bit — and the weight gradient is one product per
// kernel entry with the phase image read in place. Only phases a, b <
// min(s, K) hold kernel entries; the others (a 1×1 kernel of stride 2 reads
// one pixel in four) are not built. At stride 1 there is one phase, the
// padded image itself, and the layout is that of the stride-1 kernels.
//
// The input gradient splits the other way, by phase of the input: the
// input pixel at padded position (s·i + a, s·j + b) receives
//
//	dxpad[c][s·i+a][s·j+b] = Σ_{o,u,v} dy[o][i−u][j−v] · w[o][c][s·u+a][s·v+b]
//
// over the kernel entries of that phase: a stride-1 full correlation of dy
// with the phase's sub-kernel (Ua×Vb entries, Ua = ⌈(K−a)/s⌉) rotated by
// 180°. So each phase is one implicit GEMM over dy zero-padded by R−1 = ⌈K/s⌉−1
// rows and columns (the largest sub-kernel's), with O·Ua·Vb rows of B, and
// its grid is scattered into every s-th pixel of dx. The grid covers only
// the phase's pixels inside the image (not the padding), at the padded dy
// width DW = max(OW+R−1, ⌈(W+Pad)/s⌉): a position past the right edge of dy
// reads the next row's left padding, which is zero, as the stride-1 grid
// does.

// ceilDiv returns ⌈a/b⌉ for a ≥ 0, b > 0.
func ceilDiv(a, b int) int { return (a + b - 1) / b }

// phases returns the number of phases per axis that hold kernel entries,
// min(Stride, KH), and the size QH×QW of one phase plane.
func (g Geometry) phases() (sp, qh, qw int) {
	s := g.Stride
	return min(s, g.KH), ceilDiv(g.H+2*g.Pad, s), ceilDiv(g.W+2*g.Pad, s)
}

// phaseOffset returns the start of kernel entry (ky, kx) of channel 0 in
// phase images with planes planes per phase: phase (ky mod s, kx mod s),
// row ky/s, column kx/s.
func (g Geometry) phaseOffset(ky, kx, planes int) int {
	s := g.Stride
	sp, qh, qw := g.phases()
	return ((ky%s)*sp+kx%s)*planes*qh*qw + ky/s*qw + kx/s
}

// phaseImage writes the phases of one image (C planes of H×W) zero-padded
// by g.Pad into buf: phase (a, b) (a, b < sp) starts at (a·sp + b)·planes
// planes of QH×QW, and its first C planes are written (the others, if
// planes > C, are left alone). At stride 1 that is padImage.
func phaseImage(g Geometry, img, buf []float32, planes int) {
	s := g.Stride
	if s == 1 {
		padImage(g, img, buf)
		return
	}
	sp, qh, qw := g.phases()
	plane := qh * qw
	if s == 2 && sp == 2 {
		phaseImage2(g, img, buf, planes)
		return
	}
	for a := 0; a < sp; a++ {
		for b := 0; b < sp; b++ {
			// Columns j whose pixel s·j + b − Pad lies inside the image.
			jlo := ceilDiv(max(g.Pad-b, 0), s)
			jhi := max(jlo, min(ceilDiv(max(g.W+g.Pad-b, 0), s), qw))
			x0 := s*jlo + b - g.Pad
			for c := 0; c < g.C; c++ {
				base := ((a*sp+b)*planes + c) * plane
				ph := buf[base : base+plane]
				for i := 0; i < qh; i++ {
					row := ph[i*qw : (i+1)*qw]
					y := s*i + a - g.Pad
					if y < 0 || y >= g.H {
						clear(row)
						continue
					}
					src := img[(c*g.H+y)*g.W : (c*g.H+y+1)*g.W]
					zeroShort(row[:jlo])
					if jlo < jhi {
						gather(row[jlo:jhi], src[x0:], s)
					}
					zeroShort(row[jhi:])
				}
			}
		}
	}
}

// phaseImage2 is phaseImage for stride 2 and kernels of two or more
// (four phases): each input row is split into its two column phases in one
// pass, and the rows of padding are cleared whole.
func phaseImage2(g Geometry, img, buf []float32, planes int) {
	_, qh, qw := g.phases()
	plane := qh * qw
	phase := planes * plane // from phase (a, 0) to (a, 1)
	// Columns j of both phases whose pixels 2j − Pad and 2j + 1 − Pad lie
	// inside the row: [jlo, jhi).
	jlo := min(ceilDiv(g.Pad, 2), qw)
	jhi := max(jlo, min((g.W+g.Pad)/2, qw))
	for c := 0; c < g.C; c++ {
		for a := 0; a < 2; a++ {
			base := (2*a*planes + c) * plane
			p0, p1 := buf[base:base+plane], buf[base+phase:base+phase+plane]
			for i := 0; i < qh; i++ {
				r0, r1 := p0[i*qw:(i+1)*qw], p1[i*qw:(i+1)*qw]
				y := 2*i + a - g.Pad
				if y < 0 || y >= g.H {
					clear(r0)
					clear(r1)
					continue
				}
				src := img[(c*g.H+y)*g.W : (c*g.H+y+1)*g.W]
				for j := 0; j < jlo; j++ {
					r0[j], r1[j] = pixel(src, 2*j-g.Pad), pixel(src, 2*j+1-g.Pad)
				}
				if jlo < jhi {
					d0, d1 := r0[jlo:jhi], r1[jlo:jhi]
					pairs := src[2*jlo-g.Pad : 2*jhi-g.Pad]
					for len(d0) >= 4 { // four pairs, bounds checked once
						q, e0, e1 := (*[8]float32)(pairs), (*[4]float32)(d0), (*[4]float32)(d1)
						e0[0], e0[1], e0[2], e0[3] = q[0], q[2], q[4], q[6]
						e1[0], e1[1], e1[2], e1[3] = q[1], q[3], q[5], q[7]
						d0, d1, pairs = d0[4:], d1[4:], pairs[8:]
					}
					d1 = d1[:len(d0)]
					pairs = pairs[:2*len(d0)]
					for t := range d0 {
						d0[t], d1[t] = pairs[2*t], pairs[2*t+1]
					}
				}
				for j := jhi; j < qw; j++ {
					r0[j], r1[j] = pixel(src, 2*j-g.Pad), pixel(src, 2*j+1-g.Pad)
				}
			}
		}
	}
}

// pixel returns row[x], or 0 for x outside the row (padding).
func pixel(row []float32, x int) float32 {
	if x < 0 || x >= len(row) {
		return 0
	}
	return row[x]
}

// subKernel returns the number of kernel rows (or columns) of phase a,
// those ky = s·u + a < KH.
func (g Geometry) subKernel(a int) int {
	if a >= g.KH {
		return 0
	}
	return ceilDiv(g.KH-a, g.Stride)
}

// phaseSpan returns the phase indices [lo, hi) along an axis of length n
// whose pixels s·i + a − Pad lie inside [0, n).
func (g Geometry) phaseSpan(a, n int) (lo, hi int) {
	lo = ceilDiv(max(g.Pad-a, 0), g.Stride)
	hi = ceilDiv(max(n+g.Pad-a, 0), g.Stride)
	return lo, max(lo, hi)
}

// dyPadding returns the layout of the zero-padded output gradient of the
// strided input gradient: R−1 zero rows and columns before dy (R = ⌈K/s⌉,
// the largest sub-kernel), planes of dh×dw, and the number of floats past
// the last plane that the products read.
func (g Geometry) dyPadding() (r, dh, dw, slack int) {
	r = g.subKernel(0)
	_, ihi := g.phaseSpan(0, g.H)
	jlo, jhi := g.phaseSpan(0, g.W)
	dh = r - 1 + max(g.OutH(), ihi)
	dw = max(g.OutW()+r-1, jhi)
	return r, dh, dw, jlo + r
}

// stridedInputGradScratch is the scratch size of stridedInputGradImage.
func stridedInputGradScratch(g Geometry, o int) int {
	sp, _, _ := g.phases()
	_, dh, dw, slack := g.dyPadding()
	return o*dh*dw + slack + sp*g.C*ceilDiv(g.H, g.Stride)*dw
}

// prepareStridedInputGrad fills w.flipped and w.offsets for the strided
// input gradient: for each phase (a, b) in turn, its C × (O·Ua·Vb) matrix
// of weights, flipped[c][(o·Ua + u')·Vb + v'] = wts[o][c][s·(Ua−1−u')+a][s·(Vb−1−v')+b],
// and its offsets into the padded dy (see dyPadding) relative to grid
// position (i − ilo)·DW + (j − jlo).
func (w *Workers) prepareStridedInputGrad(g Geometry, o int, wts []float32) (flipped []float32, off []int) {
	k := o * g.KH * g.KW
	if cap(w.flipped) < g.C*k {
		w.flipped = make([]float32, g.C*k)
	}
	if cap(w.offsets) < k {
		w.offsets = make([]int, k)
	}
	flipped, off = w.flipped[:g.C*k], w.offsets[:k]
	s := g.Stride
	sp, _, _ := g.phases()
	r, dh, dw, _ := g.dyPadding()
	kk := g.KH * g.KW
	fAt, oAt := 0, 0
	for a := 0; a < sp; a++ {
		ua := g.subKernel(a)
		ilo, _ := g.phaseSpan(a, g.H)
		for b := 0; b < sp; b++ {
			vb := g.subKernel(b)
			jlo, _ := g.phaseSpan(b, g.W)
			kp := o * ua * vb
			for oc := 0; oc < o; oc++ {
				for u := 0; u < ua; u++ {
					for v := 0; v < vb; v++ {
						e := (oc*ua+u)*vb + v
						off[oAt+e] = oc*dh*dw + (ilo+u+r-ua)*dw + jlo + v + r - vb
						ky, kx := s*(ua-1-u)+a, s*(vb-1-v)+b
						for c := 0; c < g.C; c++ {
							flipped[fAt+c*kp+e] = wts[(oc*g.C+c)*kk+ky*g.KW+kx]
						}
					}
				}
			}
			fAt += g.C * kp
			oAt += kp
		}
	}
	return flipped, off
}

// stridedInputGradImage computes image n's input gradient into j.e (dx)
// from j.b (dy), j.d and j.offsets (from prepareStridedInputGrad), with
// scratch buf (len stridedInputGradScratch): one product per phase, each
// scattered into that phase's pixels of dx — at stride 2, the two column
// phases of a row of phases together, interleaved into the rows of dx.
func stridedInputGradImage(j *job, buf []float32, n int) {
	g, o := j.g, j.o
	s := g.Stride
	oh, ow := g.OutH(), g.OutW()
	sp, _, _ := g.phases()
	r, dh, dw, slack := g.dyPadding()
	padded := o*dh*dw + slack
	dypad, grid := buf[:padded], buf[padded:]
	image, out := g.C*g.H*g.W, o*oh*ow
	padPlanes(j.b[n*out:(n+1)*out], o, oh, ow, dypad, r-1, r-1, dh, dw)
	clear(dypad[o*dh*dw:])
	dxn := j.e[n*image : (n+1)*image]
	if j.assign && g.KH < s {
		clear(dxn) // phases a ≥ KH receive nothing
	}
	fAt, oAt := 0, 0
	for a := 0; a < sp; a++ {
		ua := g.subKernel(a)
		ilo, ihi := g.phaseSpan(a, g.H)
		rows := ihi - ilo
		gridLen := rows * dw
		// The products of phases (a, b) for every b, grid b·C·gridLen on.
		for b := 0; b < sp; b++ {
			kp := o * ua * g.subKernel(b)
			wts, off := j.d[fAt:fAt+g.C*kp], j.offsets[oAt:oAt+kp]
			fAt += g.C * kp
			oAt += kp
			if gridLen == 0 {
				continue
			}
			gemm.SgemmRowsB(false, false, g.C, gridLen, kp, 1, wts, kp, dypad, off, 0, grid[b*g.C*gridLen:(b+1)*g.C*gridLen], gridLen)
		}
		if gridLen == 0 {
			continue
		}
		if s == 2 && sp == 2 {
			interleaveRows2(g, dxn, grid[:2*g.C*gridLen], a, dw, j.assign)
			continue
		}
		for b := 0; b < sp; b++ {
			jlo, jhi := g.phaseSpan(b, g.W)
			cols := jhi - jlo
			if cols == 0 {
				continue
			}
			grid := grid[b*g.C*gridLen : (b+1)*g.C*gridLen]
			x0 := s*jlo + b - g.Pad
			for c := 0; c < g.C; c++ {
				for i := ilo; i < ihi; i++ {
					src := grid[c*gridLen+(i-ilo)*dw : c*gridLen+(i-ilo)*dw+cols]
					y := s*i + a - g.Pad
					dst := dxn[(c*g.H+y)*g.W+x0 : (c*g.H+y)*g.W+x0+s*(cols-1)+1]
					if j.assign {
						scatter(dst, src, s)
					} else {
						scatterAdd(dst, src, s)
					}
				}
			}
		}
	}
}

// interleaveRows2 writes (with assign) or adds the input gradient of the
// pixels of row phase a of one image, at stride 2, into dxn: grid holds
// the products of phases (a, 0) and (a, 1), C·gridLen each, with rows dw
// apart starting at the phases' first pixels inside the image. Row y of
// dx takes its pixels 2j − Pad from phase (a, 0) and 2j + 1 − Pad from
// phase (a, 1), in pairs.
func interleaveRows2(g Geometry, dxn, grid []float32, a, dw int, assign bool) {
	ilo, ihi := g.phaseSpan(a, g.H)
	jlo0, jhi0 := g.phaseSpan(0, g.W)
	jlo1, jhi1 := g.phaseSpan(1, g.W)
	gridLen := (ihi - ilo) * dw
	// Pairs for j in [jlo0, jhi1); phase 1 may have one column before
	// them (jlo1 < jlo0) and phase 0 one after (jhi0 > jhi1).
	pairs := max(jhi1-jlo0, 0)
	for c := 0; c < g.C; c++ {
		for i := ilo; i < ihi; i++ {
			at := c*gridLen + (i-ilo)*dw
			g0, g1 := grid[at:at+jhi0-jlo0], grid[gridLen*g.C+at:gridLen*g.C+at+jhi1-jlo1]
			y := 2*i + a - g.Pad
			row := dxn[(c*g.H+y)*g.W : (c*g.H+y+1)*g.W]
			s0, s1 := g0[:pairs], g1[jlo0-jlo1:jlo0-jlo1+pairs]
			d := row[2*jlo0-g.Pad : 2*jlo0-g.Pad+2*pairs]
			if assign {
				for len(s0) >= 4 { // four pairs, bounds checked once
					e0, e1, q := (*[4]float32)(s0), (*[4]float32)(s1), (*[8]float32)(d)
					q[0], q[1], q[2], q[3] = e0[0], e1[0], e0[1], e1[1]
					q[4], q[5], q[6], q[7] = e0[2], e1[2], e0[3], e1[3]
					s0, s1, d = s0[4:], s1[4:], d[8:]
				}
				s1 = s1[:len(s0)]
				d = d[:2*len(s0)]
				for t, v := range s0 {
					d[2*t], d[2*t+1] = v, s1[t]
				}
				if jlo1 < jlo0 {
					row[2*jlo1+1-g.Pad] = g1[0]
				}
				if jhi0 > jhi1 {
					row[2*jhi1-g.Pad] = g0[jhi1-jlo0]
				}
				continue
			}
			for len(s0) >= 4 {
				e0, e1, q := (*[4]float32)(s0), (*[4]float32)(s1), (*[8]float32)(d)
				q[0] += e0[0]
				q[1] += e1[0]
				q[2] += e0[1]
				q[3] += e1[1]
				q[4] += e0[2]
				q[5] += e1[2]
				q[6] += e0[3]
				q[7] += e1[3]
				s0, s1, d = s0[4:], s1[4:], d[8:]
			}
			s1 = s1[:len(s0)]
			d = d[:2*len(s0)]
			for t, v := range s0 {
				d[2*t] += v
				d[2*t+1] += s1[t]
			}
			if jlo1 < jlo0 {
				row[2*jlo1+1-g.Pad] += g1[0]
			}
			if jhi0 > jhi1 {
				row[2*jhi1-g.Pad] += g0[jhi1-jlo0]
			}
		}
	}
}

// padPlanes copies planes planes of h×w from img into buf as planes of
// ph×pw with the image at row top and column left, zero elsewhere.
func padPlanes(img []float32, planes, h, w int, buf []float32, top, left, ph, pw int) {
	for c := 0; c < planes; c++ {
		plane := buf[c*ph*pw : (c+1)*ph*pw]
		clear(plane[:top*pw])
		for y := 0; y < h; y++ {
			row := plane[(top+y)*pw : (top+y+1)*pw]
			zeroShort(row[:left])
			copy(row[left:left+w], img[(c*h+y)*w:(c*h+y+1)*w])
			zeroShort(row[left+w:])
		}
		clear(plane[(top+h)*pw:])
	}
}

// gather sets d[t] = src[s·t] for t < len(d); src holds at least
// s·(len(d)−1) + 1 elements. Stride 2, ResNet's, is unrolled by four with
// the bounds checked once per four.
func gather(d, src []float32, s int) {
	src = src[:s*(len(d)-1)+1]
	if s == 2 {
		for len(d) >= 4 && len(src) >= 8 {
			d4, s8 := d[:4:4], src[:8:8]
			d4[0], d4[1], d4[2], d4[3] = s8[0], s8[2], s8[4], s8[6]
			d, src = d[4:], src[8:]
		}
	}
	for t := range d {
		d[t] = src[s*t]
	}
}

// scatter sets dst[s·t] = src[t] for t < len(src); dst holds at least
// s·(len(src)−1) + 1 elements.
func scatter(dst, src []float32, s int) {
	dst = dst[:s*(len(src)-1)+1]
	if s == 2 {
		for len(src) >= 4 && len(dst) >= 8 {
			s4, d8 := src[:4:4], dst[:8:8]
			d8[0], d8[2], d8[4], d8[6] = s4[0], s4[1], s4[2], s4[3]
			src, dst = src[4:], dst[8:]
		}
	}
	for t, v := range src {
		dst[s*t] = v
	}
}

// scatterAdd adds src[t] into dst[s·t] for t < len(src); dst holds at
// least s·(len(src)−1) + 1 elements.
func scatterAdd(dst, src []float32, s int) {
	dst = dst[:s*(len(src)-1)+1]
	if s == 2 {
		for len(src) >= 4 && len(dst) >= 8 {
			s4, d8 := src[:4:4], dst[:8:8]
			d8[0] += s4[0]
			d8[2] += s4[1]
			d8[4] += s4[2]
			d8[6] += s4[3]
			src, dst = src[4:], dst[8:]
		}
	}
	for t, v := range src {
		dst[s*t] += v
	}
}
