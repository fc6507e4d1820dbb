package netguard_test

import (
	"errors"
	"fmt"

	"github.com/tether-dev/tether/netguard"
)

func ExampleGuard_CheckURL() {
	g := netguard.New(netguard.Options{})

	_, err := g.CheckURL("http://169.254.169.254/latest/meta-data/", netguard.HTTPSchemes)
	fmt.Println(errors.Is(err, netguard.ErrRefused))
	fmt.Println(err)

	u, err := g.CheckURL("https://Bücher.example/mcp", netguard.HTTPSchemes)
	fmt.Println(u, err)
	// Output:
	// true
	// netguard: refused by network policy: host 169.254.169.254 is a link-local address (cloud metadata lives here)
	// https://xn--bcher-kva.example/mcp <nil>
}

func ExampleParseCIDRs() {
	allow, err := netguard.ParseCIDRs("127.0.0.0/8, ::1")
	if err != nil {
		panic(err)
	}
	g := netguard.New(netguard.Options{AllowCIDRs: allow})

	_, err = g.CheckURL("http://127.0.0.1:8080/mcp", netguard.HTTPSchemes)
	fmt.Println(err)
	_, err = g.CheckURL("http://127.0.0.1:22/", netguard.HTTPSchemes)
	fmt.Println(err)
	// Output:
	// <nil>
	// netguard: refused by network policy: port 22 is not allowed: only 80, 443 and 1024-65535 are allowed
}
