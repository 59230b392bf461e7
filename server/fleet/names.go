package fleet

import (
	"strings"
	"unicode"
)

// folds maps the accented letters of French (and the other Latin-1 ones)
// to their bare letters.
var folds = strings.NewReplacer(
	"à", "a", "â", "a", "ä", "a", "á", "a", "ã", "a", "å", "a",
	"ç", "c", "é", "e", "è", "e", "ê", "e", "ë", "e",
	"î", "i", "ï", "i", "í", "i", "ì", "i", "ñ", "n",
	"ô", "o", "ö", "o", "ó", "o", "ò", "o", "õ", "o",
	"ù", "u", "û", "u", "ü", "u", "ú", "u", "ÿ", "y", "ý", "y",
	"œ", "oe", "æ", "ae",
)

// NameKey is the form under which names of people, venues and kits are
// unique and looked up: lower case, accents removed, runs of spaces,
// hyphens, underscores and apostrophes made one space. "France Services
// Baugé" and "france  services bauge" name the same venue.
func NameKey(s string) string {
	s = folds.Replace(strings.ToLower(s))
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) || r == '-' || r == '\'' || r == '’' || r == '_' {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}
