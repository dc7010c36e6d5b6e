package mappingtemplate

import "testing"

func TestJSONNumbers(t *testing.T) {
	tp, err := Parse("n", `#foreach($n in $input.path('$'))$n #end`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := tp.Render(&Input{Body: []byte(`[0, -7, 42, 123456789012345678, 1234567890123456789, 99999999999999999999, 1.5, -0.25, 1e3, 12345678.9]`)})
	if err != nil {
		t.Fatal(err)
	}
	// Integers as Java longs, decimals as Java's Double.toString.
	want := `0 -7 42 123456789012345678 1234567890123456789 1.0E20 1.5 -0.25 1000.0 1.23456789E7 `
	if string(out) != want {
		t.Errorf("got  %q\nwant %q", out, want)
	}
	tj, err := Parse("j", `$input.json('$')`)
	if err != nil {
		t.Fatal(err)
	}
	out, err = tj.Render(&Input{Body: []byte(`[1.0, 1e20, 0.5, 7]`)})
	if err != nil || string(out) != `[1.0,1.0E20,0.5,7]` {
		t.Errorf("$input.json: %q %v", out, err)
	}
}
