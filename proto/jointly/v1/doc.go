// Package jointlyv1 is the Go code generated from jointly.proto: the
// Federation service nodes serve each other and the Query service they
// serve queriers. Only packages party and cmd import it; party/convert.go
// turns its messages into validated domain values. Regenerate with
// `make proto`.
package jointlyv1
