package oauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// clientAssertionType is RFC 7523 §2.2's client_assertion_type.
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionLifetime bounds a client assertion: it is used once, at once.
const assertionLifetime = 5 * time.Minute

// signingKey is a parsed private key and the JWS algorithm it signs with.
type signingKey struct {
	key    crypto.Signer
	method jwt.SigningMethod
}

// ParsePrivateKey checks that pemKey is a private key tether can sign
// client assertions with: one PEM block, PKCS #8, PKCS #1 (RSA) or SEC 1
// (EC), holding an RSA key of at least 2048 bits (RS256), an ECDSA key on
// P-256, P-384 or P-521 (ES256, ES384, ES512) or an Ed25519 key (EdDSA). It
// returns the JWS algorithm. Errors wrap [ErrInvalidKey] and never quote
// the key.
func ParsePrivateKey(pemKey string) (alg string, err error) {
	sk, err := parseSigningKey(pemKey)
	if err != nil {
		return "", err
	}
	return sk.method.Alg(), nil
}

func parseSigningKey(pemKey string) (*signingKey, error) {
	block, _ := pem.Decode([]byte(pemKey))
	if block == nil {
		return nil, fmt.Errorf("%w: not PEM", ErrInvalidKey)
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%w: a PEM block of type %q is not a private key", ErrInvalidKey, clean(block.Type, 40))
	}
	if err != nil {
		// Not the parser's message: it says nothing a user can act on, and
		// nothing from the key is worth echoing.
		return nil, fmt.Errorf("%w: the %s block does not parse", ErrInvalidKey, block.Type)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("%w: an RSA key needs at least 2048 bits", ErrInvalidKey)
		}
		return &signingKey{key: k, method: jwt.SigningMethodRS256}, nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return &signingKey{key: k, method: jwt.SigningMethodES256}, nil
		case elliptic.P384():
			return &signingKey{key: k, method: jwt.SigningMethodES384}, nil
		case elliptic.P521():
			return &signingKey{key: k, method: jwt.SigningMethodES512}, nil
		}
		return nil, fmt.Errorf("%w: unsupported elliptic curve", ErrInvalidKey)
	case ed25519.PrivateKey:
		return &signingKey{key: k, method: jwt.SigningMethodEdDSA}, nil
	}
	return nil, fmt.Errorf("%w: unsupported key type %T", ErrInvalidKey, key)
}

// clientAssertion signs the RFC 7523 §3 JWT that authenticates cr at the
// token endpoint: iss and sub the client_id, aud the authorization server's
// issuer identifier (draft-ietf-oauth-rfc7523bis; the token endpoint when
// the issuer is unknown, as RFC 7523 allows), a one-time jti, iat and a
// short exp.
func (c *Client) clientAssertion(d *Discovery, cr *Credentials) (string, error) {
	sk, err := parseSigningKey(cr.PrivateKey)
	if err != nil {
		return "", err
	}
	aud := d.Issuer
	if aud == "" {
		aud = d.TokenEndpoint
	}
	jti, err := newState()
	if err != nil {
		return "", err
	}
	now := c.now()
	claims := jwt.RegisteredClaims{
		Issuer:    cr.ClientID,
		Subject:   cr.ClientID,
		Audience:  jwt.ClaimStrings{aud},
		ID:        jti,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(assertionLifetime)),
	}
	s, err := jwt.NewWithClaims(sk.method, claims).SignedString(sk.key)
	if err != nil {
		return "", fmt.Errorf("sign the client assertion: %w", err)
	}
	return s, nil
}
