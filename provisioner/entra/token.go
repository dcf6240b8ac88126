package entra

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"golang.org/x/oauth2/clientcredentials"
)

// renewEarly is how long before its expiry a token is renewed (the
// oauth2 package's own margin): a request sent just before the expiry
// must not arrive just after it.
const renewEarly = 10 * time.Second

// maxLife bounds how long a token whose answer gave no expiry is kept.
const maxLife = 24 * time.Hour

// tokenSource keeps the app's access token until shortly before it
// expires, on the injected clock, and fetches the next one then — or at
// once when Graph refused it (refused), which a revoked token or a clock
// behind the tenant's causes.
type tokenSource struct {
	cc    *clientcredentials.Config
	ctx   context.Context // carries the token endpoint's HTTP client
	clock clockwork.Clock

	mu    sync.Mutex
	tok   string
	renew time.Time // when tok is renewed
}

func (s *tokenSource) token() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	if s.tok != "" && now.Before(s.renew) {
		return s.tok, nil
	}
	t, err := s.cc.Token(s.ctx) // a new client-credentials request
	if err != nil {
		return "", tokenError(err)
	}
	life := time.Duration(t.ExpiresIn) * time.Second
	if life <= 0 && !t.Expiry.IsZero() {
		life = time.Until(t.Expiry)
	}
	s.tok, s.renew = t.AccessToken, now.Add(life-min(renewEarly, life/2))
	if life <= 0 { // no expiry said: kept until Graph refuses it
		s.renew = now.Add(maxLife)
	}
	return s.tok, nil
}

// refused drops the token Graph answered 401 to, unless another caller
// renewed it already.
func (s *tokenSource) refused(header string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.TrimPrefix(header, "Bearer ") == s.tok {
		s.tok = ""
	}
}
