package cifar

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"path"
	"runtime"
	"strings"
	"sync"
)

// decodeJob is one image file's bytes on their way to a decoding goroutine.
type decodeJob struct {
	split int // splitTrain or splitTest
	label uint8
	name  string // path inside the archive or below the data directory
	data  []byte
}

// decoded is a decodeJob's outcome: pixels in plane order, or why not.
type decoded struct {
	split int
	label uint8
	name  string
	pix   []byte
	err   error
}

const (
	splitTrain = iota
	splitTest
)

// isImageName reports whether name has an extension the loader decodes.
func isImageName(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".jpg", ".jpeg", ".png":
		return true
	}
	return false
}

// decodeParallel runs produce, which reads files one after the other and
// hands each to submit, while workers goroutines decode what was submitted.
// It returns every outcome (in no particular order) once produce has
// returned and all submitted files are decoded, plus produce's error.
func decodeParallel(workers int, produce func(submit func(decodeJob)) error) ([]decoded, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	jobs := make(chan decodeJob, 4*workers)
	results := make(chan decoded, 4*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				pix, err := decodeImage(j.name, j.data)
				results <- decoded{split: j.split, label: j.label, name: j.name, pix: pix, err: err}
			}
		}()
	}
	var out []decoded
	collected := make(chan struct{})
	go func() {
		for r := range results {
			out = append(out, r)
		}
		close(collected)
	}()
	err := produce(func(j decodeJob) { jobs <- j })
	close(jobs)
	wg.Wait()
	close(results)
	<-collected
	return out, err
}

// decodeImage decodes a 32×32 PNG or JPEG (chosen by the name's extension)
// into ImageBytes bytes, planes R, G, B.
func decodeImage(name string, data []byte) ([]byte, error) {
	decode, decodeConfig := jpeg.Decode, jpeg.DecodeConfig
	if strings.ToLower(path.Ext(name)) == ".png" {
		decode, decodeConfig = png.Decode, png.DecodeConfig
	}
	// Read the header first: a file that claims 50000×50000 pixels would
	// make the decoder allocate gigabytes before the size check below.
	cfg, err := decodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("cannot decode: %v", err)
	}
	if cfg.Width != Width || cfg.Height != Height {
		return nil, fmt.Errorf("image is %dx%d, want %dx%d", cfg.Width, cfg.Height, Width, Height)
	}
	img, err := decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("cannot decode: %v", err)
	}
	b := img.Bounds()
	if b.Dx() != Width || b.Dy() != Height {
		return nil, fmt.Errorf("image is %dx%d, want %dx%d", b.Dx(), b.Dy(), Width, Height)
	}
	pix := make([]byte, ImageBytes)
	r, g, bl := pix[:Height*Width], pix[Height*Width:2*Height*Width], pix[2*Height*Width:]
	// Fast paths for what image/jpeg and image/png return; the generic path
	// goes through color.Model and is several times slower.
	switch m := img.(type) {
	case *image.YCbCr:
		for y := range Height {
			for x := range Width {
				yi := m.YOffset(b.Min.X+x, b.Min.Y+y)
				ci := m.COffset(b.Min.X+x, b.Min.Y+y)
				i := y*Width + x
				r[i], g[i], bl[i] = color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
			}
		}
	case *image.Gray:
		for y := range Height {
			for x := range Width {
				v := m.Pix[m.PixOffset(b.Min.X+x, b.Min.Y+y)]
				i := y*Width + x
				r[i], g[i], bl[i] = v, v, v
			}
		}
	case *image.NRGBA:
		// Colour values are stored unpremultiplied; transparency is ignored.
		for y := range Height {
			for x := range Width {
				o := m.PixOffset(b.Min.X+x, b.Min.Y+y)
				i := y*Width + x
				r[i], g[i], bl[i] = m.Pix[o], m.Pix[o+1], m.Pix[o+2]
			}
		}
	default:
		for y := range Height {
			for x := range Width {
				c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				i := y*Width + x
				r[i], g[i], bl[i] = c.R, c.G, c.B
			}
		}
	}
	return pix, nil
}
