package mappingtemplate

import (
	"fmt"
	"testing"
)

// Maps built from request data iterate in sorted key order (doc.go "Inputs"), also past the small-map sizes.
func TestLargeParamMapsSorted(t *testing.T) {
	q := map[string]string{}
	for i := 0; i < 40; i++ {
		q[fmt.Sprintf("k%02d", 39-i)] = fmt.Sprint(i)
	}
	tp, err := Parse("t", `#foreach($k in $input.params().querystring.keySet())$k=$input.params().querystring.get($k),#end`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := tp.Render(&Input{QueryParams: q})
	if err != nil {
		t.Fatal(err)
	}
	want := ""
	for i := 0; i < 40; i++ {
		want += fmt.Sprintf("k%02d=%d,", i, 39-i)
	}
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
}
