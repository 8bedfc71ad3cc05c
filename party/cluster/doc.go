// Package cluster runs a federation of Jointly nodes in one process, on
// loopback: a throwaway federation CA with an identity per node and one
// for a querier, a configuration per node that names every other node as
// a peer, and the nodes themselves, started, stopped and restarted on
// request. The demo runs on it, and so do the tests and benchmarks through
// party/partytest, which wraps it for testing.TB.
//
// Configure prepares the configurations; the caller may adjust them (a
// source, a policy) before starting the nodes:
//
//	c, err := cluster.Configure(cluster.Options{Dir: dir, Names: []string{"retailer", "insurer"}, Federation: "demo", Epsilon: 10, Delta: 1e-5})
//	if err != nil {
//		return err
//	}
//	defer c.Close()
//	c.Configs[0].Source = &retailerSource
//	for i := range c.Configs {
//		if err := c.StartNode(ctx, i); err != nil {
//			return err
//		}
//	}
//	if err := c.WaitSetup(ctx); err != nil {
//		return err
//	}
//	client, err := c.Dial(0, time.Minute)
//
// Nothing here logs except through the logger in Options, and every
// failure is returned as an error.
package cluster
