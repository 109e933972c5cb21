package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Default dashboard session lifetimes (Config.SessionIdle, Config.SessionMax).
const (
	DefaultSessionIdle = time.Hour
	DefaultSessionMax  = 12 * time.Hour

	// sessionTouchEvery limits LastSeen writes to one per session per interval: a page view within
	// it costs a read only. The idle expiry is therefore exact to within this interval.
	sessionTouchEvery = time.Minute

	// BootstrapAdminName is the first admin user, made on a server's first start.
	BootstrapAdminName = "admin"
)

var userNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._@-]{0,63}$`)

// ValidUserName reports whether s is a valid user name: lower-case letters, digits, '.', '_', '@'
// and '-', starting with a letter or digit, at most 64 characters.
func ValidUserName(s string) bool { return userNameRE.MatchString(s) }

// covers reports whether a holder of role holder may hold (or hand out) role: admin covers all,
// every role covers viewer, and every role covers itself.
func covers(holder, role string) bool { return Allowed(Principal{Role: holder}, role) }

func userTarget(name string) string { return "user/" + name }

// BootstrapAdmin creates the first admin user, with a random password it returns once, when the
// store has no users. created is false (and the password empty) when users exist.
func (s *Service) BootstrapAdmin(ctx context.Context) (password string, created bool, err error) {
	us, err := s.store.ListUsers(ctx)
	if err != nil {
		return "", false, fmt.Errorf("list users: %w", s.storeErr("list_users", err))
	}
	if len(us) > 0 {
		return "", false, nil
	}
	var b [18]byte
	_, _ = rand.Read(b[:])
	password = base64.RawURLEncoding.EncodeToString(b[:])
	if _, err := s.createUser(ctx, Principal{Name: "bootstrap"}, BootstrapAdminName, RoleAdmin, password); err != nil {
		return "", false, err
	}
	return password, true, nil
}

// CreateUser adds a user with a role and a password. Admin only.
func (s *Service) CreateUser(ctx context.Context, p Principal, name, role, password string) (User, error) {
	if err := require(p, RoleAdmin); err != nil {
		return User{}, err
	}
	return s.createUser(ctx, p, name, role, password)
}

func (s *Service) createUser(ctx context.Context, p Principal, name, role, password string) (User, error) {
	if !ValidUserName(name) {
		return User{}, fmt.Errorf("%w: user name %q (lower-case letters, digits, . _ @ -; at most 64)", ErrInvalid, name)
	}
	if !ValidRole(role) {
		return User{}, fmt.Errorf("%w: role %q (admin, operator, release, viewer)", ErrInvalid, role)
	}
	if err := ValidatePassword(password); err != nil {
		return User{}, err
	}
	hash, err := s.pw.hash(ctx, password)
	if err != nil {
		return User{}, err
	}
	now := s.cfg.Now().UTC()
	u := User{ID: newID(), Name: name, Role: role, PasswordHash: hash, PasswordChangedAt: now, CreatedAt: now}
	if err := s.store.CreateUser(ctx, u, s.auditChange(p, "user.create", userTarget(name), "", "role="+role)); err != nil {
		return User{}, fmt.Errorf("create user %s: %w", name, s.storeErr("create_user", err))
	}
	return u, nil
}

// ListUsers lists users. Admin only.
func (s *Service) ListUsers(ctx context.Context, p Principal) ([]User, error) {
	if err := require(p, RoleAdmin); err != nil {
		return nil, err
	}
	return s.store.ListUsers(ctx)
}

func (s *Service) userByName(ctx context.Context, name string) (User, error) {
	u, err := s.store.UserByName(ctx, name)
	if err != nil {
		return User{}, fmt.Errorf("user %s: %w", name, s.storeErr("user_by_name", err))
	}
	return u, nil
}

// lastAdminErr explains a refusal to leave no admin.
func lastAdminErr(name string, err error) error {
	if errors.Is(err, ErrLastAdmin) {
		return fmt.Errorf("%w: %s is the last admin; make another user admin first: %w", ErrInvalid, name, ErrLastAdmin)
	}
	return err
}

// SetUserRole changes a user's role. Admin only; the last admin cannot be demoted. The user's API
// tokens above the new role stop working (Authenticate checks them against their owner).
func (s *Service) SetUserRole(ctx context.Context, p Principal, name, role string) (User, error) {
	if err := require(p, RoleAdmin); err != nil {
		return User{}, err
	}
	if !ValidRole(role) {
		return User{}, fmt.Errorf("%w: role %q (admin, operator, release, viewer)", ErrInvalid, role)
	}
	u, err := s.userByName(ctx, name)
	if err != nil {
		return User{}, err
	}
	if err := s.store.SetUserRole(ctx, u.ID, role, s.auditChange(p, "user.set_role", userTarget(name), "role="+u.Role, "role="+role)); err != nil {
		return User{}, fmt.Errorf("set role of %s: %w", name, lastAdminErr(name, s.storeErr("set_user_role", err)))
	}
	u.Role = role
	return u, nil
}

// SetPassword sets a user's password and ends all of the user's dashboard sessions. An admin may
// set anyone's; a user may set their own given the current password.
func (s *Service) SetPassword(ctx context.Context, p Principal, name, current, password string) error {
	u, err := s.userByName(ctx, name)
	if err != nil {
		if errors.Is(err, ErrNotFound) && !Allowed(p, RoleAdmin) {
			return fmt.Errorf("%w: only an admin may set another user's password", ErrForbidden)
		}
		return err
	}
	if !Allowed(p, RoleAdmin) {
		if p.UserID == "" || p.UserID != u.ID {
			return fmt.Errorf("%w: only an admin may set another user's password", ErrForbidden)
		}
		// The current password is checked under the sign-in limits: a stolen session or token
		// must not become a way to guess it.
		now := s.cfg.Now()
		if err := s.login.check(u.Name, p.Address, now); err != nil {
			return fmt.Errorf("%w: %w", ErrForbidden, err)
		}
		ok, err := s.pw.verify(ctx, u.PasswordHash, current)
		if err != nil {
			return fmt.Errorf("verify password of %s: %w", name, err)
		}
		if !ok {
			s.log.WarnContext(ctx, "Password change refused: the current password is wrong.", "user", u.Name, "address", p.Address)
			if locked := s.login.fail(u.Name, p.Address, now); locked != nil {
				return fmt.Errorf("%w: the current password is wrong; %w", ErrForbidden, locked)
			}
			return fmt.Errorf("%w: the current password is wrong", ErrForbidden)
		}
	}
	if err := ValidatePassword(password); err != nil {
		return err
	}
	hash, err := s.pw.hash(ctx, password)
	if err != nil {
		return err
	}
	now := s.cfg.Now().UTC()
	if err := s.store.SetUserPassword(ctx, u.ID, hash, now, s.auditChange(p, "user.password", userTarget(name),
		"changed "+u.PasswordChangedAt.Format(time.RFC3339), "changed "+now.Format(time.RFC3339)+"; all sessions ended")); err != nil {
		return fmt.Errorf("set password of %s: %w", name, s.storeErr("set_user_password", err))
	}
	s.login.succeed(u.Name) // a new password ends the account's lockout (the address's stays)
	return nil
}

// DeleteUser removes a user, ends its sessions and revokes its API tokens. Admin only; the last
// admin cannot be removed.
func (s *Service) DeleteUser(ctx context.Context, p Principal, name string) error {
	if err := require(p, RoleAdmin); err != nil {
		return err
	}
	u, err := s.userByName(ctx, name)
	if err != nil {
		return err
	}
	if err := s.store.DeleteUser(ctx, u.ID, s.auditChange(p, "user.delete", userTarget(name), "role="+u.Role, "deleted; sessions ended, tokens revoked")); err != nil {
		return fmt.Errorf("delete user %s: %w", name, lastAdminErr(name, s.storeErr("delete_user", err)))
	}
	return nil
}

// Login checks a user's password and starts a dashboard session, returning its secret ID (the
// cookie value; the store keeps only its hash). Failures are counted per account name and per
// address; past the limits Login answers a *LockedOutError (ErrLockedOut) without checking the
// password. A wrong name or password is ErrUnauthorized, the same for both.
func (s *Service) Login(ctx context.Context, name, password, address string) (string, Principal, error) {
	now := s.cfg.Now()
	if len(name) > 64 {
		name = name[:64]
	}
	if err := s.login.check(name, address, now); err != nil {
		s.log.WarnContext(ctx, "Sign-in refused while locked out.", "user", name, "address", address)
		return "", Principal{}, err
	}
	u, err := s.store.UserByName(ctx, name)
	hash := u.PasswordHash
	if errors.Is(err, ErrNotFound) {
		hash = s.pw.dummy()
	} else if err != nil {
		return "", Principal{}, fmt.Errorf("sign in: %w", s.storeErr("user_by_name", err))
	}
	ok, verr := s.pw.verify(ctx, hash, password)
	if verr != nil && !errors.Is(verr, errBadHash) {
		return "", Principal{}, fmt.Errorf("sign in: %w", verr)
	}
	if err != nil || !ok {
		s.log.WarnContext(ctx, "Sign-in failed.", "user", name, "address", address)
		if locked := s.login.fail(name, address, now); locked != nil {
			s.log.WarnContext(ctx, "Sign-in locked out.", "user", name, "address", address, "err", locked)
			a := AuditFor(Principal{Name: "sign-in", Address: address}, now, "user.lockout", userTarget(name), locked.Error())
			if err := s.store.AppendAudit(ctx, a); err != nil {
				s.log.WarnContext(ctx, "Recording a lockout in the audit log failed.", logKeyErr, s.storeErr("append_audit", err))
			}
			return "", Principal{}, fmt.Errorf("%w: %w", ErrUnauthorized, locked)
		}
		return "", Principal{}, ErrUnauthorized
	}
	s.login.succeed(name)
	if _, err := s.store.DeleteStaleSessions(ctx, now.Add(-s.cfg.SessionIdle), now.Add(-s.cfg.SessionMax)); err != nil {
		s.log.WarnContext(ctx, "Deleting stale sessions failed.", logKeyErr, s.storeErr("delete_stale_sessions", err))
	}
	id := newSecret(prefixSession)
	if err := s.store.CreateSession(ctx, Session{IDHash: HashSecret(id), UserID: u.ID, CreatedAt: now.UTC(), LastSeen: now.UTC(), Address: address}); err != nil {
		return "", Principal{}, fmt.Errorf("start session: %w", s.storeErr("create_session", err))
	}
	s.log.InfoContext(ctx, "Signed in.", "user", name, "address", address)
	p := Principal{Name: u.Name, Role: u.Role, UserID: u.ID, User: u.Name, Address: address}
	if err := s.store.AppendAudit(ctx, AuditFor(p, now, "user.login", userTarget(name), "")); err != nil {
		s.log.WarnContext(ctx, "Recording a sign-in in the audit log failed.", logKeyErr, s.storeErr("append_audit", err))
	}
	return id, p, nil
}

// AuthenticateSession resolves a dashboard session ID to its user, and counts the request as a
// use of the session (its idle expiry moves on). A session unused for SessionIdle, older than
// SessionMax, ended by logout or a password change, or of a deleted user is ErrUnauthorized.
func (s *Service) AuthenticateSession(ctx context.Context, id, address string) (Principal, error) {
	return s.authenticateSession(ctx, id, address, true)
}

// AuthenticateSessionRefresh is AuthenticateSession for a request a page makes by itself (the
// dashboard's live refresh of the fleet and groups tables), which is not a use of the session:
// the idle expiry does not move, so a tab left open ends its session SessionIdle after the
// person last did something, not never.
func (s *Service) AuthenticateSessionRefresh(ctx context.Context, id, address string) (Principal, error) {
	return s.authenticateSession(ctx, id, address, false)
}

func (s *Service) authenticateSession(ctx context.Context, id, address string, use bool) (Principal, error) {
	if len(id) > 128 || len(id) < len(prefixSession) || id[:len(prefixSession)] != prefixSession {
		return Principal{}, ErrUnauthorized
	}
	hash := HashSecret(id)
	ss, err := s.store.SessionByHash(ctx, hash)
	if errors.Is(err, ErrNotFound) {
		return Principal{}, ErrUnauthorized
	}
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate session: %w", s.storeErr("session_by_hash", err))
	}
	now := s.cfg.Now()
	if !now.Before(ss.LastSeen.Add(s.cfg.SessionIdle)) || !now.Before(ss.CreatedAt.Add(s.cfg.SessionMax)) {
		_ = s.store.DeleteSession(ctx, hash)
		return Principal{}, ErrUnauthorized
	}
	u, err := s.store.UserByID(ctx, ss.UserID)
	if errors.Is(err, ErrNotFound) {
		return Principal{}, ErrUnauthorized
	}
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate session: %w", s.storeErr("user_by_id", err))
	}
	if ss.CreatedAt.Before(u.PasswordChangedAt) {
		// Started with the old password: a sign-in that was checking the old password while it
		// was changed inserts its session after the change deleted the others.
		_ = s.store.DeleteSession(ctx, hash)
		return Principal{}, ErrUnauthorized
	}
	if use && now.Sub(ss.LastSeen) >= sessionTouchEvery {
		if err := s.store.TouchSession(ctx, hash, now.UTC()); err != nil {
			s.log.WarnContext(ctx, "Recording session use failed.", logKeyErr, s.storeErr("touch_session", err))
		}
	}
	return Principal{Name: u.Name, Role: u.Role, UserID: u.ID, User: u.Name, Address: address}, nil
}

// Logout ends a dashboard session. Unknown sessions are ignored.
func (s *Service) Logout(ctx context.Context, id string) error {
	if err := s.store.DeleteSession(ctx, HashSecret(id)); err != nil {
		return fmt.Errorf("sign out: %w", s.storeErr("delete_session", err))
	}
	return nil
}
