package mnist

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Files given with a data directory are checked against the published
// checksums before they are read. A .gz file is checked by the MD5 of its
// bytes (the checksum MNIST's and Fashion-MNIST's publishers list); a raw
// file, or a .gz that was recompressed (Debian's Fashion-MNIST package),
// by the SHA-256 of its decompressed bytes where that is recorded.
//
// MNIST's content SHA-256s were computed from the GoMNIST module copy,
// whose .gz files match the published MD5s. Fashion-MNIST's are not
// recorded: no verified copy was at hand when this was written, so a raw
// or recompressed Fashion-MNIST file is reported as unverifiable.
func mnistContent(base string) string {
	switch base {
	case "train-images-idx3-ubyte":
		return "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
	case "train-labels-idx1-ubyte":
		return "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"
	case "t10k-images-idx3-ubyte":
		return "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"
	case "t10k-labels-idx1-ubyte":
		return "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"
	}
	return ""
}

// FileCheck is the result of checking one file against its checksum.
type FileCheck struct {
	Path string
	// OK is true when a published checksum matched.
	OK bool
	// Detail says what was compared, or what is wrong, in one line.
	Detail string
}

// contentSHA256 returns a variant's recorded content checksum of a file.
func (v *variant) contentSHA256(base string) string {
	if v.name == "mnist" {
		return mnistContent(base)
	}
	return ""
}

// otherVariant is the other member of the family, to recognise its files.
func (v *variant) otherVariant() *variant {
	if v.name == "mnist" {
		return fashionVariant()
	}
	return mnistVariant()
}

// checkDir checks the four files in dir. It returns an error when a file
// is another data set's (Fashion-MNIST given MNIST files, or the reverse),
// which would train on the wrong data; a file that is damaged or cannot be
// verified gives a FileCheck with OK false, for the caller to warn about.
func (v *variant) checkDir(dir string) ([]FileCheck, error) {
	var out []FileCheck
	other := v.otherVariant()
	for _, f := range v.files() {
		p, err := findFile(dir, f.base)
		if err != nil {
			continue // read reports missing files
		}
		gzMD5, content, err := fileSums(p)
		if err != nil {
			out = append(out, FileCheck{p, false, fmt.Sprintf("cannot checksum: %v", err)})
			continue
		}
		of := fileByBase(other, f.base)
		if (gzMD5 != "" && gzMD5 == of.md5) || (content != "" && content == other.contentSHA256(f.base)) {
			return nil, fmt.Errorf("%s: %s is the %s file, not %s's (its checksum is %s's published one); point --data-dir at the %s files or use --dataset %s",
				v.display, p, other.display, v.display, other.display, v.display, other.name)
		}
		switch want := v.contentSHA256(f.base); {
		case gzMD5 != "" && gzMD5 == f.md5:
			out = append(out, FileCheck{p, true, "MD5 " + gzMD5 + " matches the published checksum"})
		case want != "" && content == want:
			out = append(out, FileCheck{p, true, "SHA-256 of the decompressed bytes matches the published files'"})
		case want == "":
			out = append(out, FileCheck{p, false, fmt.Sprintf("cannot be verified: it is not the published .gz (MD5 %s) and no checksum of %s's %s content is recorded", orRaw(gzMD5), v.display, encoding(p))})
		default:
			out = append(out, FileCheck{p, false, fmt.Sprintf("does not match the published checksum (corrupt or a different file; MD5 %s, content SHA-256 %s)", orRaw(gzMD5), content)})
		}
	}
	return out, nil
}

func orRaw(md5 string) string {
	if md5 == "" {
		return "n/a for a raw file"
	}
	return md5
}

func encoding(p string) string {
	if strings.HasSuffix(p, ".gz") {
		return "recompressed"
	}
	return "raw"
}

func fileByBase(v *variant, base string) fileSpec {
	for _, f := range v.files() {
		if f.base == base {
			return f
		}
	}
	return fileSpec{}
}

// fileSums returns the MD5 of a .gz file's bytes ("" for a raw file) and
// the SHA-256 of its decompressed content.
func fileSums(p string) (gzMD5, content string, err error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return "", "", err
	}
	raw := data
	if filepath.Ext(p) == ".gz" {
		sum := md5.Sum(data)
		gzMD5 = hex.EncodeToString(sum[:])
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return gzMD5, "", nil // read reports the broken gzip
		}
		h := sha256.New()
		if _, err := io.Copy(h, zr); err != nil {
			return gzMD5, "", nil
		}
		return gzMD5, hex.EncodeToString(h.Sum(nil)), nil
	}
	sum := sha256.Sum256(raw)
	return "", hex.EncodeToString(sum[:]), nil
}

// VerifyDir checks the files of data set name ("mnist" or
// "fashion-mnist") in dataDir (or its torchvision subfolder) against the
// published checksums, one FileCheck per file found.
func VerifyDir(name, dataDir string) ([]FileCheck, error) {
	var v *variant
	switch name {
	case "mnist":
		v = mnistVariant()
	case "fashion-mnist":
		v = fashionVariant()
	default:
		return nil, fmt.Errorf("mnist: unknown data set %q; valid names: %s", name, strings.Join(Names(), ", "))
	}
	dir, err := v.locateIn(dataDir)
	if err != nil {
		return nil, err
	}
	return v.checkDir(dir)
}
