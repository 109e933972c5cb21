package app_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/vigilhq/vigil/server/storetest"
	"github.com/vigilhq/vigil/wire"
)

// TestRawReportsStoredSafely: reports are stored as the JSON the host sent when it is plain,
// and encoded again when a string needed encoding/json's repair (invalid UTF-8, replaced by
// U+FFFD) or unescaping: such a report is stored, and does not fail the commit it shares with
// other hosts' reports (PostgreSQL's json type refuses invalid UTF-8).
func TestRawReportsStoredSafely(t *testing.T) {
	for _, st := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "" }},
		{"postgres", func(t *testing.T) string { return storetest.PostgresURL(t, "apptest") }},
	} {
		t.Run(st.name, func(t *testing.T) {
			s := startServer(t, st.url(t))
			host := s.enroll(t, "raw-1")
			body, err := json.Marshal(wire.ReportBatch{Reports: []wire.Report{report(1, 10), report(2, 20), report(3, 30)}})
			if err != nil {
				t.Fatal(err)
			}
			// Report 2's agent version with an invalid byte, report 3's with an escape.
			body = bytes.Replace(body, []byte(`"seq":2,`), []byte("\"seq\":2,\"updater_version\":\"0.9\xff\","), 1)
			body = bytes.Replace(body, []byte(`"seq":3,`), []byte(`"seq":3,"updater_version":"1.0\u002b1",`), 1)
			for _, gz := range []bool{false, true} {
				if gz {
					host = s.enroll(t, "raw-2")
				}
				status, out := s.postRaw(t, "/api/v1/reports", host.Credential, body, gz)
				if status != http.StatusOK {
					t.Fatalf("gzip %v: %d %s", gz, status, out)
				}
				var ack wire.Ack
				if err := json.Unmarshal(out, &ack); err != nil || ack.AckedSeq != 3 {
					t.Fatalf("gzip %v: ack %s, %v", gz, out, err)
				}
				var h struct {
					Latest *wire.Report `json:"latest"`
				}
				if err := s.admin.Do(t.Context(), http.MethodGet, "/api/v1/hosts/"+host.HostID, nil, &h); err != nil {
					t.Fatal(err)
				}
				if h.Latest == nil || h.Latest.Seq != 3 || h.Latest.UpdaterVersion != "1.0+1" || h.Latest.CPU.BusyPct != 30 {
					t.Fatalf("gzip %v: latest report %+v", gz, h.Latest)
				}
			}
		})
	}
}
