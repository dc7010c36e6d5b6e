// Package loader reads REST API definitions — proxyplus's own format (the RestApi proto as JSON or YAML),
// OpenAPI 3.0 and Swagger 2.0 with API Gateway extensions — into the RestApi model, normalises the model and checks
// it against the rules of the API Gateway behaviour spec (shared/spec/apigateway-rest.md §1, §7, §8, §9).
//
// Every finding is a diag.Diagnostic naming the file, the JSON path inside the input, the field and the spec rule.
// Anything the input declares that proxyplus does not serve is reported as a warning, never dropped silently.
package loader

import (
	"fmt"
	"io"
	"os"

	"github.com/proxyplus/proxyplus/diag"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

// Base path modes (OAS-6).
const (
	BasePathIgnore  = "ignore"
	BasePathPrepend = "prepend"
	BasePathSplit   = "split"
)

// maxDocumentSize is API Gateway's import limit for a definition (LIM-10).
const maxDocumentSize = 6 << 20

// Options tune how OpenAPI documents are imported.
type Options struct {
	// BasePathMode is "ignore" (default), "prepend" or "split" (OAS-6).
	BasePathMode string
}

// Result is what Load made of an input.
type Result struct {
	// API is the normalised model; nil when the input could not be read at all.
	API *apigatewayv1.RestApi
	// Diagnostics holds every warning, and the errors when Load returned an error.
	Diagnostics diag.List
	// Format is FormatProxyplus, FormatOpenAPI3 or FormatSwagger2 ("" when undetectable).
	Format string
}

// LoadFile reads the file at path and loads it; diagnostics carry File=path.
func LoadFile(path string, opts Options) (*Result, error) {
	data, err := readLimited(path)
	if err != nil {
		r := newReporter(path)
		r.errorf("", "", "read", "cannot read the definition: %v", err)
		return &Result{Diagnostics: r.list}, r.list.Err()
	}
	return Load(path, data, opts)
}

// readLimited reads at most one byte more than LIM-10 allows, so an oversized file is reported by Load without
// being read into memory whole.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxDocumentSize+1))
}

// Load detects the format of data, parses it, normalises the model and validates it. name is used as the File of
// every diagnostic. The error is a *diag.ListError, non-nil exactly when some diagnostic is an error; the Result is
// returned in every case, with the model when the input could be read.
func Load(name string, data []byte, opts Options) (*Result, error) {
	r := newReporter(name)
	res := &Result{}
	api, src := load(r, res, data, opts)
	if api != nil {
		normalise(api)
		validate(r, api, src)
		res.API = api
	}
	res.Diagnostics = r.list
	return res, r.list.Err()
}

// load is the format-specific part of Load: it returns the raw model and where each part of it came from.
func load(r *reporter, res *Result, data []byte, opts Options) (*apigatewayv1.RestApi, *sourceMap) {
	switch opts.BasePathMode {
	case "", BasePathIgnore, BasePathPrepend, BasePathSplit:
	default:
		r.errorf("", "", "OAS-6", "unknown base path mode %q: use %q, %q or %q", opts.BasePathMode,
			BasePathIgnore, BasePathPrepend, BasePathSplit)
		return nil, nil
	}
	if len(data) > maxDocumentSize {
		r.errorf("$", "", "LIM-10", "the definition is larger than 6 MB (%d bytes), the most API Gateway imports; "+
			"it was not read", maxDocumentSize)
		return nil, nil
	}
	doc := decode(r, data)
	if doc == nil {
		return nil, nil
	}
	format, version := detectFormat(doc.tree)
	res.Format = format
	switch format {
	case FormatProxyplus:
		return loadProxyplus(r, doc)
	default:
		return loadOpenAPI(r, doc, format, version, opts)
	}
}

// Validate checks an already normalised model against the resource, integration and limit rules. Locations are
// JSON paths into the model as written in proxyplus's format ($.resources[3].resourceMethods.GET...).
func Validate(name string, api *apigatewayv1.RestApi) diag.List {
	r := newReporter(name)
	validate(r, api, nil)
	return r.list
}

// methodName names a method the way API Gateway's console does, for messages: "GET /pets/{id}".
func methodName(key, path string) string {
	return fmt.Sprintf("%s %s", key, path)
}
