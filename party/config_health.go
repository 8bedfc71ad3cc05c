package party

import (
	"fmt"
	"net"

	"github.com/hashicorp/hcl/v2"
)

// The health block of a node's configuration (config.go): a listener for
// probes and how often the node checks its peers (health.go).

// HealthConfig is the health block: a listener for probes and how often
// the node checks its peers.
type HealthConfig struct {
	// Listen is the health-only listener's address ("host:port"; a
	// host-less ":port" listens on 127.0.0.1). Off unless set.
	Listen string `hcl:"listen,optional"`
	// PeerCheck is how often the peers are greeted, such as "10s".
	PeerCheck string `hcl:"peer_check,optional"`

	// Body is the block as parsed, kept for error positions.
	Body hcl.Body `hcl:",body"`
}

// validateHealth fills PeerCheck and HealthListen from the health block
// and checks the listener's address.
func (c *Config) validateHealth() error {
	if h := c.Health; h != nil {
		if err := c.parseDuration(h.Body, "peer_check", h.PeerCheck, "10s", &c.PeerCheck); err != nil {
			return err
		}
		if h.Listen != "" {
			c.HealthListen = h.Listen
		}
	}
	if c.HealthListen != "" {
		addr, err := healthAddress(c.HealthListen)
		if err != nil {
			return c.errorf(c.healthBody(), "listen", "health.listen: %v", err)
		}
		if addr == c.Listen {
			return c.errorf(c.healthBody(), "listen", "health.listen must differ from listen (%s): the health listener is a listener of its own", c.Listen)
		}
		c.HealthListen = addr
	}
	return nil
}

// healthBody is the health block's body, for error positions.
func (c *Config) healthBody() hcl.Body {
	if c.Health != nil {
		return c.Health.Body
	}
	return c.body
}

// healthAddress checks a health listener address; one without a host
// listens on loopback, so that a probe on the same host reaches it and
// nothing else does unless the operator names an interface.
func healthAddress(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%q is not host:port or :port", addr)
	}
	if err := checkPort(addr, port, true); err != nil {
		return "", err
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}
