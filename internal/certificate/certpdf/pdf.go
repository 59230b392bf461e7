// Package certpdf renders wipe certificates as A4 PDF files for filing. It
// is kept apart from package certificate so that the agent, which signs
// certificates but never prints them, does not carry a PDF library.
package certpdf

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/go-pdf/fpdf"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/valise-numerique/valise/internal/certificate"
)

// Limits of the raw answers printed in a PDF: the full text is in the JSON
// file, the PDF is for filing.
const (
	pdfOutputLines = 6
	pdfLineChars   = 78 // what the value column holds in the mono font
)

// Render writes the certificate of a file as an A4 PDF for filing:
// French first with English in small type, every certificate field, the
// raw answers truncated, the chain hash, the keys and signatures, and a QR
// code of the file's hash (File.Hash). It renders what the file says and
// checks nothing: call Verify first.
func Render(w io.Writer, f certificate.File) error {
	c, err := f.Decode()
	if err != nil {
		return fmt.Errorf("render certificate pdf: %w", err)
	}
	return render(w, c, f, true)
}

// pdfDoc holds the document being written and its layout.
type pdfDoc struct {
	pdf          *fpdf.Fpdf
	tr           func(string) string
	left, width  float64
	bottom       float64 // y beyond which a new page starts
	labelW       float64
	sectionCount int
}

func render(w io.Writer, c certificate.Certificate, f certificate.File, compress bool) error {
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCompression(compress)
	// The document's dates are the certificate's, so the same file always
	// renders to the same bytes.
	stamp := c.Finished
	if stamp.IsZero() {
		stamp = time.Unix(0, 0) // fpdf would put the time of rendering
	}
	pdf.SetCreationDate(stamp)
	pdf.SetModificationDate(stamp)
	pdf.SetCatalogSort(true)
	pdf.SetTitle("Certificat d'effacement "+c.ID, true)
	pdf.SetSubject("Data sanitization certificate (NIST SP 800-88)", true)
	pdf.SetCreator("Valise", true)
	pdf.SetMargins(15, 14, 15)
	pdf.SetAutoPageBreak(true, 12)
	pdf.AliasNbPages("{nb}")
	pageW, pageH := pdf.GetPageSize()
	d := &pdfDoc{
		pdf: pdf, tr: pdf.UnicodeTranslatorFromDescriptor(""),
		left: 15, width: pageW - 30, bottom: pageH - 16.5, labelW: 64,
	}
	hash := f.Hash()
	pdf.SetFooterFunc(func() {
		pdf.SetY(-14.5)
		pdf.SetFont("Helvetica", "I", 6.5)
		pdf.SetTextColor(110, 110, 110)
		pdf.CellFormat(d.width, 3.5, d.tr("Vérifier hors ligne / verify offline : valise certificate verify FICHIER.json. Le fichier JSON signé fait foi / the signed JSON file is authoritative."), "", 1, "L", false, 0, "")
		pdf.SetFont("Helvetica", "", 7)
		pdf.SetTextColor(110, 110, 110)
		pdf.CellFormat(d.width*0.75, 4, d.tr(fmt.Sprintf("Certificat %s · SHA-256 du fichier / file hash %s…", c.ID, hash[:16])), "", 0, "L", false, 0, "")
		pdf.CellFormat(d.width*0.25, 4, d.tr(fmt.Sprintf("Page %d/{nb}", pdf.PageNo())), "", 0, "R", false, 0, "")
	})
	pdf.AddPage()

	d.header(c, hash)
	d.section("Certificat", "Certificate")
	d.row("Identifiant", "Certificate id", fmt.Sprintf("%s (format %d)", c.ID, c.Version))
	switch {
	case c.JobID != "":
		d.row("Tâche", "Job", c.JobID)
	case c.External != nil:
		d.row("Tâche", "Job", "— (preuve externe importée / imported external evidence)")
	default:
		d.row("Tâche", "Job", "— (effacement en mode maintenance / maintenance-mode wipe)")
	}
	d.row("Début – fin (UTC)", "Start – end (UTC)", span(c.Started, c.Finished))
	d.row("Outil", "Tool", strings.TrimSpace(c.Tool.Name+" "+c.Tool.Version))
	if e := c.External; e != nil {
		d.row("Preuve externe", "External evidence",
			fmt.Sprintf("journal %s %s importé par %s / log imported by the operator\nSHA-256 du journal / log hash : %s", e.Tool, e.Version, e.ImportedBy, e.LogSHA256))
	}

	d.section("Appareil", "Asset")
	d.row("Numéro d'inventaire", "Asset tag", c.Asset.AssetTag)
	d.row("Catégorie", "Class", classFR(c.Asset.Class))
	d.row("Fabricant, modèle", "Vendor, model", strings.TrimSpace(c.Asset.Vendor+" "+c.Asset.Model))
	d.row("Numéro de série", "Serial number", orDash(c.Asset.Serial, ""))
	if c.Asset.UUID != "" {
		d.row("UUID", "SMBIOS UUID", c.Asset.UUID)
	}
	if c.Asset.IMEI != "" {
		d.row("IMEI", "IMEI", c.Asset.IMEI)
	}
	d.row("Identifiant Valise", "Device id", c.Asset.DeviceID)

	d.section("Intervention", "Operator and places")
	d.row("Opérateur", "Operator", c.Operator)
	d.row("Lieu d'origine", "Source venue", orDash(c.SourceVenue, ""))
	d.row("Destination", "Destination", orDash(destinationFR(c.Destination), ""))

	for i, m := range c.Media {
		d.section(fmt.Sprintf("Support %d/%d : %s", i+1, len(c.Media), m.Name), fmt.Sprintf("Medium %d of %d", i+1, len(c.Media)))
		d.medium(m, c.Tool)
	}

	d.section("Chaîne et signatures", "Chain and signatures")
	d.row("Certificat précédent", "Previous certificate (SHA-256)", orDash(c.PrevHash, "— (premier certificat de l'appareil / first of this asset)"))
	d.row("Ce fichier", "This file (SHA-256)", hash)
	d.mono("Clé de l'appareil", "Device key (ed25519)", f.DeviceKey)
	d.mono("Signature de l'appareil", "Device signature", f.DeviceSig)
	if f.ServerSig == "" {
		d.row("Contresignature du serveur", "Server countersignature", "— (pas encore contresigné / not countersigned yet)")
	} else {
		d.mono("Clé du serveur", "Server key (ed25519)", f.ServerKey)
		d.mono("Contresignature du serveur", "Server countersignature", f.ServerSig)
	}

	if err := pdf.Output(w); err != nil {
		return fmt.Errorf("render certificate pdf %s: %w", c.ID, err)
	}
	return nil
}

func (d *pdfDoc) header(c certificate.Certificate, hash string) {
	pdf := d.pdf
	top := pdf.GetY()
	qrSize := 27.0
	if png, err := qrcode.Encode(hash, qrcode.Medium, 256); err == nil {
		pdf.RegisterImageOptionsReader("qr", fpdf.ImageOptions{ImageType: "PNG"}, bytes.NewReader(png))
		pdf.ImageOptions("qr", d.left+d.width-qrSize, top-2, qrSize, qrSize, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
	}
	textW := d.width - qrSize - 4
	pdf.SetTextColor(20, 20, 20)
	pdf.SetFont("Helvetica", "B", 18)
	pdf.CellFormat(textW, 9, d.tr("Certificat d'effacement"), "", 1, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 9)
	pdf.SetTextColor(110, 110, 110)
	pdf.CellFormat(textW, 4.5, d.tr("Data sanitization certificate · NIST SP 800-88"), "", 1, "L", false, 0, "")
	pdf.Ln(2)
	pdf.SetTextColor(20, 20, 20)
	pdf.SetFont("Helvetica", "B", 11)
	pdf.CellFormat(textW, 6, d.tr(strings.TrimSpace(c.Asset.AssetTag+"  ·  "+strings.TrimSpace(c.Asset.Vendor+" "+c.Asset.Model))), "", 1, "L", false, 0, "")

	ok := c.Result == certificate.ResultSucceeded
	label := "ÉCHEC DE L'EFFACEMENT – ne pas remettre l'appareil en service"
	en := "Sanitization failed – the asset must not be reused"
	if ok {
		label = "EFFACEMENT RÉUSSI – " + categoriesFR(c.Media)
		en = "Sanitization succeeded – " + categoriesEN(c.Media)
		pdf.SetFillColor(218, 242, 222)
		pdf.SetTextColor(20, 90, 40)
	} else {
		pdf.SetFillColor(250, 222, 222)
		pdf.SetTextColor(150, 20, 20)
	}
	pdf.Ln(1)
	pdf.SetFont("Helvetica", "B", 11)
	y := pdf.GetY()
	pdf.CellFormat(textW, 8, d.tr("  "+label), "", 1, "L", true, 0, "")
	pdf.SetXY(d.left, y+8)
	pdf.SetFont("Helvetica", "", 7)
	pdf.CellFormat(textW, 4, d.tr("  "+en), "", 1, "L", true, 0, "")
	end := pdf.GetY()
	pdf.SetXY(d.left+d.width-qrSize-10, top-2+qrSize)
	pdf.SetFont("Helvetica", "", 5.5)
	pdf.SetTextColor(110, 110, 110)
	pdf.CellFormat(qrSize+10, 2.5, d.tr("QR : SHA-256 du fichier / file hash"), "", 1, "R", false, 0, "")
	pdf.SetTextColor(20, 20, 20)
	pdf.SetY(max(end, top+qrSize+0.5))
}

// ensure starts a new page when h millimetres do not fit on this one.
func (d *pdfDoc) ensure(h float64) {
	if d.pdf.GetY()+h > d.bottom {
		d.pdf.AddPage()
	}
}

func (d *pdfDoc) section(fr, en string) {
	pdf := d.pdf
	d.ensure(14)
	pdf.Ln(1.8)
	pdf.SetDrawColor(60, 90, 150)
	pdf.SetLineWidth(0.4)
	y := pdf.GetY()
	pdf.Line(d.left, y, d.left+d.width, y)
	pdf.Ln(0.8)
	pdf.SetTextColor(40, 70, 130)
	pdf.SetFont("Helvetica", "B", 10.5)
	pdf.CellFormat(pdf.GetStringWidth(d.tr(fr))+2, 5, d.tr(fr), "", 0, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 7.5)
	pdf.SetTextColor(110, 110, 110)
	pdf.CellFormat(0, 5, d.tr(" / "+en), "", 1, "L", false, 0, "")
	pdf.SetTextColor(20, 20, 20)
	pdf.Ln(0.3)
}

// row writes a label (French, English below in small type) and its value.
func (d *pdfDoc) row(fr, en, value string) {
	d.rowFont(fr, en, value, "Helvetica", 8.5, 4)
}

// mono writes a row whose value is in a fixed-width font (keys, hashes).
func (d *pdfDoc) mono(fr, en, value string) {
	d.rowFont(fr, en, value, "Courier", 6.8, 3.0)
}

func (d *pdfDoc) rowFont(fr, en, value, font string, size, lineH float64) {
	pdf := d.pdf
	value = d.tr(printable(value))
	fr, en = d.tr(fr), d.tr(en)
	valueW := d.width - d.labelW
	pdf.SetFont(font, "", size)
	n := len(pdf.SplitLines([]byte(value), valueW-2))

	// The English label follows the French one on the same line when both
	// fit, else it goes below it.
	pdf.SetFont("Helvetica", "B", 8)
	frW := pdf.GetStringWidth(fr)
	pdf.SetFont("Helvetica", "", 6.2)
	stacked := frW+pdf.GetStringWidth(" "+en)+2 > d.labelW
	minH := 4.4
	if stacked {
		minH = 7.0
	}
	h := max(float64(n)*lineH, minH)
	d.ensure(h)
	x, y := d.left, pdf.GetY()
	pdf.SetXY(x, y)
	pdf.SetFont("Helvetica", "B", 8)
	pdf.CellFormat(frW+0.5, 3.8, fr, "", 0, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 6.2)
	pdf.SetTextColor(120, 120, 120)
	if stacked {
		pdf.SetXY(x, y+3.4)
		pdf.CellFormat(d.labelW, 3, en, "", 0, "L", false, 0, "")
	} else {
		pdf.SetXY(x+frW+0.5, y+0.35)
		pdf.CellFormat(d.labelW-frW, 3.6, " "+en, "", 0, "L", false, 0, "")
	}
	pdf.SetTextColor(20, 20, 20)
	pdf.SetXY(x+d.labelW, y)
	pdf.SetFont(font, "", size)
	pdf.MultiCell(valueW, lineH, value, "", "L", false)
	pdf.SetY(max(pdf.GetY(), y+h) + 0.6)
}

func (d *pdfDoc) medium(m certificate.Medium, tool certificate.Tool) {
	d.row("Type, modèle", "Type, model", strings.TrimSpace(mediaTypeFR(m.Type)+" – "+m.Model))
	d.row("Numéro de série", "Serial number", orDash(m.Serial, ""))
	if m.Firmware != "" {
		d.row("Micrologiciel", "Firmware", m.Firmware)
	}
	d.row("Capacité", "Capacity", capacity(m.CapacityBytes))
	d.row("Zones cachées", "HPA / DCO", "HPA : "+hiddenFR(m.HPA)+"  ·  DCO : "+hiddenFR(m.DCO))
	method := m.Method
	if m.Pattern != "" {
		method += " (motif / pattern : " + m.Pattern + ")"
	}
	d.row("Méthode, outil", "Method, tool", method+"\n"+strings.TrimSpace(tool.Name+" "+tool.Version))
	d.row("Catégorie NIST", "NIST category", categoryFR(m.Category))
	d.row("Début – fin (UTC)", "Start – end (UTC)", span(m.Started, m.Finished))
	v := m.Verification
	verif := verificationFR(v.Result) + " – " + v.Method
	if v.BytesChecked > 0 {
		verif += ", " + capacity(v.BytesChecked) + " relus / read back"
	}
	if v.Samples > 0 {
		verif += fmt.Sprintf(", %d échantillons / samples", v.Samples)
	}
	if v.Seed != "" {
		verif += ", graine / seed " + v.Seed
	}
	if v.Detail != "" {
		verif += "\n" + v.Detail
	}
	d.row("Vérification", "Verification", verif)
	res := resultFR(m.Result)
	if m.Error != "" {
		res += "\n" + m.Error
	}
	d.row("Résultat", "Result", res)
	for i, cmd := range m.Commands {
		d.mono(fmt.Sprintf("Commande %d", i+1), fmt.Sprintf("Command %d, exit %d", i+1, cmd.ExitCode),
			"$ "+cmd.Command+"\n"+clip(cmd.Output, pdfOutputLines, pdfLineChars))
	}
}

// clip keeps the first lines of a raw answer, each cut to a width.
func clip(s string, lines, width int) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "(pas de sortie / no output)"
	}
	all := strings.Split(s, "\n")
	out := all[:min(len(all), lines)]
	for i, l := range out {
		if r := []rune(l); len(r) > width {
			out[i] = string(r[:width]) + "…"
		}
	}
	if len(all) > lines {
		out = append(out, fmt.Sprintf("[… %d lignes de plus dans le fichier JSON / %d more lines in the JSON file]", len(all)-lines, len(all)-lines))
	}
	return strings.Join(out, "\n")
}

// printable replaces control characters (terminal escapes in raw answers)
// that a PDF cannot show.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n':
			return r
		case r == '\t':
			return ' '
		case unicode.IsControl(r) || r == unicode.ReplacementChar:
			return '?'
		}
		return r
	}, s)
}

func orDash(s, dash string) string {
	if s != "" {
		return s
	}
	if dash != "" {
		return dash
	}
	return "—"
}

func span(start, end time.Time) string {
	const layout = "2006-01-02 15:04:05"
	if start.IsZero() && end.IsZero() {
		return "—"
	}
	return fmt.Sprintf("%s – %s (%s)", start.UTC().Format(layout), end.UTC().Format(layout), end.Sub(start).Round(time.Second))
}

// capacity writes a size in French decimal units with the exact figure.
func capacity(n int64) string {
	if n <= 0 {
		return "inconnue / unknown"
	}
	units := []string{"o", "ko", "Mo", "Go", "To", "Po"}
	v, u := float64(n), 0
	for v >= 1000 && u < len(units)-1 {
		v /= 1000
		u++
	}
	human := strings.Replace(strconv.FormatFloat(v, 'f', 1, 64), ".", ",", 1) + " " + units[u]
	return human + " (" + groupThousands(n) + " octets / bytes)"
}

func groupThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func classFR(class string) string {
	switch class {
	case "laptop":
		return "ordinateur portable / laptop"
	case "tablet":
		return "tablette / tablet"
	case "hotspot":
		return "point d'accès 4G / 4G hotspot"
	}
	return orDash(class, "")
}

func destinationFR(s string) string {
	switch s {
	case "reuse":
		return "réemploi / reuse"
	case "donation":
		return "don / donation"
	case "recycling":
		return "recyclage / recycling"
	}
	return s
}

func mediaTypeFR(t string) string {
	switch t {
	case "hdd":
		return "disque dur / HDD"
	case "ssd":
		return "SSD"
	case "nvme":
		return "SSD NVMe"
	case "emmc":
		return "eMMC"
	case "sd":
		return "carte SD / SD card"
	case "virtual":
		return "disque virtuel / virtual disk"
	case "file":
		return "fichier / file"
	}
	return orDash(t, "")
}

func hiddenFR(s string) string {
	switch s {
	case "absent":
		return "absente / absent"
	case "present":
		return "présente / present"
	case "removed":
		return "supprimée / removed"
	case "", "unknown":
		return "indéterminé / unknown"
	}
	return s
}

func categoryFR(c string) string {
	switch c {
	case certificate.CategoryClear:
		return "Clear – effacement logique par réécriture / logical overwrite"
	case certificate.CategoryPurge:
		return "Purge – effacement par le support lui-même / media-level sanitization"
	case certificate.CategoryNone:
		return "Aucune – ne vaut pas assainissement / not counted as sanitization"
	}
	return orDash(c, "")
}

// categoriesFR names the weakest category over the media, which is what
// the asset as a whole got.
func categoriesFR(media []certificate.Medium) string {
	switch weakest(media) {
	case certificate.CategoryPurge:
		return "NIST SP 800-88 Purge"
	case certificate.CategoryClear:
		return "NIST SP 800-88 Clear"
	}
	return "sans catégorie NIST"
}

func categoriesEN(media []certificate.Medium) string {
	switch weakest(media) {
	case certificate.CategoryPurge:
		return "NIST SP 800-88 Purge"
	case certificate.CategoryClear:
		return "NIST SP 800-88 Clear"
	}
	return "no NIST category"
}

func weakest(media []certificate.Medium) string {
	rank := map[string]int{certificate.CategoryPurge: 2, certificate.CategoryClear: 1}
	w := certificate.CategoryPurge
	for _, m := range media {
		if rank[m.Category] < rank[w] {
			w = m.Category
		}
	}
	if len(media) == 0 || rank[w] == 0 {
		return certificate.CategoryNone
	}
	return w
}

func verificationFR(r string) string {
	switch r {
	case certificate.VerificationPassed:
		return "conforme / passed"
	case certificate.VerificationFailed:
		return "NON CONFORME / failed"
	case certificate.VerificationNotDone:
		return "non effectuée / not done"
	}
	return orDash(r, "")
}

func resultFR(r string) string {
	switch r {
	case certificate.ResultSucceeded:
		return "réussi / succeeded"
	case certificate.ResultFailed:
		return "ÉCHEC / failed"
	}
	return orDash(r, "")
}
