package mappingtemplate_test

import (
	"fmt"

	"github.com/proxyplus/proxyplus/mappingtemplate"
)

func ExampleParse() {
	// The request template of DG how-to-mock-integration-console.md.
	t, err := mappingtemplate.Parse("GET / request application/json", `{
  #if( $input.params('scope') == "internal" )
    "statusCode": 200
  #else
    "statusCode": 500
  #end
}`)
	if err != nil {
		panic(err)
	}
	out, err := t.Render(&mappingtemplate.Input{QueryParams: map[string]string{"scope": "internal"}})
	fmt.Printf("%s %v\n", out, err)
	// Output:
	// {
	//       "statusCode": 200
	//   } <nil>
}

func ExampleParseSubstitution() {
	// A gateway-response template: substitution only.
	t, _ := mappingtemplate.ParseSubstitution("MISSING_AUTHENTICATION_TOKEN", `{"message":$context.error.messageString,"stage":"$context.stage"}`)
	out, _ := t.Render(&mappingtemplate.Input{Context: map[string]string{
		"error.message": "Missing Authentication Token", "stage": "prod"}})
	fmt.Println(string(out))
	// Output: {"message":"Missing Authentication Token","stage":"prod"}
}

func ExampleCheck() {
	for _, issue := range mappingtemplate.Check("t", "#set($x = $util.toJson($input.body))\n#include('other.vm')") {
		fmt.Println(issue)
	}
	// Output:
	// 1:17: $util.toJson: unknown $util method
	// 2:1: #include: API Gateway templates cannot load other templates
}
