//go:build re2

package re2

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// TestProgramSizeMatchesRE2 compares the Go port with the system's RE2 on fixed cases that exercise each part of
// the compiler (literal prefix stripping, UTF-8 tries, case folding, nullable loops, AltMatch).
func TestProgramSizeMatchesRE2(t *testing.T) {
	for _, p := range fixedCases {
		checkSize(t, p)
	}
	// The recorded sizes the untagged test uses are RE2's.
	for _, c := range recordedSizes {
		if n, err := NativeProgramSize(c.pattern); err != nil || n != c.size {
			t.Errorf("recorded size of %q is %d; RE2 says %d, %v", c.pattern, c.size, n, err)
		}
	}
}

var fixedCases = []string{
	`^/+dev/+api/v1/organizations/([^/]+)/projects/([^/]+)/environments/([^/]+)/deployments/([^/]+)/logs/*$`,
	`^/+dev/+a/*$`, `^/+dev(?:/.*)?$`, `^/+dev/+([^/].*?)/*$`, `^/+dev/+([!-.0-~]+)/*$`, `a`, `^a$`, `^abc`, `^a+$`,
	`^(?:GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS)$`, `.`, `(?s).`, `(?s).*`, `[^a]`, `(?i)abc`, `(?i)k`, `x*`,
	`(a*)*`, `é+`, `[α-ω]`, `\bfoo\B`, `(?:a|b)*c?`, `[0-9a-f]{2,4}`, `ab|ac|ad`, `(a|)+`, `日本語`,
	`[\x{100}-\x{10000}]`, `\pL`, `^$`, `^`, `$`, ``, `(?m)^a$`, `[^\x00-\x{10FFFF}]`, `a??b+?`,
	`^/+dev/+api/v1/organizations/([\x00-.0-\x7f]+)/projects/([\x00-.0-\x7f]+)/environments/([\x00-.0-\x7f]+)/deployments/([\x00-.0-\x7f]+)/logs/*$`,
	`^/+dev/+api/v1/organizations/[\x00-.0-\x7f]+/projects/[\x00-.0-\x7f]+/environments/[\x00-.0-\x7f]+/deployments/[\x00-.0-\x7f]+/logs/*$`,
	`^/+dev/+([\x00-.0-\x7f][\x00-\t\x0b-\x7f]*?)/*$`, `[\x00-\x7f]*`,
	`^/+dev/+a/[\x00-.0-\x7f]+/bc(?:[/?#][\x00-\x7f]*)?$`, `^/+dev/+a/([\x00-.0-\x7f]+)(?:/[\x00-\x7f]*)?$`,
	`//+/*a/+/a+a*`, `(?i)K+k`, `[a-zA-Z]+[A-Za-z]`, `a{3,}`, `a{2,5}?`, `(?:a{0,3}){2}`,
}

// TestProgramSizeRandomMatchesRE2 compares on random regexes built from the forms proxyplus generates.
func TestProgramSizeRandomMatchesRE2(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 2))
	for range 3000 {
		checkSize(t, randomPathRegex(rng))
	}
}

func checkSize(t *testing.T, p string) {
	t.Helper()
	want, err := NativeProgramSize(p)
	if err != nil {
		t.Fatalf("RE2 refuses %q: %v", p, err)
	}
	got, err := ProgramSize(p)
	if err != nil {
		t.Fatalf("ProgramSize(%q): %v", p, err)
	}
	if got != want {
		t.Errorf("ProgramSize(%q) = %d, RE2 says %d", p, got, want)
	}
}

func randomPathRegex(rng *rand.Rand) string {
	lits := []string{"a", "users", "v1", "é", "日本", "{x}", "a.b", "a-b_c~", "%41", "$", "(", "+"}
	atoms := []string{`([^/]+)`, `([!-.0-~]+)`, `([^/].*?)`, `([!-.0-~][!-~]*?)`, `/*`, `/+`, `(?:/.*)?`, `.*`, `[^/]`,
		`(?:GET|HEAD|POST)`, `x?`, `(?:ab)+?`, `[a-z]*`}
	var b strings.Builder
	if rng.IntN(4) != 0 {
		b.WriteString("^")
	}
	for range 1 + rng.IntN(10) {
		if rng.IntN(2) == 0 {
			b.WriteString(regexp.QuoteMeta(lits[rng.IntN(len(lits))]))
		} else {
			b.WriteString(atoms[rng.IntN(len(atoms))])
		}
		if rng.IntN(2) == 0 {
			b.WriteString("/")
		}
	}
	if rng.IntN(4) != 0 {
		b.WriteString("$")
	}
	return b.String()
}
