package lambdainvoke

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseFunction(t *testing.T) {
	tests := []struct {
		in   string
		want Function
	}{
		{"my-fn", Function{Name: "my-fn"}},
		{"my-fn:live", Function{Name: "my-fn", Qualifier: "live"}},
		{"my-fn:$LATEST", Function{Name: "my-fn", Qualifier: "$LATEST"}},
		{"arn:aws:lambda:eu-west-1:123456789012:function:my-fn",
			Function{ARN: "full", Partition: "aws", Region: "eu-west-1", Account: "123456789012", Name: "my-fn"}},
		{"arn:aws:lambda:eu-west-1:123456789012:function:my-fn:7",
			Function{ARN: "full", Partition: "aws", Region: "eu-west-1", Account: "123456789012", Name: "my-fn", Qualifier: "7"}},
		{"arn:aws-cn:lambda:cn-north-1:123456789012:function:f:prod",
			Function{ARN: "full", Partition: "aws-cn", Region: "cn-north-1", Account: "123456789012", Name: "f", Qualifier: "prod"}},
		{"123456789012:function:my-fn", Function{ARN: "partial", Account: "123456789012", Name: "my-fn"}},
		{"123456789012:function:my-fn:live", Function{ARN: "partial", Account: "123456789012", Name: "my-fn", Qualifier: "live"}},
		// Not recognised: kept whole as a name (Lambda will judge it).
		{"arn:aws:s3:::bucket", Function{Name: "arn:aws:s3:::bucket"}},
		{"arn:aws:lambda:eu-west-1:123456789012:function:a:b:c", Function{Name: "arn:aws:lambda:eu-west-1:123456789012:function:a:b:c"}},
		{"12345:function:f", Function{Name: "12345:function:f"}},
		{"", Function{}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, ParseFunction(tt.in)); diff != "" {
			t.Errorf("ParseFunction(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestInvokeTarget(t *testing.T) {
	tests := []struct{ in, name, qualifier, region string }{
		{"my-fn", "my-fn", "", ""},
		{"my-fn:live", "my-fn:live", "", ""},
		{"arn:aws:lambda:eu-west-1:123456789012:function:my-fn", "arn:aws:lambda:eu-west-1:123456789012:function:my-fn", "", "eu-west-1"},
		{"arn:aws:lambda:eu-west-1:123456789012:function:my-fn:live", "arn:aws:lambda:eu-west-1:123456789012:function:my-fn", "live", "eu-west-1"},
		{"arn:aws:lambda:eu-west-1:123456789012:function:my-fn:", "arn:aws:lambda:eu-west-1:123456789012:function:my-fn:", "", "eu-west-1"},
		{"123456789012:function:my-fn:3", "123456789012:function:my-fn", "3", ""},
	}
	for _, tt := range tests {
		name, qualifier, region := invokeTarget(tt.in)
		if name != tt.name || qualifier != tt.qualifier || region != tt.region {
			t.Errorf("invokeTarget(%q) = %q, %q, %q, want %q, %q, %q", tt.in, name, qualifier, region, tt.name, tt.qualifier, tt.region)
		}
	}
}
