package wire

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// realisticBatch is what an agent sends: goodReport plus a report shaped like ingestbench's.
func realisticBatch(n int) ReportBatch {
	var b ReportBatch
	for i := range n {
		b.Reports = append(b.Reports, goodReport(uint64(i+1)))
	}
	return b
}

// checkAgrees decodes data with UnmarshalReportBatch and with the reflection decoder (the
// reference, encoding/json) and fails unless they agree: both refuse with the same error, or
// both accept the same value, which then validates alike.
func checkAgrees(t *testing.T, data []byte) {
	t.Helper()
	var want, got ReportBatch
	wantErr := Unmarshal(data, false, &want)
	_, fast := decodeReportBatchFast(data, new(ReportBatch))
	raw, gotErr := UnmarshalReportBatchRaw(data, &got)
	if (wantErr == nil) != (gotErr == nil) || wantErr != nil && wantErr.Error() != gotErr.Error() {
		t.Fatalf("input %q:\nencoding/json: %v\nUnmarshalReportBatch (fast path %v): %v", data, wantErr, fast, gotErr)
	}
	if fast && wantErr != nil {
		t.Fatalf("input %q: the fast path accepted what encoding/json refuses: %v", data, wantErr)
	}
	if wantErr != nil {
		return
	}
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("input %q (fast path %v):\nencoding/json: %#v\nUnmarshalReportBatch: %#v", data, fast, want, got)
	}
	if v1, v2 := want.Validate(), got.Validate(); (v1 == nil) != (v2 == nil) {
		t.Fatalf("input %q: Validate %v vs %v", data, v1, v2)
	}
	if raw != nil && len(raw) != len(got.Reports) {
		t.Fatalf("input %q: %d raw reports for %d reports", data, len(raw), len(got.Reports))
	}
	for i, r := range raw {
		if r == nil {
			continue
		}
		// Stored as it is: it must be valid UTF-8 without escapes (PostgreSQL's json type refuses
		// invalid UTF-8; escaped strings are encoded again).
		if !utf8.Valid(r) || bytes.IndexByte(r, '\\') >= 0 {
			t.Fatalf("input %q: raw report %d %q is not plain UTF-8", data, i, r)
		}
		// What would be stored decodes to exactly the report that was validated.
		var again Report
		if err := Unmarshal(r, false, &again); err != nil || !reflect.DeepEqual(again, got.Reports[i]) {
			t.Fatalf("input %q: raw report %d %q decodes to %#v (%v), want %#v", data, i, r, again, err, got.Reports[i])
		}
	}
}

// TestUnmarshalReportBatchFastPath: what agents send is decoded without reflection, to the same
// value as encoding/json's.
func TestUnmarshalReportBatchFastPath(t *testing.T) {
	b := realisticBatch(3)
	b.Reports[1].Checks[0].Message = `status 503 <html> & "quoted" é ✓` // escapes (HTML-safe encoding) and UTF-8
	b.Reports[2].Mounts = []Mount{}                                     // empty, not absent
	for _, indent := range []bool{false, true} {
		var data []byte
		if indent {
			data, _ = json.MarshalIndent(b, " ", "\t")
		} else {
			data, _ = json.Marshal(b)
		}
		raw, ok := decodeReportBatchFast(data, new(ReportBatch))
		if !ok {
			t.Fatalf("the fast path gave up on an agent's batch: %s", data)
		}
		for i, r := range raw {
			// Report 1's message has escapes: it is encoded again; the others are kept as sent.
			if (r == nil) != (i == 1) {
				t.Fatalf("report %d: raw JSON %q", i, r)
			}
		}
		checkAgrees(t, data)
	}
}

// TestUnmarshalReportBatchAgrees covers the inputs where encoding/json has its own rules; each
// must come out as encoding/json decides, through the fallback.
func TestUnmarshalReportBatchAgrees(t *testing.T) {
	const tm = `"2026-11-21T12:00:00Z"`
	for _, in := range []string{
		``, ` `, `null`, `[]`, `{}`, `{"reports":null}`, `{"reports":[]}`, `{"reports":[{}]}`,
		`{"reports":[{"seq":1,"time":` + tm + `}]}`,
		`{"reports":[{"seq":1,"time":` + tm + `}]} `,
		`{"reports":[{"seq":1,"time":` + tm + `}]} x`,
		`{"reports":[{"seq":1,"time":` + tm + `}]}{}`,
		`{"reports":[{"seq":1,"seq":2,"time":` + tm + `}]}`,                                // duplicate: last wins
		`{"reports":[{"SEQ":1,"time":` + tm + `}]}`,                                        // case-insensitive key
		`{"reports":[{"ſeq":1,"time":` + tm + `}]}`,                                        // Unicode folding (ſ → s)
		`{"reports":[{"s\u0065q":1,"time":` + tm + `}]}`,                                   // escaped key
		`{"reports":[{"seq":1,"time":` + tm + `,"cpu":null}]}`,                             // null
		`{"reports":[{"seq":1,"time":` + tm + `,"cpu":{"cores":1},"cpu":{"busy_pct":2}}]}`, // merged duplicate
		`{"reports":[{"seq":1.0,"time":` + tm + `}]}`,
		`{"reports":[{"seq":1e2,"time":` + tm + `}]}`,
		`{"reports":[{"seq":-1,"time":` + tm + `}]}`,
		`{"reports":[{"seq":18446744073709551616,"time":` + tm + `}]}`,
		`{"reports":[{"seq":01,"time":` + tm + `}]}`,
		`{"reports":[{"seq":"1","time":` + tm + `}]}`,
		`{"reports":[{"seq":1,"time":"2026-11-21 12:00:00"}]}`,
		`{"reports":[{"seq":1,"time":"2026-11-21T12:00:00\u005a"}]}`,
		`{"reports":[{"seq":1,"time":` + tm + `,"units":[{"name":"a","n_restarts":4294967296}]}]}`,
		`{"reports":[{"seq":1,"time":` + tm + `,"cpu":{"busy_pct":1e999}}]}`,
		`{"reports":[{"seq":1,"time":` + tm + `,"cpu":{"busy_pct":-0}}]}`,
		`{"reports":[{"seq":1,"time":` + tm + `,"agent_version":"a\u0000b"}]}`,
		"{\"reports\":[{\"seq\":1,\"time\":" + tm + ",\"agent_version\":\"a\xffb\"}]}", // invalid UTF-8: replaced
		"{\"reports\":[{\"seq\":1,\"time\":" + tm + ",\"agent_version\":\"a\tb\"}]}",   // control character
		`{"reports":[{"seq":1,"time":` + tm + `,"agent_version":"a\qb"}]}`,
		`{"reports":[{"seq":1,"time":` + tm + `,"future":{"a":[1,2,{"b":null}],"c":"\n"}}]}`, // unknown: ignored
		`{"reports":[{"seq":1,"time":` + tm + `},{"seq":2,"time":` + tm + `,"future":1},{"seq":3,"time":` + tm + `}]}`,
		`{"reports":[{"seq":1,"time":` + tm + `,"future":[1,]}]}`,
		`{"reports":[{"seq":1,"time":` + tm + `,"future":tru}]}`,
		`{"reports":[{"seq":1,"time":` + tm + `,}]}`,
		`{"reports":[{"seq":1,"time":` + tm + `}],}`,
		`{"reports":[{"seq":1,"time":` + tm + `},]}`,
		`{"reports":[{"seq":1 "time":` + tm + `}]}`,
		`{"reports":[{"seq":1,"time":` + tm + `,"checks":[{"name":"a","ok":1}]}]}`,
		`{"reports":[{"seq":1,"time":` + tm + `,"future":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}]}`,
		`{"reports":[{"seq":1,"time":` + tm + `,"future":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}]}`,
		"\xef\xbb\xbf{}",
	} {
		checkAgrees(t, []byte(in))
	}
}

// FuzzUnmarshalReportBatch checks on every input that UnmarshalReportBatch and encoding/json
// agree: accept or refuse alike, with the same error and the same value.
func FuzzUnmarshalReportBatch(f *testing.F) {
	seed, _ := json.Marshal(realisticBatch(2))
	f.Add(seed)
	f.Add([]byte(`{"reports":[{"seq":1,"time":"2026-01-01T00:00:00Z","x":[{"y":"\u00e9"}]}]}`))
	f.Add([]byte(`{"reports":[{"seq":1,"Time":"2026-01-01T00:00:00Z","cpu":{"cores":1,"cores":2}}]}`))
	f.Add([]byte(`{"reports":[{"seq":1,"time":"2026-01-01T00:00:00+01:00","cpu":null,"mounts":[]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) { checkAgrees(t, data) })
}

func benchBatch(b *testing.B) []byte {
	r := goodReport(1)
	r.Time = time.Now().UTC()
	data, err := json.Marshal(ReportBatch{Reports: []Report{r}})
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// BenchmarkDecodeReport compares one agent report through encoding/json (the reference) and
// through UnmarshalReportBatch; run with -benchmem.
func BenchmarkDecodeReport(b *testing.B) {
	data := benchBatch(b)
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			var v ReportBatch
			if err := Unmarshal(data, false, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hand", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			var v ReportBatch
			if err := UnmarshalReportBatch(data, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzUnmarshalReport: UnmarshalReport agrees with encoding/json on every input.
func FuzzUnmarshalReport(f *testing.F) {
	one, _ := json.Marshal(goodReport(1))
	f.Add(one)
	f.Add([]byte(`{"seq":1,"SEQ":2,"cpu":null}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var want, got Report
		wantErr := Unmarshal(data, false, &want)
		fast := decodeReportFast(data, new(Report))
		gotErr := UnmarshalReport(data, &got)
		if (wantErr == nil) != (gotErr == nil) || wantErr != nil && wantErr.Error() != gotErr.Error() {
			t.Fatalf("input %q: encoding/json %v, UnmarshalReport (fast %v) %v", data, wantErr, fast, gotErr)
		}
		if fast && wantErr != nil {
			t.Fatalf("input %q: fast path accepted what encoding/json refuses: %v", data, wantErr)
		}
		if wantErr == nil && !reflect.DeepEqual(want, got) {
			t.Fatalf("input %q:\nencoding/json %#v\nUnmarshalReport %#v", data, want, got)
		}
	})
}

func TestUnmarshalReportFastPath(t *testing.T) {
	data, _ := json.Marshal(goodReport(1))
	if !decodeReportFast(data, new(Report)) {
		t.Fatalf("the fast path gave up on a stored report: %s", data)
	}
}
