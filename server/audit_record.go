package server

import (
	"context"
	"fmt"
)

// Authorize checks that p may perform an action that needs role (see Allowed), for features that
// live beside the Service, such as the release repository. The error wraps ErrForbidden.
func (s *Service) Authorize(p Principal, role string) error { return require(p, role) }

// RecordAudit writes an audit entry for a change p made outside the Service's own methods (the
// release repository). Callers record after the change succeeded.
func (s *Service) RecordAudit(ctx context.Context, p Principal, action, target, detail string) error {
	if err := s.store.AppendAudit(ctx, s.audit(p, action, target, detail)); err != nil {
		return fmt.Errorf("record audit entry: %w", s.storeErr("append_audit", err))
	}
	return nil
}
