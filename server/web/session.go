package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// Session settings.
const (
	// CookieName is the name of the session cookie.
	CookieName = "valise_session"
	// SessionIdle is how long a session lives without a request.
	SessionIdle = 12 * time.Hour
	// MaxSessions bounds the sessions held in memory; past it, signing in
	// drops the session used least recently.
	MaxSessions = 10000
)

// session is one signed-in browser. It holds the hash of the API token,
// never the token, and the CSRF token its forms carry.
type session struct {
	tokenHash string
	csrf      string
	last      time.Time
}

// sessions maps the hash of each session id to its session. Sessions live
// in memory only: a restart signs everyone out.
type sessions struct {
	mu   sync.Mutex
	m    map[string]*session
	rand io.Reader
	now  func() time.Time
}

func newSessions(rand io.Reader, now func() time.Time) *sessions {
	return &sessions{m: map[string]*session{}, rand: rand, now: now}
}

// random returns n random bytes in unpadded base64url.
func (s *sessions) random(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func idKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// create starts a session for a token's hash and returns its id, the value
// of the cookie.
func (s *sessions) create(tokenHash string) (string, *session, error) {
	id, err := s.random(32)
	if err != nil {
		return "", nil, err
	}
	csrf, err := s.random(32)
	if err != nil {
		return "", nil, err
	}
	now := s.now()
	sess := &session{tokenHash: tokenHash, csrf: csrf, last: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(now)
	if len(s.m) >= MaxSessions {
		var oldest string
		for k, v := range s.m {
			if oldest == "" || v.last.Before(s.m[oldest].last) {
				oldest = k
			}
		}
		delete(s.m, oldest)
	}
	s.m[idKey(id)] = sess
	return id, sess, nil
}

// sweepLocked drops the sessions idle for too long.
func (s *sessions) sweepLocked(now time.Time) {
	for k, v := range s.m {
		if now.Sub(v.last) > SessionIdle {
			delete(s.m, k)
		}
	}
}

// get returns the live session of id and marks it used, or nil.
func (s *sessions) get(id string) *session {
	if id == "" || len(id) > 128 {
		return nil
	}
	k, now := idKey(id), s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.m[k]
	if sess == nil {
		return nil
	}
	if now.Sub(sess.last) > SessionIdle {
		delete(s.m, k)
		return nil
	}
	sess.last = now
	return &session{tokenHash: sess.tokenHash, csrf: sess.csrf, last: now}
}

// drop ends the session of id.
func (s *sessions) drop(id string) {
	if id == "" {
		return
	}
	s.mu.Lock()
	delete(s.m, idKey(id))
	s.mu.Unlock()
}

// validCSRF reports whether a form's CSRF token is the session's.
func validCSRF(sess *session, got string) bool {
	return sess != nil && got != "" && subtle.ConstantTimeCompare([]byte(sess.csrf), []byte(got)) == 1
}

// setCookie gives the browser its session cookie: HttpOnly, SameSite
// strict, Secure over HTTPS (or always, with secure), for the whole site,
// living as long as the browser (the server forgets idle sessions itself).
func setCookie(w http.ResponseWriter, r *http.Request, id string, secure bool) {
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: id, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure || r.TLS != nil,
	})
}

// clearCookie removes the session cookie.
func clearCookie(w http.ResponseWriter, r *http.Request, secure bool) {
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure || r.TLS != nil,
	})
}
