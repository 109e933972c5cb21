package server

import "context"

// PollCredentials runs one poll of the store's host credential generation, as the loop Start
// runs does every RevocationPoll, so tests can take the poll's place deterministically. It
// reports false if the store has no credential generation to poll.
func (s *Service) PollCredentials(ctx context.Context) bool {
	cg, ok := s.store.(credentialGenerations)
	if ok {
		s.pollCredentials(ctx, cg)
	}
	return ok
}
