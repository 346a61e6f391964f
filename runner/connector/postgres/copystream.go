package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5/pgconn"
)

// Streamed listings read with COPY (query) TO STDOUT (FORMAT binary): one statement, no
// per-row protocol messages beyond the COPY's own, no text escaping (a value's bytes are
// sent as they are, whatever they hold), rows decoded in the goroutine that reads the
// connection, as they arrive, without a pipe or a goroutine per stream.

// copyBinary runs query as COPY (query) TO STDOUT (FORMAT binary) on conn and calls row
// with the fields of each row, in order (a NULL field is nil, an empty one is empty but
// not nil). The field slices are valid only during the call: row copies what it keeps. An
// error from row ends the COPY and is returned as it is; pgconn then closes the connection
// (a COPY cannot be left half read), so the caller must not reuse it. It returns the rows
// read.
func copyBinary(ctx context.Context, conn *pgconn.PgConn, query string, row func(fields [][]byte) error) (int64, error) {
	d := &copyDecoder{row: row}
	if _, err := conn.CopyTo(ctx, d, "COPY ("+query+") TO STDOUT (FORMAT binary)"); err != nil {
		return d.rows, err
	}
	if !d.ended || len(d.pending) > 0 {
		return d.rows, errors.New("binary COPY stream ended early")
	}
	return d.rows, nil
}

// copySignature starts a binary COPY stream; a 32-bit flags field and the length of a
// header extension follow it.
var copySignature = []byte("PGCOPY\n\xff\r\n\x00")

// copyDecoder decodes a binary COPY stream written to it in pieces of any size (pgconn
// writes one CopyData message at a time, which PostgreSQL makes one row, the header with
// the first): whole rows are decoded where they lie, only a row split across writes is
// carried over.
type copyDecoder struct {
	row     func(fields [][]byte) error
	pending []byte   // the start of a row (or of the header) not complete yet
	fields  [][]byte // reused for each row
	header  bool     // the header has been read
	ended   bool     // the trailer has been read
	rows    int64
}

// Write implements io.Writer for pgconn.PgConn.CopyTo.
func (d *copyDecoder) Write(p []byte) (int, error) {
	data := p
	if len(d.pending) > 0 {
		d.pending = append(d.pending, p...)
		data = d.pending
	}
	n, err := d.decode(data)
	if err != nil {
		return 0, err
	}
	rest := data[n:]
	if len(d.pending) > 0 {
		d.pending = d.pending[:copy(d.pending, rest)]
	} else {
		d.pending = append(d.pending, rest...)
	}
	return len(p), nil
}

// decode decodes the header and the whole rows at the start of data and returns how many
// bytes it used.
func (d *copyDecoder) decode(data []byte) (int, error) {
	off := 0
	if !d.header {
		const fixed = 11 + 4 + 4 // signature, flags, header extension length
		if len(data) < fixed {
			return 0, nil
		}
		if !bytes.Equal(data[:len(copySignature)], copySignature) {
			return 0, errors.New("not a binary COPY stream")
		}
		ext := int(binary.BigEndian.Uint32(data[15:19]))
		if len(data) < fixed+ext {
			return 0, nil
		}
		off, d.header = fixed+ext, true
	}
	for {
		if d.ended {
			if off < len(data) {
				return off, errors.New("binary COPY stream goes on after its trailer")
			}
			return off, nil
		}
		if len(data)-off < 2 {
			return off, nil
		}
		n := int(int16(binary.BigEndian.Uint16(data[off:])))
		if n == -1 {
			d.ended = true
			off += 2
			continue
		}
		if n < 0 {
			return off, fmt.Errorf("binary COPY row with %d fields", n)
		}
		p := off + 2
		fields := d.fields[:0]
		for range n {
			if len(data)-p < 4 {
				return off, nil
			}
			size := int(int32(binary.BigEndian.Uint32(data[p:])))
			p += 4
			if size < 0 {
				fields = append(fields, nil)
				continue
			}
			if len(data)-p < size {
				return off, nil
			}
			fields = append(fields, data[p:p+size:p+size])
			p += size
		}
		d.fields = fields
		if err := d.row(fields); err != nil {
			return off, err
		}
		d.rows++
		off = p
	}
}

// Keys in runs: a listing of millions of keys would otherwise make one string (one
// allocation) per key, and one slice entry (a pointer) per key to hand them over. A
// keyArena copies the bytes of keys into a buffer and makes one string of up to about
// arenaBytes at a time: a keyRun, whose keys are substrings of it, located by their ends.

// Bounds of a keyArena's run.
const (
	// arenaBytes is the size from which a run is full. Small enough that a key kept after
	// its run (a key to delete) keeps little else alive.
	arenaBytes = 8 << 10
	// arenaKeys is the most keys in one run.
	arenaKeys = 2048
)

// keyRun is keys held in one string: key i is s[ends[i-1]:ends[i]] (the first starts at
// 0). A key made from it shares its memory: a key kept keeps the run's string alive.
type keyRun struct {
	s    string
	ends []int32
}

// len is the number of keys in the run.
func (r keyRun) len() int { return len(r.ends) }

// key returns key i.
func (r keyRun) key(i int) string {
	start := int32(0)
	if i > 0 {
		start = r.ends[i-1]
	}
	return r.s[start:r.ends[i]]
}

// keyArena collects keys into runs, each key prefix + the bytes added.
type keyArena struct {
	prefix string
	buf    []byte
	ends   []int32
}

// add appends prefix + a copy of k and reports whether the run is full.
func (a *keyArena) add(k []byte) bool {
	a.buf = append(append(a.buf, a.prefix...), k...)
	a.ends = append(a.ends, int32(len(a.buf)))
	return len(a.buf) >= arenaBytes || len(a.ends) >= arenaKeys
}

// addInt appends prefix + the decimal text of v (strconv's, which is PostgreSQL's) and
// reports whether the run is full.
func (a *keyArena) addInt(v int64) bool {
	a.buf = strconv.AppendInt(append(a.buf, a.prefix...), v, 10)
	a.ends = append(a.ends, int32(len(a.buf)))
	return len(a.buf) >= arenaBytes || len(a.ends) >= arenaKeys
}

// len is the number of keys added since the last take or drain.
func (a *keyArena) len() int { return len(a.ends) }

// take returns the keys added since the last take or drain as a run of its own.
func (a *keyArena) take() keyRun {
	r := keyRun{s: string(a.buf), ends: a.ends}
	a.buf, a.ends = a.buf[:0], make([]int32, 0, arenaKeys)
	return r
}

// drain hands the keys added since the last take or drain to yield, in order; false:
// yield asked to stop.
func (a *keyArena) drain(yield func(string, error) bool) bool {
	r := keyRun{s: string(a.buf), ends: a.ends}
	a.buf, a.ends = a.buf[:0], a.ends[:0] // the run's keys are substrings of r.s: ends can be reused
	for i := range r.len() {
		if !yield(r.key(i), nil) {
			return false
		}
	}
	return true
}
