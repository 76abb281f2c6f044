// tlogcheck reads a C2SP tlog-tiles log over HTTP with the Go project's own transparency-log
// packages, golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog (the code every Go
// checksum-database client runs), and checks it as such a client does: the checkpoint's
// signature by the log's verifier key, the tree hash of its hash tiles (each tile read is
// checked against the signed root), and every entry of the entry bundles proved in the tree
// by an RFC 9162 inclusion proof built from those tiles.
//
// Usage: tlogcheck URL VERIFIER-KEY. Prints "ok: N entries, root HEX" or fails naming what.
// Run by tests/it/mirror.rs with Debian's golang-go and golang-golang-x-mod-dev (GOPATH mode).
package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func fetch(base, path string) ([]byte, error) {
	resp, err := http.Get(strings.TrimSuffix(base, "/") + "/" + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// An index as C2SP tlog-tiles writes it: groups of three digits, all but the last prefixed x.
func indexPath(n int64) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		s = fmt.Sprintf("x%03d/", n%1000) + s
	}
	return s
}

func partial(path string, w, full int) string {
	if w != full {
		return path + ".p/" + strconv.Itoa(w)
	}
	return path
}

// tiles is a tlog.TileReader over the C2SP paths (tlog's own paths name the tile height too).
type tiles struct {
	base string
	kept map[tlog.Tile][]byte
	read int
}

func (r *tiles) Height() int { return 8 }

func (r *tiles) ReadTiles(ts []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(ts))
	for i, t := range ts {
		if b, ok := r.kept[t]; ok {
			out[i] = b
			continue
		}
		b, err := fetch(r.base, partial("tile/"+strconv.Itoa(t.L)+"/"+indexPath(t.N), t.W, 1<<t.H))
		if err != nil {
			return nil, err
		}
		r.read++
		out[i] = b
	}
	return out, nil
}

// SaveTiles is called with the tiles tlog has checked against the signed root: only those are
// kept for later reads.
func (r *tiles) SaveTiles(ts []tlog.Tile, data [][]byte) {
	for i, t := range ts {
		r.kept[t] = data[i]
	}
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "tlogcheck: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 3 {
		fail("usage: tlogcheck URL VERIFIER-KEY")
	}
	base := os.Args[1]
	verifier, err := note.NewVerifier(strings.TrimSpace(os.Args[2]))
	if err != nil {
		fail("verifier key: %v", err)
	}
	raw, err := fetch(base, "checkpoint")
	if err != nil {
		fail("%v", err)
	}
	signed, err := note.Open(raw, note.VerifierList(verifier))
	if err != nil {
		fail("checkpoint: %v", err)
	}
	lines := strings.Split(signed.Text, "\n")
	if len(lines) < 4 || lines[0] != verifier.Name() {
		fail("checkpoint: origin %q, want %q", lines[0], verifier.Name())
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("checkpoint size %q: %v", lines[1], err)
	}
	rootBytes, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(rootBytes) != tlog.HashSize {
		fail("checkpoint root %q", lines[2])
	}
	var root tlog.Hash
	copy(root[:], rootBytes)
	reader := &tiles{base: base, kept: map[tlog.Tile][]byte{}}
	hashes := tlog.TileHashReader(tlog.Tree{N: size, Hash: root}, reader)
	got, err := tlog.TreeHash(size, hashes)
	if err != nil {
		fail("tree hash from the tiles: %v", err)
	}
	if got != root {
		fail("the tiles make root %x, the checkpoint signs %x", got[:], root[:])
	}
	for k := int64(0); k*256 < size; k++ {
		w := size - k*256
		if w > 256 {
			w = 256
		}
		bundle, err := fetch(base, partial("tile/entries/"+indexPath(k), int(w), 256))
		if err != nil {
			fail("%v", err)
		}
		for j := int64(0); j < w; j++ {
			if len(bundle) < 2 {
				fail("entry bundle %d ends before entry %d", k, k*256+j)
			}
			n := int(bundle[0])<<8 | int(bundle[1])
			if len(bundle) < 2+n {
				fail("entry bundle %d: entry %d runs past its end", k, k*256+j)
			}
			entry := bundle[2 : 2+n]
			bundle = bundle[2+n:]
			index := k*256 + j
			proof, err := tlog.ProveRecord(size, index, hashes)
			if err != nil {
				fail("inclusion proof of entry %d: %v", index, err)
			}
			if err := tlog.CheckRecord(proof, size, root, index, tlog.RecordHash(entry)); err != nil {
				fail("entry %d is not in the signed tree: %v", index, err)
			}
		}
		if len(bundle) != 0 {
			fail("entry bundle %d: %d bytes after its last entry", k, len(bundle))
		}
	}
	fmt.Printf("ok: %d entries, root %x, %d hash tiles read\n", size, root[:], reader.read)
}
