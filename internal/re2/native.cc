//go:build re2

// A C ABI around RE2::ProgramSize so cgo can call it. Envoy constructs its matcher as
// re2::RE2(regex, re2::RE2::Quiet) (source/common/common/regex.cc,
// CompiledGoogleReMatcher::CompiledGoogleReMatcher, main 1.37.0-dev, 321a098d81): default
// options (UTF-8, Perl-like syntax, 8 MiB max_mem) with error logging off; so do we.
#include <re2/re2.h>

#include <string>

extern "C" int proxyplus_re2_program_size(const char* pattern, int len, char* err, int errlen) {
  re2::RE2 re(re2::StringPiece(pattern, len), re2::RE2::Quiet);
  if (!re.ok()) {
    std::string e = re.error();
    int n = static_cast<int>(e.size()) < errlen - 1 ? static_cast<int>(e.size()) : errlen - 1;
    e.copy(err, n);
    err[n] = 0;
    return -1;
  }
  return re.ProgramSize();
}
