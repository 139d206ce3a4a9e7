package cifar

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// archiveServer serves body at /data/cifar-10-binary.tar.gz and counts
// requests.
func archiveServer(t *testing.T, body []byte) (*httptest.Server, *atomic.Int32) {
	var requests atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/data/"+BinaryArchiveName, func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Write(body)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &requests
}

func md5hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

// leftovers lists the files in dir other than the finished archive.
func leftovers(t *testing.T, dir string) []string {
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		if e.Name() != BinaryArchiveName {
			names = append(names, e.Name())
		}
	}
	return names
}

func TestFetch(t *testing.T) {
	archive := tarBytes(t, binaryFiles(t, binaryFolderName), true)
	srv, _ := archiveServer(t, archive)
	tests := []struct {
		name    string
		baseURL string
		md5     string
		wantErr string
	}{
		{"checksum matches", srv.URL + "/data/", md5hex(archive), ""},
		{"checksum differs", srv.URL + "/data", md5hex([]byte("other")), "has MD5 " + md5hex(archive)},
		{"not found", srv.URL + "/elsewhere", md5hex(archive), "404"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cache := filepath.Join(t.TempDir(), "cache")
			f := Fetcher{BaseURL: tc.baseURL, MD5: tc.md5}
			p, err := f.Fetch(context.Background(), cache)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.NoFileExists(t, CachedArchive(cache))
				require.Empty(t, leftovers(t, cache), "a failed download must leave nothing behind")
				return
			}
			require.NoError(t, err)
			require.Equal(t, CachedArchive(cache), p)
			require.Empty(t, leftovers(t, cache))
			d, err := Load(p, LoadOptions{})
			require.NoError(t, err)
			checkSynthetic(t, d, true)
		})
	}
}

func TestFetchKeepsAVerifiedFile(t *testing.T) {
	archive := tarBytes(t, binaryFiles(t, binaryFolderName), true)
	srv, requests := archiveServer(t, archive)
	cache := t.TempDir()
	f := Fetcher{BaseURL: srv.URL + "/data", MD5: md5hex(archive)}

	_, err := f.Fetch(context.Background(), cache)
	require.NoError(t, err)
	require.Equal(t, int32(1), requests.Load())
	// Present and verified: no second download.
	_, err = f.Fetch(context.Background(), cache)
	require.NoError(t, err)
	require.Equal(t, int32(1), requests.Load())
	// Corrupted in the cache: downloaded again and replaced.
	require.NoError(t, os.WriteFile(CachedArchive(cache), []byte("damaged"), 0o644))
	_, err = f.Fetch(context.Background(), cache)
	require.NoError(t, err)
	require.Equal(t, int32(2), requests.Load())
	sum, err := FileMD5(CachedArchive(cache))
	require.NoError(t, err)
	require.Equal(t, md5hex(archive), sum)
}
