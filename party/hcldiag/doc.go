// Package hcldiag formats HCL diagnostics as one line for error messages:
// each diagnostic as file:line: summary: detail, joined by "; ". Node
// configuration files and query files report their syntax and schema
// errors through it, so that both read the same.
//
//	f, diags := hclparse.NewParser().ParseHCL(src, path)
//	if diags.HasErrors() {
//		return fmt.Errorf("%w: %s", ErrConfig, hcldiag.Format(diags))
//	}
package hcldiag
