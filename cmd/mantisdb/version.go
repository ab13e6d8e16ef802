package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/apache/arrow-go/v18/arrow"
)

// version is the release version, set at link time with
// -ldflags "-X main.version=v1.2.3"; builds without it report the module
// version or VCS revision from the build info.
var version = ""

// releaseVersion returns the version, with the VCS revision when known,
// e.g. "v1.2.3 (0123456789ab)" or "devel".
func releaseVersion() string {
	v, rev := version, ""
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		var dirty bool
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
				if len(rev) > 12 {
					rev = rev[:12]
				}
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" && dirty {
			rev += "-dirty"
		}
	}
	if v == "" {
		v = "devel"
	}
	if rev != "" {
		v += " (" + rev + ")"
	}
	return v
}

// versionString is what `mantisdb version` prints.
func versionString() string {
	return fmt.Sprintf("mantisdb %s %s/%s %s arrow-go %s", releaseVersion(), runtime.GOOS, runtime.GOARCH, runtime.Version(), arrow.PkgVersion)
}
