package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// TestAbortedBodyIsClientError: a client that announces a body and closes its side after part
// of it gets a 400 (if it still listens), and the server logs it at INFO as the client's doing,
// never as a 500 at ERROR.
func TestAbortedBodyIsClientError(t *testing.T) {
	e := newBruteEnv(t)
	ctx := context.Background()
	tok, _, err := e.svc.CreateEnrollmentToken(ctx, server.Principal{Name: "t", Role: server.RoleAdmin}, "", time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	host, err := e.svc.Enroll(ctx, wire.EnrollRequest{EnrollmentToken: tok, Hostname: "h", OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, auth string }{
		{"/api/v1/enroll", ""},
		{"/api/v1/reports", host.Credential},
		{"/api/v1/groups", e.admin},
	} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n", c.path)
		if c.auth != "" {
			fmt.Fprintf(conn, "Authorization: Bearer %s\r\n", c.auth)
		}
		fmt.Fprint(conn, "\r\n{\"reports\": [")
		conn.(*net.TCPConn).CloseWrite()
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		resp.Body.Close()
		conn.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s with a cut-off body: %d, want 400", c.path, resp.StatusCode)
		}
	}
	logs := e.log.String()
	if strings.Contains(logs, "level=ERROR") {
		t.Errorf("an aborted body was logged as an error:\n%s", logs)
	}
	if n := strings.Count(logs, `level=INFO msg="Client did not send its whole request body."`); n != 3 {
		t.Errorf("%d aborted bodies logged at INFO, want 3:\n%s", n, logs)
	}
}
