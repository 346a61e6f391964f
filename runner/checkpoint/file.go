package checkpoint

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/gofrs/flock"

	"github.com/checkpointed/checkpointed/internal/runcontract"
)

// FileName is the checkpoint file's name inside a FileStore's directory.
const FileName = "checkpoint.json"

// RecordLogFileName is the record log's file name inside a FileStore's directory.
const RecordLogFileName = runcontract.RecordLogKey

// FileStore keeps the checkpoint of one job in <dir>/checkpoint.json, for local mode.
//
// Writes are atomic and durable: the state goes to a temporary file in the same directory,
// which is synced, renamed over the checkpoint and followed by a sync of the directory, so a
// crash leaves either the old or the new checkpoint, never a torn one.
//
// Compare-and-swap: Load remembers a digest of the bytes it read (or that the file was
// absent), and Save refuses with ErrConflict when the file no longer has them. The check and
// the rename happen under a short exclusive flock on <dir>/checkpoint.json.lock, so two
// processes cannot both pass the check. The comparison is by content: a writer that
// rewrote exactly the bytes this store saw changed nothing, and is not a conflict.
// A FileStore is safe for concurrent use.
type FileStore struct {
	dir string
	job string

	mu     sync.Mutex
	loaded bool
	// seen is the SHA-256 of the file's bytes at the last Load or Save; nil means the file
	// did not exist.
	seen []byte
}

// NewFileStore returns the store of job's checkpoint in dir. The directory is created on
// the first Save.
func NewFileStore(dir, job string) *FileStore {
	return &FileStore{dir: dir, job: job}
}

// Path returns the checkpoint file's path.
func (s *FileStore) Path() string { return filepath.Join(s.dir, FileName) }

// Load reads the checkpoint. A missing file is a zero runcontract.Checkpoint (nothing
// stored yet); a file that does not hold a checkpoint (empty, null, {}, corrupt JSON,
// another job's state) is an error naming the file: it is never silently reset.
func (s *FileStore) Load(ctx context.Context) (runcontract.Checkpoint, error) {
	if err := ctx.Err(); err != nil {
		return runcontract.Checkpoint{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data, digest, err := s.read()
	if err != nil {
		return runcontract.Checkpoint{}, err
	}
	var st runcontract.Checkpoint
	if digest != nil { // the file exists: whatever it holds must be a checkpoint
		if st, err = s.decode(data); err != nil {
			return runcontract.Checkpoint{}, err
		}
	}
	s.loaded, s.seen = true, digest
	return st, nil
}

// Save stores st if the file still holds what the last Load or Save saw, and returns a
// wrapped ErrConflict otherwise. Save before any Load is an error. An empty st.Job is
// filled with the store's job; another job's name is refused.
func (s *FileStore) Save(ctx context.Context, st runcontract.Checkpoint) error {
	return s.save(ctx, st, nil)
}

// SaveWithRecordLog is Save that also stores log in <dir>/record-log.json, under the same
// compare-and-swap on the checkpoint file (the log is written first: a crash between the
// two leaves a log that is newer than the checkpoint, never an older one).
func (s *FileStore) SaveWithRecordLog(ctx context.Context, st runcontract.Checkpoint, log runcontract.RecordLog) error {
	return s.save(ctx, st, &log)
}

// RecordLogPath returns the record log file's path.
func (s *FileStore) RecordLogPath() string { return filepath.Join(s.dir, RecordLogFileName) }

// LoadRecordLog reads the record log; a missing file is a zero runcontract.RecordLog.
func (s *FileStore) LoadRecordLog(ctx context.Context) (runcontract.RecordLog, error) {
	if err := ctx.Err(); err != nil {
		return runcontract.RecordLog{}, err
	}
	data, err := os.ReadFile(s.RecordLogPath())
	if errors.Is(err, fs.ErrNotExist) {
		return runcontract.RecordLog{}, nil
	}
	if err != nil {
		return runcontract.RecordLog{}, fmt.Errorf("read record log: %w", err)
	}
	l, err := runcontract.DecodeRecordLog(s.job, data)
	if err != nil {
		return runcontract.RecordLog{}, fmt.Errorf("record log file %s %w", s.RecordLogPath(), err)
	}
	return l, nil
}

func (s *FileStore) save(ctx context.Context, st runcontract.Checkpoint, log *runcontract.RecordLog) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loaded {
		return fmt.Errorf("save checkpoint %s: Load was never called, nothing to compare against", s.Path())
	}
	data, err := runcontract.EncodeCheckpoint(s.job, st)
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", s.Path(), err)
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("save checkpoint: create directory: %w", err)
	}

	guard := flock.New(s.Path() + ".lock")
	if err := guard.Lock(); err != nil {
		return fmt.Errorf("save checkpoint %s: lock for compare-and-swap: %w", s.Path(), err)
	}
	defer func() { _ = guard.Unlock() }()

	_, current, err := s.read()
	if err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	if !bytes.Equal(current, s.seen) {
		return fmt.Errorf("save checkpoint %s: %w", s.Path(), ErrConflict)
	}
	if log != nil {
		logData, err := runcontract.EncodeRecordLog(s.job, *log)
		if err != nil {
			return fmt.Errorf("save record log %s: %w", s.RecordLogPath(), err)
		}
		if err := writeAtomic(s.dir, RecordLogFileName, logData); err != nil {
			return fmt.Errorf("save record log %s: %w", s.RecordLogPath(), err)
		}
	}
	if err := writeAtomic(s.dir, FileName, data); err != nil {
		return fmt.Errorf("save checkpoint %s: %w", s.Path(), err)
	}
	sum := sha256.Sum256(data)
	s.seen = sum[:]
	return nil
}

// read returns the file's bytes and their digest; a missing file gives nil, nil.
func (s *FileStore) read() ([]byte, []byte, error) {
	data, err := os.ReadFile(s.Path())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read checkpoint %s: %w", s.Path(), err)
	}
	sum := sha256.Sum256(data)
	return data, sum[:], nil
}

// decode parses the bytes of an existing file; blank bytes are an error like any other
// data that is not a checkpoint.
func (s *FileStore) decode(data []byte) (runcontract.Checkpoint, error) {
	st, err := runcontract.DecodeCheckpoint(s.job, data)
	if err != nil {
		return runcontract.Checkpoint{}, fmt.Errorf("checkpoint file %s %w (fix or remove it by hand)", s.Path(), err)
	}
	return st, nil
}

// writeAtomic replaces dir/name with data durably: temp file, fsync, rename, fsync dir.
func writeAtomic(dir, name string, data []byte) (err error) {
	tmp, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	if err = os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("rename into place: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory to sync: %w", err)
	}
	defer func() { _ = d.Close() }()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
