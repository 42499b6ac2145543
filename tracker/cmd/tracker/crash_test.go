package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgetrace/edgetrace/tracker/epcisgen"
	"github.com/edgetrace/edgetrace/tracker/sqlite"
)

// binDir holds the binary built for the tests; TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildTracker compiles this command once per test binary run.
var buildTracker = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "tracker-bin-")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "tracker")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

type proc struct {
	cmd  *exec.Cmd
	base string
	logs *bytes.Buffer
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs `tracker serve` and waits for /readyz.
func start(t *testing.T, db string, env ...string) *proc {
	t.Helper()
	return startNode(t, []string{"serve", "--db", db, "--site", "crash-test"}, env...)
}

type sentDoc struct {
	ids   []string
	acked bool
}

// TestCrashSafety captures in a loop from several clients, SIGKILLs the
// server at a random moment, restarts it, and checks that every acknowledged
// capture is complete and no capture is half-stored. Then it checks the
// database file with SQLite's integrity_check.
func TestCrashSafety(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tracker.db")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var mu sync.Mutex
	var docs []*sentDoc
	client := &http.Client{Timeout: 5 * time.Second}
	const rounds, workers = 5, 4
	for round := range rounds {
		p := start(t, db)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				g := epcisgen.New(epcisgen.Config{Seed: uint64(round*workers + w + 1)})
				for {
					select {
					case <-stop:
						return
					default:
					}
					evs := g.Events(1 + rng.IntN(40))
					d := &sentDoc{}
					for _, ev := range evs {
						d.ids = append(d.ids, ev.EventID)
					}
					mu.Lock()
					docs = append(docs, d)
					mu.Unlock()
					resp, err := client.Post(p.base+"/capture", "application/json", bytes.NewReader(epcisgen.Document(evs)))
					if err != nil {
						return // killed mid-request: not acknowledged
					}
					resp.Body.Close()
					if resp.StatusCode == 202 {
						mu.Lock()
						d.acked = true
						mu.Unlock()
					} else {
						t.Errorf("capture = %d", resp.StatusCode)
						return
					}
				}
			}()
		}
		time.Sleep(time.Duration(50+rng.IntN(400)) * time.Millisecond)
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p.cmd.Wait()
		close(stop)
		wg.Wait()
	}

	// Restart and check every document: acknowledged ones whole, others whole or absent.
	p := start(t, db)
	acked, whole := 0, 0
	for i, d := range docs {
		present := 0
		for _, id := range d.ids {
			resp, err := client.Get(p.base + "/events/" + url.PathEscape(id))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == 200 {
				present++
			}
		}
		if d.acked {
			acked++
			if present != len(d.ids) {
				t.Errorf("acknowledged document %d: %d of %d events present", i, present, len(d.ids))
			}
		}
		if present != 0 && present != len(d.ids) {
			t.Errorf("document %d half-stored: %d of %d events", i, present, len(d.ids))
		}
		if present == len(d.ids) {
			whole++
		}
	}
	if acked == 0 {
		t.Fatal("no capture was acknowledged: the test proved nothing")
	}
	t.Logf("%d rounds: %d documents sent, %d acknowledged, %d stored whole", rounds, len(docs), acked, whole)

	// Graceful stop (SIGTERM), then the file must pass integrity_check.
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("tracker exit after SIGTERM: %v\n%s", err, p.logs.String())
	}
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: db})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var check string
	if err := s.QueryRowForTest("PRAGMA integrity_check", &check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v", check, err)
	}
	var outbox, events int
	s.QueryRowForTest("SELECT (SELECT count(*) FROM outbox), (SELECT count(*) FROM events)", &outbox, &events)
	if outbox != events {
		t.Errorf("outbox has %d rows for %d events: outbox and events must commit together", outbox, events)
	}
}
