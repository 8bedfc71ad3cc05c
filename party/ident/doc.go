// Package ident normalizes customer identifiers before private matching, so
// that two data owners holding the same person under different spellings
// ("Ann@Example.com " and "ann@example.com", "(415) 555-2671" and
// "+1 415 555 2671", "ab-123 456" and "AB123456") hash to the same group
// element. There are three kinds: e-mail addresses, phone numbers, and
// organization-issued identifiers both owners hold (a loyalty-card or
// policy number, an agreed hash of a national id).
//
// Normalization is versioned: any change that alters the output of any
// input of a kind must raise Version and set that kind's KindVersion to
// it, since two nodes on different rules would silently match less. Nodes
// exchange SessionVersion of the kinds they match on in the matching
// handshake, bind it into the session's hash domain, and refuse to match
// across versions; a change to one kind leaves sessions on the others
// alone.
//
// Errors never contain the identifier, only the kind of defect.
package ident
