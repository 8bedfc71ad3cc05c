// Package party is a Jointly node: the gRPC server a data owner runs next to
// its data, its configuration, the federation setup that produces the
// collective key, and the client a querier uses to talk to a node.
//
// A node is created with New(cfg, logger) and run with Run(ctx); it serves
// the jointly.v1 API, the standard gRPC health service and server
// reflection. When all configured peers are reachable and no keys exist yet,
// the node runs the multiparty key generation on its own; a restarted node
// loads its keys from its data directory instead.
package party
