package certpdf

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/valise-numerique/valise/internal/certificate"
)

// pdfPage matches the page objects of an uncompressed PDF.
var pdfPage = regexp.MustCompile(`/Type /Page\b[^s]`)

func TestPDF(t *testing.T) {
	device, server := testKey(t, 1), testKey(t, 2)

	failed := sampleCertificate()
	failed.Result = certificate.ResultFailed
	failed.Media[1].Result, failed.Media[1].Error = certificate.ResultFailed, "write error at byte 4096: input/output error"
	failed.Media[1].Verification.Result = certificate.VerificationNotDone

	long := sampleCertificate()
	long.Media[0].Commands[0].Output = strings.Repeat("ligne de sortie très longue, répétée pour remplir la page et tester la coupe ", 40) +
		"\n" + strings.Repeat("x\n", 200)

	raw := readLog(t, "nwipe-zero.log")
	log, err := certificate.ParseNwipeLog(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	external, err := certificate.FromNwipe(log, nwipeAsset, "VALTEST-LOOP0", "Élodie Martin", raw)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		c         certificate.Certificate
		server    bool
		pages     int
		wantTexts []string
	}{
		{"succeeded, two media", sampleCertificate(), true, 2, []string{"VAL-0031", "cert-job-0042", "EFFACEMENT R\xc9USSI", "M\xe9diath\xe8que", "nvme sanitize /dev/nvme0n1"}},
		{"failed", failed, true, 2, []string{"VAL-0031", "\xc9CHEC DE L'EFFACEMENT", "input/output error"}},
		{"long raw answers are cut", long, true, 2, []string{"more lines in the JSON file"}},
		{"nwipe evidence, not countersigned", external, false, 1, []string{"VAL-0031", external.ID, "Preuve externe", external.External.LogSHA256, "pas encore contresign\xe9"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := server
			if !tt.server {
				srv = nil
			}
			f, _ := signedFile(t, tt.c, device, srv)
			var buf bytes.Buffer
			if err := render(&buf, tt.c, f, false); err != nil {
				t.Fatal(err)
			}
			out := buf.Bytes()
			if !bytes.HasPrefix(out, []byte("%PDF-")) || !bytes.HasSuffix(bytes.TrimSpace(out), []byte("%%EOF")) {
				t.Fatalf("not a PDF: %q … %q", out[:min(len(out), 16)], out[max(0, len(out)-16):])
			}
			if n := len(pdfPage.FindAll(out, -1)); n != tt.pages {
				t.Errorf("%d pages, want %d", n, tt.pages)
			}
			for _, s := range tt.wantTexts {
				if !bytes.Contains(out, []byte(s)) {
					t.Errorf("the PDF does not contain %q", s)
				}
			}
			if bytes.Contains(out, []byte("\xc3\xa9")) {
				t.Errorf("UTF-8 bytes in the PDF text: accents were not translated to cp1252")
			}

			// The public renderer compresses, and renders the same file to
			// the same bytes.
			var a, b bytes.Buffer
			if err := Render(&a, f); err != nil {
				t.Fatal(err)
			}
			if err := Render(&b, f); err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(a.Bytes(), []byte("%PDF-")) || a.Len() >= buf.Len() {
				t.Errorf("compressed PDF: %d bytes, uncompressed %d", a.Len(), buf.Len())
			}
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Errorf("two renderings of the same file differ")
			}
		})
	}
}

func TestRenderBadFile(t *testing.T) {
	var buf bytes.Buffer
	err := Render(&buf, certificate.File{Certificate: []byte("{not json")})
	if err == nil {
		t.Fatal("rendered a file whose certificate does not decode")
	}
}
