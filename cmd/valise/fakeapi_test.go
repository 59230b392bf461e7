package main

// fakeAPI plays the wipe, certificate and provisioning routes of the API
// with scripted answers: each GET of a job gives the next snapshot of its
// script, so that --wait sees a fixed sequence and draws fixed lines.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/valise-numerique/valise/internal/apitype"
)

type fakeAPI struct {
	URL string

	mu        sync.Mutex
	devices   []apitype.DeviceDetail
	wipes     map[string][]apitype.WipeJob // asset tag → snapshots a job goes through
	jobs      []*fakeJob
	refuse    string // when set, POST /wipes answers 409 with it
	certs     map[string][]apitype.CertificateInfo
	files     map[string][]byte // certificate id → file
	pdf       []byte
	serverKey apitype.ServerKey
	provs     map[string][]apitype.ProvisionJob
	provJob   *fakeProv
	events    map[string][]apitype.Event
	imported  string
	posted    []apitype.WipeRequest
}

type fakeJob struct {
	script []apitype.WipeJob
	next   int
}

type fakeProv struct {
	script []apitype.ProvisionJob
	next   int
}

func newFakeAPI(t *testing.T, devices ...apitype.DeviceDetail) *fakeAPI {
	t.Helper()
	f := &fakeAPI{devices: devices, wipes: map[string][]apitype.WipeJob{}, certs: map[string][]apitype.CertificateInfo{},
		files: map[string][]byte{}, provs: map[string][]apitype.ProvisionJob{}, events: map[string][]apitype.Event{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/devices/{ref}", f.device)
	mux.HandleFunc("POST /api/v1/wipes", f.createWipes)
	mux.HandleFunc("GET /api/v1/wipes", f.listWipes)
	mux.HandleFunc("GET /api/v1/wipes/{id}", f.wipe)
	mux.HandleFunc("GET /api/v1/devices/{ref}/certificates", f.deviceCerts)
	mux.HandleFunc("GET /api/v1/certificates/{id}", f.certFile)
	mux.HandleFunc("GET /api/v1/certificates/{id}/pdf", f.certPDF)
	mux.HandleFunc("POST /api/v1/devices/{ref}/certificates/import", f.importLog)
	mux.HandleFunc("GET /api/v1/server-key", func(w http.ResponseWriter, r *http.Request) { answer(w, 200, f.serverKey) })
	mux.HandleFunc("POST /api/v1/provisions", f.createProvision)
	mux.HandleFunc("GET /api/v1/provisions/{id}", f.provision)
	mux.HandleFunc("GET /api/v1/devices/{ref}/events", f.deviceEvents)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

func answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status int, code, format string, a ...any) {
	answer(w, status, apitype.ErrorBody{Error: apitype.ErrorDetail{Code: code, Message: fmt.Sprintf(format, a...)}})
}

// find returns the device that ref names, by id or asset tag.
func (f *fakeAPI) find(ref string) (apitype.DeviceDetail, bool) {
	for _, d := range f.devices {
		if d.ID == ref || strings.EqualFold(d.AssetTag, ref) {
			return d, true
		}
	}
	return apitype.DeviceDetail{}, false
}

// found is find for a handler: it answers 404, as the server does, when
// no device matches ref.
func (f *fakeAPI) found(w http.ResponseWriter, ref string) (apitype.DeviceDetail, bool) {
	d, ok := f.find(ref)
	if !ok {
		apiError(w, 404, apitype.CodeNotFound, "no device matches %s", ref)
	}
	return d, ok
}

func (f *fakeAPI) device(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.found(w, r.PathValue("ref"))
	if !ok {
		return
	}
	answer(w, 200, d)
}

func (f *fakeAPI) createWipes(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var req apitype.WipeRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		apiError(w, 400, apitype.CodeBadRequest, "%v", err)
		return
	}
	f.posted = append(f.posted, req)
	if f.refuse != "" {
		apiError(w, 409, apitype.CodeConflict, "%s", f.refuse)
		return
	}
	jobs := []apitype.WipeJob{}
	for _, ref := range req.Devices {
		d, _ := f.find(ref)
		script := f.wipes[d.AssetTag]
		f.jobs = append(f.jobs, &fakeJob{script: script})
		jobs = append(jobs, script[0])
	}
	answer(w, 201, jobs)
}

func (f *fakeAPI) latest(j *fakeJob) apitype.WipeJob {
	return j.script[max(j.next-1, 0)]
}

func (f *fakeAPI) listWipes(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	jobs := []apitype.WipeJob{}
	for _, j := range f.jobs {
		job := f.latest(j)
		if r.URL.Query().Get("active") == "true" && ended(job.State) {
			continue
		}
		jobs = append(jobs, job)
	}
	answer(w, 200, jobs)
}

func (f *fakeAPI) wipe(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, j := range f.jobs {
		if j.script[0].ID == r.PathValue("id") {
			j.next = min(j.next+1, len(j.script))
			answer(w, 200, j.script[j.next-1])
			return
		}
	}
	apiError(w, 404, apitype.CodeNotFound, "no wipe job %s", r.PathValue("id"))
}

func (f *fakeAPI) deviceCerts(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.found(w, r.PathValue("ref"))
	if !ok {
		return
	}
	answer(w, 200, append([]apitype.CertificateInfo{}, f.certs[d.ID]...))
}

func (f *fakeAPI) certFile(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.files[r.PathValue("id")]
	if !ok {
		apiError(w, 404, apitype.CodeNotFound, "no certificate %s", r.PathValue("id"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func (f *fakeAPI) certPDF(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.files[r.PathValue("id")]; !ok {
		apiError(w, 404, apitype.CodeNotFound, "no certificate %s", r.PathValue("id"))
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Write(f.pdf)
}

func (f *fakeAPI) importLog(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.found(w, r.PathValue("ref"))
	if !ok {
		return
	}
	b, _ := io.ReadAll(r.Body)
	f.imported = r.Header.Get("Content-Type") + "\n" + string(b)
	if !strings.Contains(string(b), d.Serial) {
		apiError(w, 400, apitype.CodeBadRequest, "the log wiped no disk of %s", d.AssetTag)
		return
	}
	answer(w, 200, f.certs[d.ID][0])
}

func (f *fakeAPI) createProvision(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var req apitype.ProvisionRequest
	json.NewDecoder(r.Body).Decode(&req)
	d, ok := f.found(w, req.Device)
	if !ok {
		return
	}
	if req.Profile != "laptop-linux" {
		apiError(w, 404, apitype.CodeNotFound, "no provisioning profile %q", req.Profile)
		return
	}
	script := f.provs[d.AssetTag]
	if script == nil {
		apiError(w, 409, apitype.CodeConflict, "%s is %s: only a wiped device can be provisioned", d.AssetTag, d.State)
		return
	}
	f.provJob = &fakeProv{script: script}
	answer(w, 201, script[0])
}

func (f *fakeAPI) provision(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.provJob == nil || f.provJob.script[0].ID != r.PathValue("id") {
		apiError(w, 404, apitype.CodeNotFound, "no provisioning job %s", r.PathValue("id"))
		return
	}
	p := f.provJob
	p.next = min(p.next+1, len(p.script))
	answer(w, 200, p.script[p.next-1])
}

func (f *fakeAPI) deviceEvents(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.found(w, r.PathValue("ref"))
	if !ok {
		return
	}
	answer(w, 200, append([]apitype.Event{}, f.events[d.ID]...))
}
