package api

import "context"

// Who returns the user a token is good for, by the rule every API request
// is checked with (signature, expiry, the user in service and its token
// generation): the web pages keep the API's token in their session cookie.
func (s *Server) Who(ctx context.Context, token string) (id int64, username, role string, err error) {
	p, err := s.verify(ctx, token)
	return p.ID, p.User, p.Role, err
}
