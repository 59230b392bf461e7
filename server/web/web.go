// Package web is the Valise dashboard: server-rendered HTML pages, in
// French, for logistics staff at the office and médiateurs on a phone over
// weak 4G. Pages are small (one CSS file, no font, no image, no script),
// gzip'd when the browser takes it, and work on a narrow screen.
//
// People sign in with their API token (the same "vat_…" token the CLI
// uses). The server then keeps, in memory, a session that maps a random id
// (the cookie: HttpOnly, SameSite=Strict, Secure over HTTPS) to the hash
// of the token, never the token itself. Every request checks that hash
// again with the fleet, so a disabled user is out at once. Sessions end
// after SessionIdle without a request, at sign-out, or when the server
// restarts. Every form that changes something carries a CSRF token tied
// to the session; a POST without it, or with another, is refused with 403
// and changes nothing.
//
// Routes:
//
//	GET  /login, POST /login, POST /logout
//	GET  /                       tableau de bord
//	GET  /kits, /kits/{ref}      kits; a kit's page has the checkout and check-in forms
//	POST /kits/{ref}/checkout    médiateur, logistics
//	POST /kits/{ref}/checkin     médiateur (their own loan), logistics
//	GET  /loans                  open loans, overdue first (a médiateur: their own)
//	GET  /devices, /devices/{ref}
//	GET  /venues
//	GET  /static/style.css
//
// The fleet decides who may do what; the pages only hide the forms a role
// may not use.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/fleet"
	"github.com/valise-numerique/valise/server/store"
)

//go:embed templates/*.html static/style.css
var files embed.FS

// Telemetry is what the dashboard reads of devices' reports.
type Telemetry interface {
	// Summary returns what a device last said of itself, or an error
	// wrapping store.ErrNotFound when it never reported.
	Summary(device string) (store.Summary, error)
	// Latest returns the newest body of a kind of report, or an error
	// wrapping store.ErrNotFound.
	Latest(device string, kind wire.Channel) (body []byte, at time.Time, err error)
}

// Config configures the dashboard.
type Config struct {
	// Fleet is the domain. Required.
	Fleet *fleet.Fleet
	// Telemetry reads devices' reports. Required.
	Telemetry Telemetry
	// Location is the time zone of the dates shown; Europe/Paris by
	// default.
	Location *time.Location
	// SecureCookies marks the session cookie Secure even on requests
	// that reach this server in plain HTTP: for a dashboard whose public
	// URL is https:// behind a reverse proxy that ends TLS.
	SecureCookies bool
	// Logger, Now and Rand default to a discarding logger, time.Now and
	// crypto/rand.
	Logger *slog.Logger
	Now    func() time.Time
	Rand   io.Reader
}

func (c *Config) setDefaults() error {
	if c.Location == nil {
		loc, err := time.LoadLocation("Europe/Paris")
		if err != nil {
			return fmt.Errorf("web config: load Europe/Paris: %w", err)
		}
		c.Location = loc
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	return nil
}

// Validate reports the first bad field of c.
func (c Config) Validate() error {
	switch {
	case c.Fleet == nil:
		return errors.New("web config: Fleet is required")
	case c.Telemetry == nil:
		return errors.New("web config: Telemetry is required")
	}
	return nil
}

// Limits of forms and pages.
const (
	maxForm = 64 << 10
	// countPage is how many devices of a state the dashboard reads to
	// count them; past it, it shows "500+".
	countPage = 500
	// listPage is the length of the device and kit lists.
	listPage = 100
)

// Web serves the dashboard. It is an http.Handler, safe for concurrent use.
type Web struct {
	cfg      Config
	log      *slog.Logger
	mux      *http.ServeMux
	pages    map[string]*template.Template
	sessions *sessions
	css      []byte
	cssGz    []byte
	cssPath  string // /static/style.css?v=<hash>, so that it is cached for good
}

// New returns the dashboard's handler.
func New(cfg Config) (*Web, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w := &Web{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), sessions: newSessions(cfg.Rand, cfg.Now)}
	var err error
	if w.css, err = fs.ReadFile(files, "static/style.css"); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	sum := sha256.Sum256(w.css)
	w.cssPath = "/static/style.css?v=" + hex.EncodeToString(sum[:4])
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(w.css)
	zw.Close()
	w.cssGz = gz.Bytes()
	if err := w.parse(); err != nil {
		return nil, err
	}

	w.mux.HandleFunc("GET /login", w.loginPage)
	w.mux.HandleFunc("POST /login", w.login)
	w.mux.HandleFunc("POST /logout", w.signedIn(w.logout))
	w.mux.HandleFunc("GET /static/style.css", w.styleCSS)
	w.mux.HandleFunc("GET /{$}", w.signedIn(w.dashboard))
	w.mux.HandleFunc("GET /kits", w.signedIn(w.kits))
	w.mux.HandleFunc("GET /kits/{ref}", w.signedIn(w.kit))
	w.mux.HandleFunc("POST /kits/{ref}/checkout", w.signedIn(w.checkout))
	w.mux.HandleFunc("POST /kits/{ref}/checkin", w.signedIn(w.checkin))
	w.mux.HandleFunc("GET /loans", w.signedIn(w.loans))
	w.mux.HandleFunc("GET /devices", w.signedIn(w.devices))
	w.mux.HandleFunc("GET /devices/{ref}", w.signedIn(w.device))
	w.mux.HandleFunc("GET /venues", w.signedIn(w.venues))
	w.mux.HandleFunc("/", func(rw http.ResponseWriter, r *http.Request) {
		w.fail(rw, r, nil, fmt.Errorf("%w: no page %s", errNoPage, r.URL.Path))
	})
	return w, nil
}

// ServeHTTP implements http.Handler.
func (w *Web) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	h := rw.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	w.mux.ServeHTTP(rw, r)
}

func (w *Web) now() time.Time { return w.cfg.Now() }

// parse reads every page's template, each with the layout.
func (w *Web) parse() error {
	funcs := template.FuncMap{
		"day":       func(t time.Time) string { return frDay(t, w.now(), w.cfg.Location) },
		"moment":    func(t time.Time) string { return frMoment(t, w.now(), w.cfg.Location) },
		"ago":       func(t time.Time) string { return frAgo(t, w.now()) },
		"state":     frState,
		"kitState":  frKitState,
		"flag":      frFlag,
		"class":     frClass,
		"venueKind": frVenueKind,
		"role":      frRole,
		"action":    frAction,
		"actor":     frActor,
		"pct":       pct,
		"bytes":     bytesFR,
		"why":       func(d fleet.Device) string { return frWhy(d, w.now(), w.cfg.Location) },
		"kitWhy":    func(kd fleet.KitDevice) string { return kitWhy(kd, w.now(), w.cfg.Location) },
		"path":      url.PathEscape,
		"low":       func(v *float64, limit float64) bool { return v != nil && *v < limit },
		"shortfall": frShortfall,
		"num":       num,
		"yes":       func(b *bool) bool { return b != nil && *b },
		"change":    frChange,
	}
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return fmt.Errorf("web templates: %w", err)
	}
	w.pages = map[string]*template.Template{}
	for _, n := range names {
		if n == "templates/layout.html" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", n)
		if err != nil {
			return fmt.Errorf("web templates: %w", err)
		}
		w.pages[strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")] = t
	}
	return nil
}

// view is what every page's template gets.
type view struct {
	Title string
	// Nav names the menu entry of the page.
	Nav string
	// Who is the signed-in person; nil on the sign-in page.
	Who *fleet.Principal
	// CSRF goes in every form that changes something.
	CSRF string
	// Notice is a message of success; Problem one of failure.
	Notice  string
	Problem *problem
	CSSPath string
	Data    any
}

// problem is an error as a page shows it.
type problem struct {
	Status  int
	Message string
	Details []string
}

// render writes the page name with v, gzip'd when the browser takes it.
// The page is rendered whole before anything is sent, so a template
// error becomes a clean 500.
func (w *Web) render(rw http.ResponseWriter, r *http.Request, status int, name string, v view) {
	v.CSSPath = w.cssPath
	var buf bytes.Buffer
	t := w.pages[name]
	if t == nil {
		w.log.Error("no such page template", "page", name)
		http.Error(rw, "Erreur interne du serveur.", http.StatusInternalServerError)
		return
	}
	if err := t.Execute(&buf, v); err != nil {
		w.log.Error("render page", "page", name, "err", err)
		http.Error(rw, "Erreur interne du serveur.", http.StatusInternalServerError)
		return
	}
	h := rw.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Add("Vary", "Accept-Encoding")
	write(rw, r, status, buf.Bytes(), nil)
}

// write sends body, or gz (made from body when nil) to a browser that
// accepts gzip, when it is worth it.
func write(rw http.ResponseWriter, r *http.Request, status int, body, gz []byte) {
	if len(body) > 1024 && acceptsGzip(r) {
		if gz == nil {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(body)
			zw.Close()
			gz = buf.Bytes()
		}
		rw.Header().Set("Content-Encoding", "gzip")
		body = gz
	}
	rw.WriteHeader(status)
	rw.Write(body)
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

func (w *Web) styleCSS(rw http.ResponseWriter, r *http.Request) {
	h := rw.Header()
	h.Set("Content-Type", "text/css; charset=utf-8")
	h.Add("Vary", "Accept-Encoding")
	if r.URL.Query().Get("v") != "" {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=3600")
	}
	write(rw, r, http.StatusOK, w.css, w.cssGz)
}

// req is a signed-in request.
type req struct {
	who  fleet.Principal
	sess *session
	id   string // the session id
}

type pageHandler func(rw http.ResponseWriter, r *http.Request, q *req)

// signedIn lets through requests of a live session whose token still
// authenticates, and POSTs only with the session's CSRF token. Others go
// to the sign-in page (GET) or are refused (POST).
func (w *Web) signedIn(h pageHandler) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		var id string
		if c, err := r.Cookie(CookieName); err == nil {
			id = c.Value
		}
		sess := w.sessions.get(id)
		if sess == nil {
			w.toLogin(rw, r, "")
			return
		}
		who, err := w.cfg.Fleet.AuthenticateHash(sess.tokenHash)
		if err != nil {
			w.sessions.drop(id)
			clearCookie(rw, r, w.cfg.SecureCookies)
			if errors.Is(err, fleet.ErrUnauthorized) {
				w.toLogin(rw, r, "Votre jeton n’est plus valable : connectez-vous à nouveau.")
				return
			}
			w.fail(rw, r, nil, err)
			return
		}
		q := &req{who: who, sess: sess, id: id}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(rw, r.Body, maxForm)
			if err := r.ParseForm(); err != nil {
				w.fail(rw, r, q, fmt.Errorf("%w: the form could not be read: %v", fleet.ErrInvalid, err))
				return
			}
			if !validCSRF(sess, r.PostForm.Get("csrf")) {
				w.fail(rw, r, q, errCSRF)
				return
			}
		}
		h(rw, r, q)
	}
}

// toLogin sends a GET to the sign-in page, which comes back to it after;
// a POST is refused.
func (w *Web) toLogin(rw http.ResponseWriter, r *http.Request, msg string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.fail(rw, r, nil, errSignedOut)
		return
	}
	if msg != "" {
		w.render(rw, r, http.StatusUnauthorized, "login", view{Title: "Connexion", Problem: &problem{Status: http.StatusUnauthorized, Message: msg}, Data: loginData{Next: r.URL.RequestURI()}})
		return
	}
	http.Redirect(rw, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
}

// localPath returns next when it is a path of this site, "/" otherwise,
// so that the sign-in form cannot send people elsewhere.
func localPath(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	return next
}

type loginData struct {
	Next string
}

func (w *Web) loginPage(rw http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(CookieName); err == nil {
		if sess := w.sessions.get(c.Value); sess != nil {
			if _, err := w.cfg.Fleet.AuthenticateHash(sess.tokenHash); err == nil {
				http.Redirect(rw, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
				return
			}
		}
	}
	w.render(rw, r, http.StatusOK, "login", view{Title: "Connexion", Data: loginData{Next: localPath(r.URL.Query().Get("next"))}})
}

// login checks the token of the sign-in form and starts a session.
func (w *Web) login(rw http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(rw, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		w.render(rw, r, http.StatusBadRequest, "login", view{Title: "Connexion", Problem: &problem{Status: http.StatusBadRequest, Message: "Le formulaire n’a pas pu être lu."}, Data: loginData{Next: "/"}})
		return
	}
	next := localPath(r.PostForm.Get("next"))
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		w.render(rw, r, http.StatusForbidden, "login", view{Title: "Connexion", Problem: &problem{Status: http.StatusForbidden, Message: "Connectez-vous depuis la page de connexion de Valise."}, Data: loginData{Next: next}})
		return
	}
	token := strings.TrimSpace(r.PostForm.Get("token"))
	who, err := w.cfg.Fleet.Authenticate(token)
	if err != nil {
		status, msg := http.StatusUnauthorized, "Ce jeton n’est pas reconnu, ou son compte est désactivé. Vérifiez-le (il commence par « vat_ ») ou demandez-en un à l’administrateur."
		if token == "" {
			msg = "Collez votre jeton d’accès (il commence par « vat_ »)."
		}
		if !errors.Is(err, fleet.ErrUnauthorized) {
			w.log.Error("sign in", "err", err)
			status, msg = http.StatusInternalServerError, "Erreur interne du serveur : réessayez dans un instant."
		}
		w.render(rw, r, status, "login", view{Title: "Connexion", Problem: &problem{Status: status, Message: msg}, Data: loginData{Next: next}})
		return
	}
	if c, err := r.Cookie(CookieName); err == nil {
		w.sessions.drop(c.Value)
	}
	id, _, err := w.sessions.create(fleet.HashSecret(token))
	if err != nil {
		w.fail(rw, r, nil, err)
		return
	}
	setCookie(rw, r, id, w.cfg.SecureCookies)
	w.log.Info("signed in to the dashboard", "user", who.ID, "role", who.Role)
	http.Redirect(rw, r, next, http.StatusSeeOther)
}

func (w *Web) logout(rw http.ResponseWriter, r *http.Request, q *req) {
	w.sessions.drop(q.id)
	clearCookie(rw, r, w.cfg.SecureCookies)
	http.Redirect(rw, r, "/login", http.StatusSeeOther)
}

// Errors of the dashboard's own checks.
var (
	// errCSRF means a POST came without the session's CSRF token.
	errCSRF = errors.New("bad CSRF token")
	// errSignedOut means a POST came without a live session.
	errSignedOut = errors.New("signed out")
	// errNoPage means no page matches the path.
	errNoPage = errors.New("no such page")
)

// fail shows err as a page in French with its status. Errors of a known
// kind show the fleet's own words as a detail; any other is the server's
// fault: logged, and shown without its text.
func (w *Web) fail(rw http.ResponseWriter, r *http.Request, q *req, err error) {
	p := problemOf(err)
	if p.Status >= 500 {
		w.log.Error("page failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	v := view{Title: "Erreur", Problem: p}
	if q != nil {
		v.Who, v.CSRF = &q.who, q.sess.csrf
	}
	w.render(rw, r, p.Status, "error", v)
}

// problemOf turns an error into what a page says of it.
func problemOf(err error) *problem {
	detail := func(sentinel error) []string {
		var d interface{ Details() []string }
		if errors.As(err, &d) {
			return d.Details()
		}
		msg := strings.TrimPrefix(err.Error(), sentinel.Error()+": ")
		return []string{msg}
	}
	switch {
	case errors.Is(err, errCSRF):
		return &problem{Status: http.StatusForbidden, Message: "Ce formulaire a expiré ou ne vient pas de cette page : rechargez la page et recommencez. Rien n’a été modifié."}
	case errors.Is(err, errSignedOut):
		return &problem{Status: http.StatusForbidden, Message: "Votre session a pris fin : connectez-vous à nouveau, puis recommencez. Rien n’a été modifié."}
	case errors.Is(err, errNoPage):
		return &problem{Status: http.StatusNotFound, Message: "Cette page n’existe pas."}
	case errors.Is(err, fleet.ErrForbidden):
		return &problem{Status: http.StatusForbidden, Message: "Votre rôle ne permet pas cette action. Rien n’a été modifié.", Details: detail(fleet.ErrForbidden)}
	case errors.Is(err, fleet.ErrNotFound), errors.Is(err, store.ErrNotFound):
		return &problem{Status: http.StatusNotFound, Message: "Introuvable.", Details: detail(fleet.ErrNotFound)}
	case errors.Is(err, fleet.ErrInvalid):
		return &problem{Status: http.StatusBadRequest, Message: "La demande n’est pas valable. Rien n’a été modifié.", Details: detail(fleet.ErrInvalid)}
	case errors.Is(err, fleet.ErrConflict):
		return &problem{Status: http.StatusConflict, Message: "Impossible pour le moment. Rien n’a été modifié.", Details: detail(fleet.ErrConflict)}
	case errors.Is(err, fleet.ErrUnauthorized):
		return &problem{Status: http.StatusUnauthorized, Message: "Connectez-vous à nouveau."}
	case errors.Is(err, fleet.ErrUnavailable), errors.Is(err, store.ErrLocked):
		return &problem{Status: http.StatusServiceUnavailable, Message: "Service indisponible pour le moment : réessayez dans un instant."}
	}
	return &problem{Status: http.StatusInternalServerError, Message: "Erreur interne du serveur ; le journal du serveur en dit plus."}
}
