package party

import (
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jointly-dev/jointly/party/pki"
)

// A node's own certificate: it warns well before the certificate expires,
// and says when a renewed one (jointly ca renew) was put in tls_dir, which
// the node presents from its next handshake on without a restart
// (pki.LoadServerTLS, pki.LoadClientTLS).

// CertificateWarning is how long before its certificate expires a node
// warns, and jointly validate with it.
const CertificateWarning = 30 * 24 * time.Hour

// TimeLeft says how long until an end, as "in 20 days", "in 1 day" or
// "in 5 hours", rounded to the nearest.
func TimeLeft(d time.Duration) string {
	if days := int(math.Round(d.Hours() / 24)); days >= 1 {
		return fmt.Sprintf("in %d day%s", days, plural(days))
	}
	hours := max(int(math.Round(d.Hours())), 1)
	return fmt.Sprintf("in %d hour%s", hours, plural(hours))
}

// plural is "s" unless n is 1.
func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// certCheckEvery is how often a running node looks at its certificate
// files (a stat and a parse); the expiry warning repeats once a day.
const certCheckEvery = time.Minute

// WithCertificateCheck sets how often the node looks at its certificate
// files (tests).
func WithCertificateCheck(d time.Duration) Option { return func(o *options) { o.certCheck = d } }

// watchCertificate logs, until ctx ends, what the node's certificate
// files hold: a warning a day from CertificateWarning before the
// certificate expires, a line when a renewed certificate appears, and an
// error (once per problem) when the files no longer load, in which case
// the node goes on presenting the certificate it loaded before.
func (n *Node) watchCertificate(ctx context.Context) {
	log := n.logger.Named("tls")
	every := cmp.Or(n.opts.certCheck, certCheckEvery)
	var (
		current  *x509.Certificate
		warned   time.Time
		lastFail string
	)
	for {
		cert, err := pki.CheckCertificate(n.cfg.TLSDir, n.cfg.Name)
		switch {
		case err != nil:
			if err.Error() != lastFail {
				msg := "the certificate in tls_dir does not load; the node goes on presenting the one it loaded before"
				if errors.Is(err, pki.ErrExpired) {
					msg = "the node's certificate is not valid now: its peers and queriers refuse it until it is renewed (no restart needed)"
				}
				log.Error(msg, "error", err)
				lastFail = err.Error()
			}
		default:
			lastFail = ""
			if current != nil && !cert.Equal(current) {
				log.Info("renewed certificate found in tls_dir: presented from the next connection on", "valid_until", cert.NotAfter.UTC().Format(time.DateTime))
				warned = time.Time{}
			}
			current = cert
			if left := time.Until(cert.NotAfter); left < CertificateWarning && time.Since(warned) >= 24*time.Hour {
				log.Warn("the node's certificate expires soon: renew it with jointly ca renew --ca CA_DIR --cert "+pki.CertificatePath(n.cfg.TLSDir, n.cfg.Name)+" (no restart needed)",
					"expires", cert.NotAfter.UTC().Format(time.DateTime), "left", TimeLeft(left))
				warned = time.Now()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}
