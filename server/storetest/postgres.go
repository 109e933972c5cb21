package storetest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresURL returns VIGIL_TEST_POSTGRES_URL with search_path set to a new schema (named
// prefix_<nanoseconds>), dropped when the test ends. Without the variable the test is skipped,
// except under CI=true, where a skipped PostgreSQL test is a failure.
//
// The cleanup is registered now, so it runs after cleanups registered later (servers using the
// schema stop first).
func PostgresURL(t testing.TB, prefix string) string {
	t.Helper()
	base := os.Getenv("VIGIL_TEST_POSTGRES_URL")
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("VIGIL_TEST_POSTGRES_URL is not set, and under CI=true a skipped PostgreSQL test is a failure")
		}
		t.Skip("VIGIL_TEST_POSTGRES_URL not set")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	schema := fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			c.Close(context.Background())
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}
