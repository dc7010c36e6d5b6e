// Package re2 computes RE2's program size, which Envoy limits for every safe_regex
// (runtime re2.max_program_size.error_level, default 100): ProgramSize is a pure-Go port of
// RE2's compiler. Built with -tags re2 (needs libre2-dev), NativeProgramSize asks the real RE2,
// and the package's tests compare the two.
package re2
