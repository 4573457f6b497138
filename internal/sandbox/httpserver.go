package sandbox

import (
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net/http/httptest"
)

// Server is a Sandbox listening on a loopback port, for tests, in the manner
// of httptest.Server.
type Server struct {
	*Sandbox

	// URL is the base URL of the server, e.g. http://127.0.0.1:40123, with
	// no trailing slash. The API is at URL + "/v1/customers".
	URL string

	srv *httptest.Server
}

// NewServer starts a plain HTTP sandbox on 127.0.0.1 and a free port. The
// caller must Close it.
func NewServer(opts Options) *Server {
	return start(opts, false)
}

// NewTLSServer starts an HTTPS sandbox (HTTP/1.1 only) on 127.0.0.1 with a
// self-signed certificate; CertificatePEM returns it for use as a CA. The
// caller must Close it.
func NewTLSServer(opts Options) *Server {
	return start(opts, true)
}

func start(opts Options, tls bool) *Server {
	sb := New(opts)
	ts := httptest.NewUnstartedServer(sb)
	// Handshake failures are expected in tests of certificate checks.
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tls {
		ts.StartTLS()
	} else {
		ts.Start()
	}
	return &Server{Sandbox: sb, URL: ts.URL, srv: ts}
}

// Certificate returns the TLS certificate of a server started with
// NewTLSServer, or nil.
func (s *Server) Certificate() *x509.Certificate { return s.srv.Certificate() }

// CertificatePEM returns the PEM encoding of Certificate, or nil.
func (s *Server) CertificatePEM() []byte {
	c := s.srv.Certificate()
	if c == nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// Close releases hanging requests, then shuts the server down and waits for
// outstanding requests to finish.
func (s *Server) Close() {
	s.Sandbox.Close()
	s.srv.CloseClientConnections()
	s.srv.Close()
}
