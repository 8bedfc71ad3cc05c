// Package queryfile reads the query files researchers write (see
// docs/results.md): HCL, or the same query in HCL's JSON syntax for a file
// whose name ends in .json. Parse decodes a file and checks it against the
// node the query is sent to, as its Info describes it, and returns the
// party.JointRequest to submit; its errors name the file, and the line
// where the syntax or the schema is wrong.
//
//	info, err := client.Info(ctx)
//	...
//	req, err := queryfile.Parse(path, src, queryfile.Target{Node: info.Node, Owners: info.Owners, Columns: info.Columns})
//
// Check checks a file on its own, before the node it goes to is known
// (everything but the node's columns), so that a mistake is found without
// a connection. Validate checks a request against the same rules, whoever
// built it.
package queryfile
