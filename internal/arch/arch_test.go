package arch

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/valise-numerique/valise"

// deps returns, for every package of the module (path relative to the
// module), the packages it imports directly or, with all, indirectly too.
func deps(t *testing.T, all bool) map[string][]string {
	t.Helper()
	field := ".Imports"
	if all {
		field = ".Deps"
	}
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range `+field+`}} {{.}}{{end}}`, module+"/...")
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	m := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 {
			m[strings.TrimPrefix(f[0], module+"/")] = f[1:]
		}
	}
	if len(m) == 0 {
		t.Fatal("go list returned no package")
	}
	return m
}

func under(pkg, dir string) bool { return pkg == dir || strings.HasPrefix(pkg, dir+"/") }

func TestDependencyRules(t *testing.T) {
	type rule struct {
		direct bool // only direct imports count
		why    string
		from   func(pkg string) bool
		banned func(dep string) bool
	}
	own := func(dir string) func(string) bool {
		return func(dep string) bool {
			return under(strings.TrimPrefix(dep, module+"/"), dir) && strings.HasPrefix(dep, module+"/")
		}
	}
	ext := func(prefixes ...string) func(string) bool {
		return func(dep string) bool {
			for _, p := range prefixes {
				if under(dep, p) {
					return true
				}
			}
			return false
		}
	}
	is := func(dirs ...string) func(string) bool {
		return func(pkg string) bool {
			for _, d := range dirs {
				if under(pkg, d) {
					return true
				}
			}
			return false
		}
	}
	not := func(f func(string) bool) func(string) bool { return func(s string) bool { return !f(s) } }
	rules := []rule{
		{false, "the agent never imports the server", is("agent"), own("server")},
		{false, "the server never imports the agent", is("server"), own("agent")},
		{false, "internal packages serve cmd, agent and server, never the reverse", is("internal"), func(d string) bool { return own("agent")(d) || own("server")(d) || own("cmd")(d) }},
		{false, "the CLI uses internal/apiclient, never the server or the agent", is("cmd/valise"), func(d string) bool { return own("server")(d) || own("agent")(d) }},
		{false, "server/fleet is the domain: no HTTP, MQTT or bbolt", is("server/fleet"), ext("net/http", "github.com/mochi-mqtt", "github.com/eclipse/paho.mqtt.golang", "go.etcd.io/bbolt")},
		{false, "internal/wire is standard library only", is("internal/wire"), func(d string) bool { return strings.Contains(strings.SplitN(d, "/", 2)[0], ".") }},
		{true, "no mochi type leaves server/broker", not(is("server/broker")), ext("github.com/mochi-mqtt")},
		{true, "bbolt is owned by server/store and agent/spool", not(is("server/store", "agent/spool")), ext("go.etcd.io/bbolt")},
	}
	direct, all := deps(t, false), deps(t, true)
	for _, r := range rules {
		graph := all
		if r.direct {
			graph = direct
		}
		for pkg, ds := range graph {
			if !r.from(pkg) {
				continue
			}
			for _, d := range ds {
				if r.banned(d) {
					t.Errorf("%s imports %s: %s", pkg, d, r.why)
				}
			}
		}
	}
}
