package main

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// configTable returns the environment names of README.md's configuration
// table.
func configTable(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	must(t, err)
	_, rest, ok := strings.Cut(string(data), "## Configuration")
	if !ok {
		t.Fatal("README.md has no Configuration section")
	}
	section, _, _ := strings.Cut(rest, "\n## ")
	var names []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Z0-9_]+)` \\|").FindAllStringSubmatch(section, -1) {
		names = append(names, m[1])
	}
	if len(names) < 10 {
		t.Fatalf("configuration table: got %d names, want the whole table", len(names))
	}
	return names
}

func checkEnvNames(t *testing.T, where string, names []string) {
	t.Helper()
	table := configTable(t)
	for _, n := range names {
		if !slices.Contains(table, n) {
			t.Errorf("%s sets %s, which README.md's configuration table does not list", where, n)
		}
	}
}

// envFileNames reads KEY= lines of an env file.
func envFileNames(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("%s: %q is not KEY=VALUE", path, line)
			continue
		}
		names = append(names, k)
	}
	must(t, sc.Err())
	return names
}

// Issue 14: the compose file parses, the paths it names exist, it starts on
// the example policy in dry run, and its environment names are the
// configuration table's.
func TestDeploy_ComposeFile(t *testing.T) {
	const dir = "../../deploy"
	data, err := os.ReadFile(filepath.Join(dir, "docker-compose.yaml"))
	must(t, err)
	var c struct {
		Services map[string]struct {
			Build struct {
				Context    string `yaml:"context"`
				Dockerfile string `yaml:"dockerfile"`
			} `yaml:"build"`
			Command     []string          `yaml:"command"`
			EnvFile     []string          `yaml:"env_file"`
			Environment map[string]string `yaml:"environment"`
			Volumes     []string          `yaml:"volumes"`
			Restart     string            `yaml:"restart"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("docker-compose.yaml: %v", err)
	}
	s, ok := c.Services["jitbot"]
	if !ok {
		t.Fatal("no jitbot service")
	}
	if _, err := os.Stat(filepath.Join(dir, s.Build.Context, s.Build.Dockerfile)); err != nil {
		t.Errorf("build: %v", err)
	}
	if strings.Join(s.Command, " ") != "run" {
		t.Errorf("command: got %v, want run", s.Command)
	}
	if s.Restart == "" || s.Restart == "no" {
		t.Errorf("restart: got %q, want a restart policy", s.Restart)
	}
	var envNames []string
	for _, f := range s.EnvFile {
		path := filepath.Join(dir, f)
		if _, err := os.Stat(path); err != nil {
			t.Errorf("env_file: %v", err)
			continue
		}
		names := envFileNames(t, path)
		if !slices.Contains(names, "JITBOT_DRY_RUN") || !slices.Contains(names, "SLACK_BOT_TOKEN") {
			t.Errorf("%s: got %v, want JITBOT_DRY_RUN and the Slack tokens", f, names)
		}
		envNames = append(envNames, names...)
	}
	for k := range s.Environment {
		envNames = append(envNames, k)
	}
	checkEnvNames(t, "docker-compose.yaml", envNames)
	mounts := map[string]string{}
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 {
			t.Errorf("volume %q: want SOURCE:TARGET", v)
			continue
		}
		mounts[parts[1]] = parts[0]
		if strings.HasPrefix(parts[0], ".") {
			if _, err := os.Stat(filepath.Join(dir, parts[0])); err != nil {
				t.Errorf("volume %q: %v", v, err)
			}
		} else if _, ok := c.Volumes[parts[0]]; !ok {
			t.Errorf("volume %q: the named volume is not declared", v)
		}
	}
	policy := s.Environment["JITBOT_POLICY"]
	src, ok := mounts[filepath.Dir(policy)]
	if !ok {
		t.Fatalf("JITBOT_POLICY %s is not inside a mounted folder (%v)", policy, mounts)
	}
	// It starts as written: the policy it mounts is valid.
	if code, out, errOut := runCLI(t, nil, "policy", "check", filepath.Join(dir, src, filepath.Base(policy))); code != exitOK {
		t.Errorf("the compose file's policy: exit %d %s%s", code, out, errOut)
	}
	if _, ok := mounts[filepath.Dir(s.Environment["JITBOT_DB"])]; !ok {
		t.Errorf("JITBOT_DB %s is not on a volume", s.Environment["JITBOT_DB"])
	}
}

// Issue 14: the systemd unit names only known settings, reads an env file
// that deploy/ ships, reloads with SIGHUP and restarts on failure.
func TestDeploy_SystemdUnit(t *testing.T) {
	data, err := os.ReadFile("../../deploy/jitbot.service")
	must(t, err)
	sections := map[string]map[string][]string{}
	cur := ""
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			cur = strings.Trim(line, "[]")
			sections[cur] = map[string][]string{}
		case cur == "":
			t.Fatalf("line %d: %q before any section", i+1, line)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("line %d: %q is not Key=Value", i+1, line)
			}
			sections[cur][k] = append(sections[cur][k], v)
		}
	}
	for _, s := range []string{"Unit", "Service", "Install"} {
		if sections[s] == nil {
			t.Errorf("no [%s] section", s)
		}
	}
	svc := sections["Service"]
	one := func(k string) string {
		if len(svc[k]) != 1 {
			t.Errorf("%s: got %v, want one value", k, svc[k])
			return ""
		}
		return svc[k][0]
	}
	if got := one("ExecStart"); !strings.HasSuffix(got, "/jitbot run") {
		t.Errorf("ExecStart: got %q, want .../jitbot run", got)
	}
	if got := one("ExecReload"); !strings.Contains(got, "-HUP $MAINPID") {
		t.Errorf("ExecReload: got %q, want a SIGHUP", got)
	}
	if got := one("Restart"); got != "on-failure" && got != "always" {
		t.Errorf("Restart: got %q", got)
	}
	envFile := one("EnvironmentFile")
	if _, err := os.Stat(filepath.Join("../../deploy", filepath.Base(envFile))); err != nil {
		t.Errorf("EnvironmentFile %s: deploy/ ships no %s", envFile, filepath.Base(envFile))
	}
	var names []string
	for _, e := range svc["Environment"] {
		k, _, _ := strings.Cut(e, "=")
		names = append(names, k)
	}
	checkEnvNames(t, "jitbot.service", append(names, envFileNames(t, "../../deploy/jitbot.env")...))
	db := ""
	for _, e := range svc["Environment"] {
		if v, ok := strings.CutPrefix(e, "JITBOT_DB="); ok {
			db = v
		}
	}
	if state := one("StateDirectory"); db == "" || filepath.Dir(db) != "/var/lib/"+state {
		t.Errorf("JITBOT_DB %q is not in the StateDirectory /var/lib/%s", db, state)
	}
}

// The README's docker run line starts with the example policy, in dry run.
func TestDeploy_READMEDockerRun(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	must(t, err)
	var line string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "docker run") {
			line = l
		}
	}
	for _, want := range []string{"examples:/etc/jitbot:ro", "JITBOT_DRY_RUN=on", "SLACK_APP_TOKEN", "SLACK_BOT_TOKEN", "jitbot-data:/var/lib/jitbot"} {
		if !strings.Contains(line, want) {
			t.Errorf("README docker run line %q lacks %q", line, want)
		}
	}
	ignore, err := os.ReadFile("../../.dockerignore")
	must(t, err)
	for _, want := range []string{".git", "*.db", "deploy/jitbot.env"} {
		if !slices.Contains(strings.Fields(string(ignore)), want) {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
}
