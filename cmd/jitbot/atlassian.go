package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jitbot/jitbot/provisioner"
	"github.com/jitbot/jitbot/provisioner/atlassian"
	"github.com/jitbot/jitbot/provisioner/atlassianadmin"
	"github.com/jitbot/jitbot/provisioner/jira"
	"go.uber.org/zap"
)

// The Atlassian providers, configured from the environment:
//
//	ATLASSIAN_SITE_URL       jira: the site, https://example.atlassian.net (required)
//	ATLASSIAN_EMAIL          jira: the email of the site admin jitbot acts as (required)
//	ATLASSIAN_API_TOKEN      jira: that user's API token (required)
//	ATLASSIAN_API_URL        atlassian-admin: default https://api.atlassian.com
//	ATLASSIAN_ORG_ID         atlassian-admin: the organisation id (required)
//	ATLASSIAN_ADMIN_API_KEY  atlassian-admin: an organisation API key (required)
//	ATLASSIAN_DIRECTORY_ID   atlassian-admin: default "-" (every directory the key manages)
//	ATLASSIAN_RATE           the most requests a second per API (optional: the pace is learnt from the API's answers)
//	ATLASSIAN_TIMEOUT        timeout of each HTTP attempt, default 30s

// accountCache is the store's account id cache (nil for the CLI's check).
type accountCache interface {
	GetAccount(ctx context.Context, provider, email string) (string, bool, error)
	PutAccount(ctx context.Context, provider, email, accountID string) error
}

// envSettings reads a provider's settings from the environment and
// gathers every problem, so that one error names every variable to fix.
type envSettings struct {
	getenv   func(string) string
	problems []string
}

func (s *envSettings) env(key string) string { return strings.TrimSpace(s.getenv(key)) }

// require reads key, a problem when it is not set; what says what it is.
func (s *envSettings) require(key, what string) string {
	v := s.env(key)
	if v == "" {
		s.add(fmt.Sprintf("%s is not set (%s)", key, what))
	}
	return v
}

// add records a problem ("" is none).
func (s *envSettings) add(msg string) {
	if msg != "" {
		s.problems = append(s.problems, msg)
	}
}

// err is the provider's error: its problems, else building's err.
func (s *envSettings) err(name string, err error) error {
	if len(s.problems) > 0 {
		return fmt.Errorf("provider %s: %s", name, strings.Join(s.problems, "; "))
	}
	if err != nil {
		return fmt.Errorf("provider %s: %w", name, err)
	}
	return nil
}

// atlassianProvider builds the jira or atlassian-admin provider from the
// environment. A missing or bad setting is one error naming the variables.
func atlassianProvider(getenv func(string) string, name string, cache accountCache, log *zap.Logger) (liveProvider, error) {
	set := &envSettings{getenv: getenv}
	env, require := set.env, set.require
	transport := atlassian.Options{Timeout: atlassian.DefaultTimeout}
	if v := env("ATLASSIAN_RATE"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r <= 0 {
			set.add(fmt.Sprintf("ATLASSIAN_RATE=%q is not a positive number of requests per second", v))
		}
		transport.Rate = r
	}
	if d, err := parseDurationSetting("ATLASSIAN_TIMEOUT", env("ATLASSIAN_TIMEOUT"), transport.Timeout, false); err != nil {
		set.add(err.Error())
	} else {
		transport.Timeout = d
	}
	var (
		p   liveProvider
		err error
	)
	switch name {
	case provisioner.NameJira:
		site := require("ATLASSIAN_SITE_URL", "the Jira Cloud site, such as https://example.atlassian.net")
		email := require("ATLASSIAN_EMAIL", "the email of the site admin jitbot acts as")
		token := require("ATLASSIAN_API_TOKEN", "that user's API token")
		if site != "" {
			set.add(checkURL("ATLASSIAN_SITE_URL", site))
		}
		if len(set.problems) > 0 {
			break
		}
		var j *jira.Provider
		cfg := jira.Config{SiteURL: site, Email: email, Token: atlassian.Secret(token), Log: log, Transport: transport}
		if cache != nil {
			cfg.Cache = cache
		}
		j, err = jira.New(cfg)
		p = j
	case provisioner.NameAtlassianAdmin:
		api := env("ATLASSIAN_API_URL")
		if api == "" {
			api = atlassianadmin.DefaultAPIURL
		}
		set.add(checkURL("ATLASSIAN_API_URL", api))
		org := require("ATLASSIAN_ORG_ID", "the organisation id from admin.atlassian.com")
		key := require("ATLASSIAN_ADMIN_API_KEY", "an organisation API key")
		if len(set.problems) > 0 {
			break
		}
		var a *atlassianadmin.Provider
		cfg := atlassianadmin.Config{APIURL: api, OrgID: org, DirectoryID: env("ATLASSIAN_DIRECTORY_ID"), APIKey: atlassian.Secret(key),
			Log: log, Transport: transport}
		if cache != nil {
			cfg.Cache = cache
		}
		a, err = atlassianadmin.New(cfg)
		p = a
	default:
		return nil, fmt.Errorf("provider %s is not an Atlassian provider", name)
	}
	if err := set.err(name, err); err != nil {
		return nil, err
	}
	return p, nil
}

// checkURL insists on https, so a token never crosses the network in the
// clear; plain http is allowed to a loopback address (a local test site).
// The rule is the transport's own, which enforces it again.
func checkURL(key, v string) string {
	if err := atlassian.CheckBaseURL(key, v); err != nil {
		return err.Error()
	}
	return ""
}
