// Package ident normalizes customer identifiers before private matching, so
// that two data owners holding the same person under different spellings
// ("Ann@Example.com " and "ann@example.com", "(415) 555-2671" and
// "+1 415 555 2671") hash to the same group element.
//
// Normalization is versioned: Version names the exact rules, and any change
// that alters the output of any input must bump it, since two nodes on
// different versions would silently match less. Nodes exchange Version in
// the matching handshake and refuse to match across versions.
//
// Errors never contain the identifier, only the kind of defect.
package ident
