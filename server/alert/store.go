package alert

import (
	"context"
	"fmt"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// Store is the persistence alerting needs, beside server.Store. sqlitestore and pgstore
// implement it, and server/storetest checks both.
//
// All methods are safe for concurrent use. Not-found conditions wrap server.ErrNotFound, unique
// violations and lost optimistic updates server.ErrConflict. Methods that change operator
// settings (rules, silences) commit their AuditEntry in the same transaction.
type Store interface {
	// ListHostStates returns every host that is not revoked and has reported at least once.
	ListHostStates(ctx context.Context) ([]HostState, error)
	// HostStates returns the named hosts (revoked ones too, with Revoked set); unknown IDs are
	// left out.
	HostStates(ctx context.Context, ids []string) ([]HostState, error)
	// HostFigures calls fn with the rule figures of the latest report (written by CommitReports
	// with it, see Figures) of each named host that has them. The figures' byte slices are valid
	// only during the call.
	HostFigures(ctx context.Context, ids []string, fn func(HostFigures) error) error
	// ListGroups and ListOutages are server.Store's.
	ListGroups(ctx context.Context) ([]server.Group, error)
	ListOutages(ctx context.Context, hostID string, since time.Time) ([]wire.Outage, error)

	// CreateRule stores a rule (ErrConflict if its ID exists).
	CreateRule(ctx context.Context, r Rule, audit server.AuditEntry) error
	// ListRules returns all rules ordered by ID.
	ListRules(ctx context.Context) ([]Rule, error)
	// DeleteRule deletes a rule (ErrNotFound if missing). Its open alerts stay and resolve.
	DeleteRule(ctx context.Context, id string, audit server.AuditEntry) error

	// CreateSilence stores a maintenance silence (ErrConflict if its ID exists).
	CreateSilence(ctx context.Context, s Silence, audit server.AuditEntry) error
	// ListSilences returns the silences that end after since, ordered by start.
	ListSilences(ctx context.Context, since time.Time) ([]Silence, error)
	// DeleteSilence deletes a silence (ErrNotFound if missing).
	DeleteSilence(ctx context.Context, id string, audit server.AuditEntry) error

	// SaveAlert stores a state change of a, the event that describes it and the notifications it
	// causes, in one transaction. A new alert (ID 0) is inserted and gets its ID; ErrConflict
	// if another open alert has its Key. An existing one is updated only if its stored Version
	// is still a.Version (else ErrConflict, nothing written). On success a.Version is incremented
	// and a.UpdatedAt set to ev.Time. Notifications whose Key is already in the outbox are
	// skipped, never queued twice.
	SaveAlert(ctx context.Context, a *Alert, ev AlertEvent, notes []Notification) error
	// OpenAlerts returns the pending and firing alerts, by ID.
	OpenAlerts(ctx context.Context) ([]Alert, error)
	// ListAlerts returns alerts newest first (by ID): only open ones when openOnly, only of
	// hostID when set, at most limit, with ID < before when before > 0.
	ListAlerts(ctx context.Context, f AlertFilter) ([]Alert, error)
	// GetAlert returns one alert with its history, oldest first.
	GetAlert(ctx context.Context, id int64) (Alert, error)
	// AckAlert records that ack.By acknowledged open alert id at ack.At, with an event in its
	// history and audit, in one transaction. It leaves the alert's Version alone: the engine
	// owns the alert's state and keeps saving it. ErrNotFound if there is no such alert;
	// ErrConflict (wrapping ErrAlertResolved or ErrAlreadyAcked) if it is resolved or was
	// acknowledged already.
	AckAlert(ctx context.Context, id int64, ack Ack, audit server.AuditEntry) error
	// OpenAlertAcks returns the acknowledgements of the open alerts, by alert ID.
	OpenAlertAcks(ctx context.Context) (map[int64]Ack, error)

	// ClaimNotifications claims up to limit unsent notifications due at now (NextAttempt <= now)
	// whose previous claim expired, for owner until now+lease, incrementing their Attempts. The
	// claim is a conditional UPDATE: of concurrent claimers, each row goes to at most one.
	ClaimNotifications(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Notification, error)
	// FinishNotification records the outcome (NotifySent or NotifySkipped) of a notification
	// owner holds the claim of; ErrConflict if the claim is no longer owner's.
	FinishNotification(ctx context.Context, id int64, owner, outcome string, at time.Time, note string) error
	// RetryNotification releases owner's claim after a failed attempt, to be retried at next.
	RetryNotification(ctx context.Context, id int64, owner string, next time.Time, lastErr string) error
	// ListNotifications returns notifications newest first, at most limit, with ID < before
	// when before > 0.
	ListNotifications(ctx context.Context, limit int, before int64) ([]Notification, error)
	// CountUnsent returns how many notifications wait in the outbox (queued or retrying).
	CountUnsent(ctx context.Context) (int64, error)
	// PruneAlerts deletes, in one transaction, the alerts that resolved before before (their
	// last change, the resolution, is older) with their history, and the notifications whose
	// outcome (sent or skipped) was recorded before before. Open alerts and unsent
	// notifications stay, whatever their age. It returns how many alerts and notifications it
	// deleted; a zero before is refused (ErrInvalid).
	PruneAlerts(ctx context.Context, before time.Time) (alerts, notifications int64, err error)
}

// Errors of Store.AckAlert; both wrap server.ErrConflict.
var (
	ErrAlertResolved = fmt.Errorf("%w: the alert is resolved", server.ErrConflict)
	ErrAlreadyAcked  = fmt.Errorf("%w: the alert is already acknowledged", server.ErrConflict)
)

// AlertFilter selects alerts for ListAlerts.
type AlertFilter struct {
	OpenOnly bool
	HostID   string
	Limit    int
	Before   int64
}
