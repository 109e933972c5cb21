package main

import (
	"flag"
	"fmt"
	"net/mail"
	"strings"

	"github.com/vigilhq/vigil/server/alert"
	"github.com/vigilhq/vigil/server/app"
)

// addAlertFlags adds --smtp-url, --smtp-from, the repeatable --alert-email, --alert-retention and
// --audit-retention (applied by the alerting leader).
func addAlertFlags(fs *flag.FlagSet, cfg *app.Config) {
	fs.StringVar(&cfg.SMTPURL, "smtp-url", "", "SMTP server for alert emails: smtp://host:25 (plain, local relay), smtp+starttls://user:pass@host:587 or smtps://user:pass@host:465; empty queues emails without sending (prefer VIGIL_SMTP_URL: flags show in process lists)")
	fs.StringVar(&cfg.SMTPFrom, "smtp-from", "", "From address of alert emails (default vigil@<public host>)")
	fs.Var((*emailList)(&cfg.AlertEmails), "alert-email", "default recipient of alert emails; repeat the flag for more (VIGIL_ALERT_EMAIL: comma-separated); groups add their own")
	fs.DurationVar(&cfg.AlertRetention, "alert-retention", alert.DefaultRetention, "how long resolved alerts and sent alert emails are kept (at least 1h); open alerts and unsent emails are kept whatever their age")
	fs.DurationVar(&cfg.AuditRetention, "audit-retention", alert.DefaultAuditRetention, "how long audit entries are kept (at least 1h); the leader deletes older ones hourly")
}

// emailList is a repeatable flag of plain email addresses; one value may hold several,
// comma-separated (as VIGIL_ALERT_EMAIL does).
type emailList []string

func (l *emailList) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

func (l *emailList) Set(v string) error {
	for _, a := range strings.Split(v, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if _, err := mail.ParseAddress(a); err != nil || strings.ContainsAny(a, "<> ") {
			return fmt.Errorf("%q is not a plain email address", a)
		}
		*l = append(*l, a)
	}
	return nil
}
