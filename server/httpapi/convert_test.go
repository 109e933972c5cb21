package httpapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/release"
	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/alert"
	"github.com/vigilhq/vigil/server/tufrepo"
)

// fill sets every exported field reachable from v (a pointer) to a non-zero value derived from
// its name, so a field the contract forgot shows up as a difference in the JSON. Maps are left
// alone (go-tuf's unrecognized fields) and so are unexported fields.
func fill(v reflect.Value, name string, depth int) {
	switch v.Kind() {
	case reflect.Pointer:
		if depth > 6 {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		fill(v.Elem(), name, depth+1)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 1, 2, 3, 4, 5, 6000+len(name), time.UTC)))
			return
		}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if f.IsExported() {
				fill(v.Field(i), name+"."+f.Name, depth+1)
			}
		}
	case reflect.Slice:
		if depth > 6 {
			return
		}
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(s.Index(i), name, depth+1)
		}
		v.Set(s)
	case reflect.String:
		v.SetString("s-" + name)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(7 + len(name)%50))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(9 + len(name)%50))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5)
	}
}

func filled[T any]() T {
	var v T
	fill(reflect.ValueOf(&v), "", 0)
	return v
}

// sameJSON fails unless domain and contract encode to the same bytes, as writeJSON writes them.
func sameJSON(t *testing.T, what string, domain, contract any) {
	t.Helper()
	enc := func(v any) []byte {
		var b bytes.Buffer
		e := json.NewEncoder(&b)
		e.SetIndent("", "  ")
		if err := e.Encode(v); err != nil {
			t.Fatalf("%s: encode %T: %v", what, v, err)
		}
		return b.Bytes()
	}
	if d, c := enc(domain), enc(contract); !bytes.Equal(d, c) {
		t.Errorf("%s: the contract's JSON differs from the domain's\ndomain:   %s\ncontract: %s", what, d, c)
	}
}

// checkOut compares a filled and a zero domain value with their conversion.
func checkOut[D, A any](t *testing.T, f func(D) A) {
	t.Helper()
	var zero D
	name := reflect.TypeFor[D]().String()
	sameJSON(t, name+" (filled)", filled[D](), f(filled[D]()))
	sameJSON(t, name+" (zero)", zero, f(zero))
}

// TestContractMatchesDomainJSON: every answer's JSON is byte for byte what the domain type
// encoded to before the contract existed (field names, order, omitempty), including fields that
// nobody set yet, so a field added to a domain type but not to the contract fails here.
func TestContractMatchesDomainJSON(t *testing.T) {
	checkOut(t, hostOut)
	checkOut(t, updateEventOut)
	checkOut(t, groupOut)
	checkOut(t, pinOut)
	checkOut(t, enrollmentTokenOut)
	checkOut(t, apiTokenOut)
	checkOut(t, auditOut)
	checkOut(t, userOut)
	checkOut(t, ruleOut)
	checkOut(t, alertOut)
	checkOut(t, alertEventOut)
	checkOut(t, silenceOut)
	checkOut(t, notificationOut)
	checkOut(t, repoStatusOut)
	checkOut(t, roleStatusOut)
	checkOut(t, artifactInfoOut)
	checkOut(t, releaseOut)
	checkOut(t, artifactOut)
	checkOut(t, draftOut)
	checkOut(t, signatureReportOut)
	checkOut(t, targetsDiffOut)
	checkOut(t, targetChangeOut)
	checkOut(t, onlineKeysOut)

	// Answers that embed a domain value.
	tok, etok := filled[server.APIToken](), filled[server.EnrollmentToken]()
	sameJSON(t, "create token", struct {
		Token string `json:"token"`
		server.APIToken
	}{"secret", tok}, api.CreateTokenResponse{Token: "secret", APIToken: apiTokenOut(tok)})
	sameJSON(t, "create enrollment token", struct {
		Token string `json:"token"`
		server.EnrollmentToken
	}{"secret", etok}, api.CreateEnrollmentTokenResponse{Token: "secret", EnrollmentToken: enrollmentTokenOut(etok)})

	// A real key, as the server generates them.
	k := &metadata.Key{Type: "ed25519", Scheme: "ed25519", Value: metadata.KeyVal{PublicKey: "ab01"}}
	sameJSON(t, "online keys", tufrepo.OnlineKeys{Snapshot: []*metadata.Key{k}, Timestamp: []*metadata.Key{k, k}},
		onlineKeysOut(tufrepo.OnlineKeys{Snapshot: []*metadata.Key{k}, Timestamp: []*metadata.Key{k, k}}))
	// Lists the handlers send as [] when empty stay [], not null.
	sameJSON(t, "empty status", release.Status{Roles: []release.RoleStatus{}, Drafts: []string{}},
		repoStatusOut(release.Status{Roles: []release.RoleStatus{}, Drafts: []string{}}))
}

// TestRequestsConvertBack: bodies decoded into the contract reach the domain unchanged.
func TestRequestsConvertBack(t *testing.T) {
	rule := filled[alert.Rule]()
	rule.For = alert.Duration(90 * time.Second)
	b, err := json.Marshal(rule)
	if err != nil {
		t.Fatal(err)
	}
	var in api.Rule
	if err := json.Unmarshal(b, &in); err != nil {
		t.Fatal(err)
	}
	if got := ruleIn(in); !reflect.DeepEqual(got, rule) {
		t.Errorf("rule round trip:\n got %+v\nwant %+v", got, rule)
	}
	pin := filled[server.Pin]()
	if got := pinIn(pinOut(pin)); got != pin {
		t.Errorf("pin round trip: %+v, want %+v", got, pin)
	}
	art := filled[release.ArtifactInfo]()
	if got := artifactInfoIn(artifactInfoOut(art)); got != art {
		t.Errorf("artifact round trip: %+v, want %+v", got, art)
	}
}

// TestContractConstants: the contract's constants are the server's.
func TestContractConstants(t *testing.T) {
	pairs := [][2]any{
		{api.DefaultGroup, server.DefaultGroup},
		{api.RoleAdmin, server.RoleAdmin}, {api.RoleOperator, server.RoleOperator},
		{api.RoleRelease, server.RoleRelease}, {api.RoleViewer, server.RoleViewer},
		{api.KindSilence, alert.KindSilence}, {api.KindCPU, alert.KindCPU}, {api.KindMemory, alert.KindMemory},
		{api.KindDisk, alert.KindDisk}, {api.KindLoad, alert.KindLoad}, {api.KindProcess, alert.KindProcess},
		{api.KindUnit, alert.KindUnit},
		{api.StatePending, alert.StatePending}, {api.StateFiring, alert.StateFiring}, {api.StateResolved, alert.StateResolved},
		{api.ReasonNetwork, alert.ReasonNetwork}, {api.ReasonReboot, alert.ReasonReboot}, {api.ReasonUnknown, alert.ReasonUnknown},
		{api.NotifyQueued, alert.NotifyQueued}, {api.NotifyRetrying, alert.NotifyRetrying},
		{api.NotifySent, alert.NotifySent}, {api.NotifySkipped, alert.NotifySkipped},
		{int64(api.MaxArtifactUpload), int64(release.MaxArtifactSize)},
		{string(release.Added), "added"}, {string(release.Removed), "removed"}, {string(release.Modified), "modified"},
	}
	for _, p := range pairs {
		if p[0] != p[1] {
			t.Errorf("contract has %v, server %v", p[0], p[1])
		}
	}
}
