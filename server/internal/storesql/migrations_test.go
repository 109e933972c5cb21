package storesql

import (
	"testing"
	"testing/fstest"
)

func TestMigrations(t *testing.T) {
	fsys := fstest.MapFS{
		"migrations/0010_later.sql":  {Data: []byte("SELECT 10")},
		"migrations/0002_second.sql": {Data: []byte("SELECT 2")},
		"migrations/0001_init.sql":   {Data: []byte("SELECT 1")},
		"migrations/README":          {Data: []byte("not a migration")},
	}
	ms, err := Migrations(fsys)
	if err != nil {
		t.Fatal(err)
	}
	want := []Migration{{1, "0001_init.sql", "SELECT 1"}, {2, "0002_second.sql", "SELECT 2"}, {10, "0010_later.sql", "SELECT 10"}}
	if len(ms) != len(want) {
		t.Fatalf("Migrations = %+v, want %+v", ms, want)
	}
	for i := range want {
		if ms[i] != want[i] {
			t.Errorf("migration %d = %+v, want %+v (in version order, not name order)", i, ms[i], want[i])
		}
	}

	for name, bad := range map[string]fstest.MapFS{
		"no underscore": {"migrations/0001.sql": {}},
		"not a number":  {"migrations/abc_init.sql": {}},
		"same version":  {"migrations/0001_a.sql": {}, "migrations/1_b.sql": {}},
		"beyond int32":  {"migrations/99999999999_big.sql": {}},
	} {
		if ms, err := Migrations(bad); err == nil {
			t.Errorf("%s: Migrations = %+v, want an error", name, ms)
		}
	}
}
