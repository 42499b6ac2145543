package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgetrace/edgetrace/tracker/sqlite"
)

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		check   func(config) bool
		wantErr []string // substrings the error must name
	}{
		{name: "defaults run with no setup", check: func(c config) bool {
			return c.Listen == ":8080" && c.DB == "tracker.db" && c.Site != "" && c.TrackingEnabled && c.CacheEnabled &&
				c.CacheTTL == 300*time.Second && !c.SyncEnabled && c.SyncInterval == 10*time.Second
		}},
		{name: "case study ConfigMap", env: map[string]string{"TRACKING_ENABLED": "true", "sync_enabled": "true", "sync_interval": "10s", "cache_enabled": "true", "cache_ttl": "300s"},
			check: func(c config) bool { return c.SyncEnabled && c.CacheTTL == 300*time.Second }},
		{name: "tracking off", env: map[string]string{"TRACKING_ENABLED": "false"}, check: func(c config) bool { return !c.TrackingEnabled }},
		{name: "flags beat env", env: map[string]string{"TRACKER_LISTEN": ":1", "TRACKER_DB": "/env.db", "TRACKER_SITE": "env"},
			args:  []string{"--listen", ":2", "--db", "/flag.db"},
			check: func(c config) bool { return c.Listen == ":2" && c.DB == "/flag.db" && c.Site == "env" }},
		{name: "bad bool", env: map[string]string{"TRACKING_ENABLED": "yes please"}, wantErr: []string{`TRACKING_ENABLED="yes please"`}},
		{name: "bad duration", env: map[string]string{"cache_ttl": "300"}, wantErr: []string{`cache_ttl="300"`}},
		{name: "negative interval", env: map[string]string{"sync_interval": "-1s"}, wantErr: []string{`sync_interval="-1s"`}},
		{name: "every problem at once", env: map[string]string{"cache_enabled": "maybe", "sync_enabled": "2", "TRACKER_MAX_BODY": "lots"},
			wantErr: []string{`cache_enabled="maybe"`, `sync_enabled="2"`, `TRACKER_MAX_BODY="lots"`}},
		{name: "stray argument", args: []string{"extra"}, wantErr: []string{`"extra"`}},
		{name: "listen address without port", env: map[string]string{"TRACKER_LISTEN": "notaport"}, wantErr: []string{`TRACKER_LISTEN) "notaport"`}},
		{name: "listen port out of range", env: map[string]string{"TRACKER_LISTEN": "127.0.0.1:99999"}, wantErr: []string{`TRACKER_LISTEN) "127.0.0.1:99999"`}},
		{name: "broker message limit", env: map[string]string{"TRACKER_AMQP_MAX_MESSAGE": "1000"}, wantErr: []string{`--amqp-max-message=1000`}},
		{name: "synced events fit a message", env: map[string]string{"sync_enabled": "true", "TRACKER_AMQP_MAX_MESSAGE": "1048576"},
			check: func(c config) bool { return c.maxSyncedEvent() == 1048576-syncHeaderRoom }},
		{name: "no limit without sync", env: map[string]string{"TRACKER_AMQP_MAX_MESSAGE": "1048576"},
			check: func(c config) bool { return c.maxSyncedEvent() == 0 }},
		{name: "only the words true and false", env: map[string]string{"TRACKING_ENABLED": "1", "cache_enabled": "TRUE", "sync_enabled": "false"},
			wantErr: []string{`TRACKING_ENABLED="1"`, `cache_enabled="TRUE"`}},
		{name: "padded boolean", env: map[string]string{"sync_enabled": " true "}, wantErr: []string{`sync_enabled=" true "`}},
		{name: "sync interval that would spin", env: map[string]string{"sync_interval": "1ns"}, wantErr: []string{`sync_interval="1ns"`, "at least 100ms"}},
		{name: "shortest sync interval", env: map[string]string{"sync_interval": "100ms"}, check: func(c config) bool { return c.SyncInterval == 100*time.Millisecond }},
		{name: "broker URL with another scheme", env: map[string]string{"TRACKER_AMQP_URL": "htp://guest:secret@broker:5672/"},
			wantErr: []string{`TRACKER_AMQP_URL) htp://guest:xxxxx@broker:5672/`}},
		{name: "broker URL with a bad port", args: []string{"--amqp", "amqp://guest:secret@broker:port/"}, wantErr: []string{"--amqp (TRACKER_AMQP_URL) unparseable URL"}},
		{name: "broker URL with a port out of range", args: []string{"--amqp", "amqp://guest:secret@broker:99999/"}, wantErr: []string{`port "99999" out of range`}},
		{name: "empty typed settings", env: map[string]string{"TRACKING_ENABLED": "", "cache_ttl": "", "sync_interval": "", "TRACKER_MAX_BODY": ""},
			wantErr: []string{`TRACKING_ENABLED=""`, `cache_ttl=""`, `sync_interval=""`, `TRACKER_MAX_BODY=""`}},
		{name: "empty strings are unset", env: map[string]string{"TRACKER_LISTEN": "", "TRACKER_DB": "", "TRACKER_AMQP_URL": ""},
			check: func(c config) bool { return c.Listen == ":8080" && c.DB == "tracker.db" && c.AMQP == "" }},
		{name: "blank site", env: map[string]string{"TRACKER_SITE": "   "}, wantErr: []string{`TRACKER_SITE) "   "`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig(tt.args, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if len(tt.wantErr) > 0 {
				checkConfigError(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("config = %+v", c)
			}
		})
	}
}

func TestLoadHubConfig(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := loadHubConfig(nil, env(map[string]string{"TRACKER_AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":8080" || c.DB != "hub.db" || c.Prefetch <= 0 {
		t.Errorf("defaults = %+v", c)
	}
	for name, tt := range map[string]struct {
		env     map[string]string
		args    []string
		wantErr []string
	}{
		"broker required":   {wantErr: []string{"--amqp (TRACKER_AMQP_URL): required"}},
		"broker URL scheme": {env: map[string]string{"TRACKER_AMQP_URL": "http://guest:secret@broker/"}, wantErr: []string{"TRACKER_AMQP_URL) http://guest:xxxxx@broker/"}},
		"listen and prefetch": {args: []string{"--amqp", "amqp://broker/", "--listen", "8080", "--prefetch", "0"},
			wantErr: []string{`TRACKER_LISTEN) "8080"`, "--prefetch=0"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadHubConfig(tt.args, env(tt.env))
			checkConfigError(t, err, tt.wantErr)
		})
	}
}

// checkConfigError requires err to name each of want and never to show the
// broker password the cases use ("secret").
func checkConfigError(t *testing.T, err error, want []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one naming %v", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not name %s", err, w)
		}
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error %q shows the broker password", err)
	}
}

// TestStartupErrorsNameTheSetting: what only start-up can find out (a host
// that does not resolve, a database directory that is missing) is
// reported against the flag and variable that set it.
func TestStartupErrorsNameTheSetting(t *testing.T) {
	if _, err := listen("256.1.1.1:80"); err == nil || !strings.Contains(err.Error(), `--listen (TRACKER_LISTEN) "256.1.1.1:80"`) {
		t.Errorf("listen on an unresolvable host: %v", err)
	}
	db := filepath.Join(t.TempDir(), "missing", "t.db")
	if _, err := openStore(context.Background(), sqlite.Options{Path: db}); err == nil || !strings.Contains(err.Error(), `--db (TRACKER_DB) "`+db+`"`) {
		t.Errorf("store in a missing directory: %v", err)
	}
}
