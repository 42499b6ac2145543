package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/edgetrace/edgetrace/tracker"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Compile-time checks that Store implements the domain services.
var (
	_ tracker.CaptureService  = (*Store)(nil)
	_ tracker.EventService    = (*Store)(nil)
	_ tracker.TrackingService = (*Store)(nil)
)

// Options configure a Store. The zero value of every field but Path is usable.
type Options struct {
	// Path is the database file; created with its directory's permissions.
	Path string
	// Now returns the record time; tests inject a clock. Default time.Now.
	Now func() time.Time
	// OnCommit runs on the writer goroutine after each durable commit and
	// before any capture in it is acknowledged; the tracking cache uses it to
	// invalidate, so no cached answer predates an acknowledged capture.
	OnCommit func()
	// ReadConns is the read-only pool size. Default 2×GOMAXPROCS.
	ReadConns int
	// MaxBatchEvents bounds the events one group commit takes. Default 5000.
	MaxBatchEvents int
	// NoOutbox makes a store that is not a sync source: captures write no
	// outbox records, and records left from before are deleted at Open. The
	// hub sets it: it forwards nothing, so an outbox would only cost writes.
	NoOutbox bool
	// UnsafeNoSync turns fsync off (synchronous=OFF). Only for tests whose
	// subject is not durability (the fuzz target runs thousands of captures
	// a second); never in the binary.
	UnsafeNoSync bool
}

// Store is the SQLite-backed tracker store. It is safe for concurrent use.
type Store struct {
	opts   Options
	writer *sql.DB
	reader *sql.DB
	ckpt   *sql.DB // background checkpoints only

	reqs     chan *captureReq
	closing  chan struct{}
	done     chan struct{}
	ckptDone chan struct{}
	mu       sync.RWMutex // guards closed against the send on reqs
	closed   bool

	stmtLocation *sql.Stmt
	writeStmts   map[string]*sql.Stmt // writeSQL, prepared on the writer connection

	writerBusy atomic.Int64 // nanoseconds the writer spent committing (see WriterBusy)
}

// driverName registers a driver whose connections set the pragmas that DSN
// parameters cannot express.
const driverName = "sqlite3_tracker"

func init() {
	sql.Register(driverName, &sqlite3.SQLiteDriver{
		ConnectHook: func(c *sqlite3.SQLiteConn) error {
			// 4 MiB page cache per reader, no mmap: memory-mapped pages of a
			// multi-GiB store would count against the pod's RSS, while pread
			// goes through the kernel's page cache, which does not. The
			// writer raises its own cache (see open).
			_, err := c.Exec("PRAGMA cache_size=-4096; PRAGMA temp_store=MEMORY;", nil)
			return err
		},
	})
}

// Open opens (creating if needed) and migrates the database at opts.Path.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Path == "" {
		return nil, errors.New("open store: empty path")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = 2 * runtime.GOMAXPROCS(0)
	}
	if opts.MaxBatchEvents <= 0 {
		opts.MaxBatchEvents = 5000
	}
	s := &Store{
		opts:     opts,
		reqs:     make(chan *captureReq, 1024),
		closing:  make(chan struct{}),
		done:     make(chan struct{}),
		ckptDone: make(chan struct{}),
	}
	if err := s.open(ctx); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("open store %s: %w", opts.Path, err)
	}
	go s.writeLoop()
	go s.checkpointLoop()
	return s, nil
}

func (s *Store) open(ctx context.Context) error {
	path := (&url.URL{Scheme: "file", Opaque: url.PathEscape(s.opts.Path)}).String()
	// The writer is opened first: only a read-write connection can switch the
	// file to WAL, and readers opened before that would see rollback mode.
	sync := "FULL"
	if s.opts.UnsafeNoSync {
		sync = "OFF"
	}
	wq := url.Values{
		"_journal_mode": {"WAL"},
		"_synchronous":  {sync},
		"_txlock":       {"immediate"},
		"_busy_timeout": {"5000"},
		"_foreign_keys": {"off"},
	}
	var err error
	s.writer, err = sql.Open(driverName, path+"?"+wq.Encode())
	if err != nil {
		return err
	}
	s.writer.SetMaxOpenConns(1)
	// No automatic checkpoints on the writer: SQLite would run them inside
	// the commit that crosses the threshold, stalling every capture in that
	// group for the whole copy-and-fsync of the database file (seconds on a
	// large store). checkpointLoop does them on its own connection instead,
	// concurrently with the writer, which WAL allows.
	// The writer touches the upper levels of every B-tree on every capture;
	// 16 MiB keeps them resident.
	// journal_size_limit truncates the WAL file when it is rewound, so the
	// disk space a burst took is given back.
	if _, err := s.writer.ExecContext(ctx, fmt.Sprintf("PRAGMA wal_autocheckpoint=0; PRAGMA cache_size=-16384; PRAGMA journal_size_limit=%d", checkpointThreshold)); err != nil {
		return fmt.Errorf("set writer pragmas: %w", err)
	}
	s.writer.SetMaxIdleConns(1)
	s.writer.SetConnMaxLifetime(0)
	s.writer.SetConnMaxIdleTime(0)
	if err := s.migrate(ctx); err != nil {
		return err
	}
	if err := s.prepareWrites(ctx); err != nil {
		return err
	}
	if s.opts.NoOutbox {
		if _, err := s.writer.ExecContext(ctx, "DELETE FROM outbox"); err != nil {
			return fmt.Errorf("clear outbox: %w", err)
		}
	}
	rq := url.Values{
		"mode":          {"ro"},
		"_busy_timeout": {"5000"},
		"_query_only":   {"true"},
	}
	s.reader, err = sql.Open(driverName, path+"?"+rq.Encode())
	if err != nil {
		return err
	}
	s.reader.SetMaxOpenConns(s.opts.ReadConns)
	s.reader.SetMaxIdleConns(s.opts.ReadConns)
	s.reader.SetConnMaxLifetime(0)
	s.reader.SetConnMaxIdleTime(0)
	s.stmtLocation, err = s.reader.PrepareContext(ctx, locationSQL)
	if err != nil {
		return fmt.Errorf("prepare location query: %w", err)
	}
	cq := url.Values{"_busy_timeout": {"5000"}, "_synchronous": {"FULL"}}
	s.ckpt, err = sql.Open(driverName, path+"?"+cq.Encode())
	if err != nil {
		return err
	}
	s.ckpt.SetMaxOpenConns(1)
	return nil
}

// prepareWrites prepares the capture statements once. They cannot be
// prepared lazily: the writer has one connection, which a capture
// transaction holds, and preparing outside it would wait for it forever.
func (s *Store) prepareWrites(ctx context.Context) error {
	s.writeStmts = make(map[string]*sql.Stmt, len(writeSQL))
	for _, q := range writeSQL {
		st, err := s.writer.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare %.40q: %w", q, err)
		}
		s.writeStmts[q] = st
	}
	return nil
}

// checkpointThreshold is the WAL size that triggers a background checkpoint;
// walLimit the size past which the writer is made to wait for one. Variables
// so that a test can shrink them.
var (
	checkpointThreshold int64 = 32 << 20
	walLimit            int64 = 256 << 20
)

// rewindWAL runs on the writer goroutine after each commit: once the WAL has
// grown past walLimit it checkpoints the rest and restarts the WAL, holding
// captures back for that one copy. The writer looks itself (one stat per
// commit) rather than waiting for checkpointLoop's tick, so the WAL
// overshoots the limit by at most one batch however fast captures come; if
// the RESTART cannot finish (a passive checkpoint holds the lock past the
// busy timeout), the next commit tries again.
func (s *Store) rewindWAL() {
	fi, err := os.Stat(s.opts.Path + "-wal")
	if err != nil || fi.Size() < walLimit {
		return
	}
	_, _ = s.writer.Exec("PRAGMA wal_checkpoint(RESTART)")
}

// checkpointLoop copies the WAL into the database file whenever the WAL has
// grown past checkpointThreshold. PASSIVE checkpoints never block the writer
// or readers; the WAL is rewound by the writer's next commit once a
// checkpoint has caught up. Under a steady stream of captures that never
// happens — the writer has always begun its next transaction before the
// checkpoint ends — so the WAL would grow without bound (measured: 3.4 GB of
// WAL beside a 1.6 GB database while preloading 1M events flat out). Past
// walLimit the writer runs a RESTART checkpoint between two commits (see
// rewindWAL): only the frames written since the last passive
// checkpoint remain to copy, then the WAL starts over and
// journal_size_limit truncates the file. A RESTART from this connection
// would not do: the writer takes the lock again before it gets it.
func (s *Store) checkpointLoop() {
	defer close(s.ckptDone)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.closing:
			return
		case <-t.C:
		}
		fi, err := os.Stat(s.opts.Path + "-wal")
		if err != nil || fi.Size() < checkpointThreshold {
			continue
		}
		if _, err := s.ckpt.Exec("PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
			// Not fatal: the next tick retries, and Close checkpoints fully.
			continue
		}
	}
}

// migrate applies the embedded migrations not yet applied, each in its own
// transaction, tracking progress in PRAGMA user_version (the file's own
// header: no table to create, and reading it is free at start-up).
func (s *Store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	var version int
	if err := s.writer.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if version > len(names) {
		return fmt.Errorf("database schema version %d is newer than this binary's %d", version, len(names))
	}
	for i := version; i < len(names); i++ {
		body, err := migrationFS.ReadFile(names[i])
		if err != nil {
			return err
		}
		tx, err := s.writer.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", names[i], err)
		}
		// PRAGMA takes no bind parameters; i+1 is an int we computed.
		if _, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(i+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", names[i], err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: %w", names[i], err)
		}
	}
	return nil
}

// Ready reports whether the store is open and migrated (the /readyz check).
func (s *Store) Ready(ctx context.Context) error {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return tracker.Errorf(tracker.EUNAVAILABLE, "store is closed")
	}
	var v int
	if err := s.reader.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if want := migrationCount(); v != want {
		return tracker.Errorf(tracker.EUNAVAILABLE, "schema version %d, want %d", v, want)
	}
	return nil
}

func migrationCount() int {
	names, _ := fs.Glob(migrationFS, "migrations/*.sql")
	return len(names)
}

// WriterBusy returns how long the single writer connection has spent
// committing captures since Open. All captures go through it, so its rate
// is the store's write utilisation: near 1, captures queue for it and the
// store takes no more events per second, whatever else the machine has free.
func (s *Store) WriterBusy() time.Duration { return time.Duration(s.writerBusy.Load()) }

// Size returns the bytes the database occupies on disk (file plus WAL); a
// stat, not a query, so /metrics stays cheap on a large store.
func (s *Store) Size() int64 {
	var n int64
	for _, suffix := range []string{"", "-wal"} {
		if fi, err := os.Stat(s.opts.Path + suffix); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// Close stops accepting captures, lets the writer finish the ones already
// queued, checkpoints the WAL and closes both pools.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	s.mu.Unlock()
	<-s.done
	<-s.ckptDone
	var errs []error
	if s.writer != nil {
		// TRUNCATE leaves no WAL behind, so the next start opens a single file.
		if _, err := s.writer.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			errs = append(errs, fmt.Errorf("checkpoint: %w", err))
		}
	}
	errs = append(errs, s.closeDBs())
	return errors.Join(errs...)
}

func (s *Store) closeDBs() error {
	var errs []error
	if s.stmtLocation != nil {
		errs = append(errs, s.stmtLocation.Close())
	}
	for _, st := range s.writeStmts {
		errs = append(errs, st.Close())
	}
	if s.reader != nil {
		errs = append(errs, s.reader.Close())
	}
	if s.ckpt != nil {
		errs = append(errs, s.ckpt.Close())
	}
	if s.writer != nil {
		errs = append(errs, s.writer.Close())
	}
	return errors.Join(errs...)
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}
