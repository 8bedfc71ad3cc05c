// Command jointly is Jointly's single binary: the node a data owner runs
// (jointly node), the researcher's client (jointly query, jointly info), the demo
// (jointly demo), the synthetic-world generator (jointly gen) and the
// operator tools (jointly ca, jointly audit, jointly budget, jointly
// validate, jointly version). Every command documents itself with --help.
package main
