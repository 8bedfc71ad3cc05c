// Package party is a Jointly node: the gRPC server a data owner runs next to
// its data, its configuration, the federation setup that produces the
// collective key, and the client a querier uses to talk to a node.
//
// A node is created with New(cfg, logger) and run with Run(ctx); it serves
// the jointly.v1 API, the standard gRPC health service (reporting SERVING
// only once the keys are ready and while every peer answers) and server
// reflection. When all configured peers are reachable and no keys exist yet,
// the node runs the multiparty key generation on its own, waiting for late
// peers and retrying failed attempts; a restarted node loads its keys from
// its data directory instead. Run returns an error when setup cannot
// finish; when ctx ends, the node drains (refuses new queries, lets the
// running ones finish within timeouts.shutdown) and stops.
package party
