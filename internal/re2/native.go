//go:build re2

package re2

/*
#cgo CXXFLAGS: -std=c++17
#cgo LDFLAGS: -lre2
#include <stdlib.h>
int proxyplus_re2_program_size(const char* pattern, int len, char* err, int errlen);
*/
import "C"

import (
	"errors"
	"unsafe"
)

// NativeProgramSize is RE2::ProgramSize from the system's libre2, compiled with the options Envoy uses
// (re2::RE2::Quiet). It exists only under the build tag re2, to check ProgramSize against the real thing.
func NativeProgramSize(pattern string) (int, error) {
	cs := C.CString(pattern)
	defer C.free(unsafe.Pointer(cs))
	var buf [256]C.char
	n := C.proxyplus_re2_program_size(cs, C.int(len(pattern)), &buf[0], C.int(len(buf)))
	if n < 0 {
		return 0, errors.New(C.GoString(&buf[0]))
	}
	return int(n), nil
}
