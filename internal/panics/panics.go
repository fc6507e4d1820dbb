// Package panics says what a log may say of a recovered panic.
package panics

import (
	"fmt"
	"runtime"
)

// Text describes a recovered panic r without the value it carried: a
// runtime error's own fixed text ("index out of range [3] with length
// 3"), and of anything else only its type. Code that reads what a
// tenant's server sent may panic with a value holding it, and a log must
// not repeat it.
func Text(r any) string {
	if re, ok := r.(runtime.Error); ok {
		return re.Error()
	}
	return fmt.Sprintf("%T", r)
}
