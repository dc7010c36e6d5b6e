package authorizer

import "testing"

// FuzzCompiledMatch: the compiled form policies evaluate with agrees with Match on every pattern and string.
func FuzzCompiledMatch(f *testing.F) {
	for _, s := range [][2]string{{"*", ""}, {"a*b?c*", "aXbYcZ"}, {"arn:*:*/prod/GET/*", "arn:aws:a/prod/GET/p"}, {"??*??", "abc"}, {"a*a", "a"}, {"*ab*ab", "abab"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, p, s string) {
		c := compilePattern(p)
		if got, want := c.match(s), Match(p, s); got != want {
			t.Errorf("compiled %q on %q: %v, Match %v", p, s, got, want)
		}
	})
}
