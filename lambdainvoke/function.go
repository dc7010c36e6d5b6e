package lambdainvoke

import "strings"

// Function is a function identifier taken apart. Lambda accepts three forms, each optionally followed by
// ":qualifier" (a version, an alias or $LATEST):
//
//	arn:{partition}:lambda:{region}:{account}:function:{name}   full ARN
//	{account}:function:{name}                                   partial ARN
//	{name}                                                      function name
type Function struct {
	// ARN is "full", "partial" or "" for a function name (or anything not recognised, kept whole in Name).
	ARN       string
	Partition string
	Region    string
	Account   string
	Name      string
	Qualifier string
}

// ParseFunction takes a function identifier apart. It does not validate names: what it does not recognise as an
// ARN is a name, with the text after its last colon as qualifier.
func ParseFunction(s string) Function {
	parts := strings.Split(s, ":")
	switch {
	case len(parts) >= 7 && len(parts) <= 8 && parts[0] == "arn" && parts[2] == "lambda" && parts[5] == "function":
		f := Function{ARN: "full", Partition: parts[1], Region: parts[3], Account: parts[4], Name: parts[6]}
		if len(parts) == 8 {
			f.Qualifier = parts[7]
		}
		return f
	case len(parts) >= 3 && len(parts) <= 4 && isAccountID(parts[0]) && parts[1] == "function":
		f := Function{ARN: "partial", Account: parts[0], Name: parts[2]}
		if len(parts) == 4 {
			f.Qualifier = parts[3]
		}
		return f
	case len(parts) == 2:
		return Function{Name: parts[0], Qualifier: parts[1]}
	}
	return Function{Name: s}
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// invokeTarget is what NewAWS sends for a function: Invoke's FunctionName and Qualifier, and the region whose
// endpoint and signature to use ("" for the default region). A qualifier is split off full and partial ARNs (OUT-1);
// a function name is sent as given (Lambda reads "name:qualifier" itself).
func invokeTarget(function string) (name, qualifier, region string) {
	f := ParseFunction(function)
	if f.ARN == "" || f.Qualifier == "" {
		return function, "", f.Region
	}
	return strings.TrimSuffix(function, ":"+f.Qualifier), f.Qualifier, f.Region
}
