//go:build linux

package vec

import (
	"math/rand/v2"
	"testing"

	"github.com/mirage-go/mirage/internal/guardpage"
)

// TestWindowsNoAccessPastBuffers runs Windows of every kernel set with the
// image and the rows each exactly as long as the windows need and ending
// at an inaccessible page: the AVX2 kernel's two moves per row must stay
// inside the row. Results as in TestWindowsMatchesGo.
func TestWindowsNoAccessPastBuffers(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 43))
	for _, c := range windowCases(rng) {
		imgLen := (c.n-1)*c.step + (c.blocks-1)*c.plane + (c.height-1)*c.ld + c.width
		img := guardpage.Floats(t, imgLen)
		copy(img, randomBits(rng, imgLen))
		want := make([]float32, c.n*c.blocks*c.height*c.width)
		windowsGo(want, img, c.n, c.step, c.blocks, c.plane, c.height, c.ld, c.width)
		for _, k := range available() {
			got := guardpage.Floats(t, len(want))
			k.windows(got, img, c.n, c.step, c.blocks, c.plane, c.height, c.ld, c.width)
			sameBits(t, want, got, k.name+" "+c.String())
		}
	}
}
